"""The tag names that tie runs together, and the invocation id they carry.

Why a module of its own: job runs (:mod:`.runs`) and invocation runs (:mod:`.parents`) are
tagged with the same names, and search (:mod:`.query`) filters on them. Kept free of MLflow
and of the other tracking modules, so every one of them can import it and none imports
another one just for a name.
"""

from __future__ import annotations

import os
import time
import uuid

from jetdistill.tracking.config import ENV_INVOCATION

TAG_INVOCATION = "jetdistill.invocation"
TAG_KIND = "jetdistill.kind"  # "invocation" (parent) or "job"
TAG_PARENT = "mlflow.parentRunId"
TAG_PROJECT = "jetdistill.project"  # parent runs: the project root, host and pid of snakemake
TAG_HOST = "jetdistill.host"
TAG_PID = "jetdistill.pid"
TAG_ERROR = "jetdistill.error"


def quote(s: str) -> str:
    """``s`` as the inside of a single-quoted MLflow filter string."""
    return s.replace("\\", "\\\\").replace("'", "\\'")


def invocation_id() -> str:
    """The id shared by every job of one ``snakemake`` invocation.

    The Snakefile sets ``JETDISTILL_INVOCATION_ID`` once; outside Snakemake a new
    id is generated and exported so later calls in this process agree.
    """
    val = os.environ.get(ENV_INVOCATION, "").strip()
    if not val:
        val = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
        os.environ[ENV_INVOCATION] = val
    return val
