"""Where runs go: ``config["tracking"]`` as a typed, validated, path-resolved value.

Free of MLflow on purpose: the Snakefile's ``onstart`` hook builds a :class:`TrackingConfig`
and probes the store (:mod:`.probe`) before MLflow (seconds to import on a busy node) is
loaded, and a job that only reads its settings never pays for the import.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jetdistill.errors import InputError
from jetdistill.tracking import uris

#: set once per ``snakemake`` invocation (rules/common.smk) and inherited by its jobs
ENV_INVOCATION = "JETDISTILL_INVOCATION_ID"
#: the invocation's parent run and experiment, exported by the ``onstart`` hook that set the
#: store up (:func:`jetdistill.jobs.invocation.start_invocation`)
ENV_PARENT_RUN = "JETDISTILL_PARENT_RUN_ID"
ENV_EXPERIMENT = "JETDISTILL_EXPERIMENT_ID"

#: what ``tracking.experiment`` may be: it names the folder ``<artifact_location>/<experiment>``
#: of a SQLite store's artifacts, so ``..``, a path (``/``, a backslash), a hidden name, NUL or a
#: newline would put them elsewhere (``..``: the project root) or break the folder name
EXPERIMENT_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,199}"


def check_settings(tracking: Mapping[str, Any] | None) -> None:
    """Parse-time checks of ``config["tracking"]`` the schema cannot express; InputError if bad.

    ``uri`` must hold no secret (:func:`jetdistill.tracking.uris.check_uri`: the message
    names ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN`` and masks the secret);
    ``experiment`` must match :data:`EXPERIMENT_PATTERN`. The Snakefile's config check and
    :meth:`TrackingConfig.from_dict` both call it.
    """
    d = tracking or {}
    uri = d.get("uri")
    if isinstance(uri, str):
        uris.check_uri(uri)
    name = d.get("experiment")
    if isinstance(name, str) and not re.fullmatch(EXPERIMENT_PATTERN, name):
        raise InputError(
            "config: tracking.experiment",
            f"a name matching {EXPERIMENT_PATTERN} (letters, digits, '_', '-', '.', spaces; "
            "not starting with '.', '-' or a space: it names a folder under "
            "tracking.artifact_location)",
            repr(name),
        )


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Where runs go.

    ``uri`` is a SQLAlchemy store (``sqlite:///...``, ``postgresql://...``) or an
    ``http(s)://`` tracking server. ``artifact_location`` is only used when this
    process creates the experiment in a database store (a server chooses its own,
    usually the proxied ``mlflow-artifacts:/``). A server's credentials are never part of
    ``uri``: MLflow reads them from ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN``
    (:func:`jetdistill.tracking.uris.server_credentials`).
    """

    uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "mlruns"
    experiment: str = "jetdistill"
    #: seconds one tracking call may take in all (the start-up probe and every MLflow call
    #: of a job, retries included) when the store is a server: :mod:`.deadline`
    timeout_s: float = 15.0
    #: the project root the relative paths were resolved against
    root: str = ""

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any] | None, root: str | os.PathLike[str] | None = None
    ) -> TrackingConfig:
        """Build from ``config["tracking"]``; relative paths resolve against ``root``.

        ``root`` is the Snakemake working directory (default: the current directory);
        anchoring paths there keeps jobs that run in another directory (cluster
        scratch, ``shadow:``) writing to the same store.
        """
        d = dict(d or {})
        fields = {"uri", "artifact_location", "experiment", "timeout_s"}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise InputError("config: tracking", f"only the keys {sorted(fields)}", str(unknown))
        timeout = d.pop("timeout_s", cls.timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError("config: tracking.timeout_s", "a number of seconds > 0", repr(timeout))
        for k, v in d.items():
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"config: tracking.{k}", "a non-empty string", repr(v))
        check_settings(d)
        base = Path(root if root is not None else os.getcwd()).resolve()
        uri = resolve_store_uri(d.get("uri", cls.uri), base)
        art = resolve_artifact_location(d.get("artifact_location", cls.artifact_location), base)
        return cls(uri=uri, artifact_location=art, experiment=d.get("experiment", cls.experiment),
                   timeout_s=float(timeout), root=str(base))  # fmt: skip

    @property
    def display_uri(self) -> str:
        """The URI with any user-info masked: the only form that may be logged or stored."""
        return uris.mask(self.uri)

    @property
    def where(self) -> str:
        """How an error about the store names it: the config key and the masked URI."""
        return f"config: tracking.uri ({uris.mask(self.uri)})"

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def is_sqlite(self) -> bool:
        return self.uri.startswith("sqlite:")


def resolve_store_uri(uri: str, root: Path) -> str:
    """Make a relative ``sqlite:///rel.db`` absolute (``sqlite:////abs/rel.db``)."""
    if uri.startswith("sqlite:///"):
        path = unquote(uri[len("sqlite:///") :])
        if path in ("", ":memory:"):
            raise InputError(
                "config: tracking.uri", "a SQLite file path (sqlite:///mlflow.db)", uri
            )
        p = Path(path)
        if not p.is_absolute():
            p = root / p
        return "sqlite:///" + str(p.resolve())
    if uri.startswith("sqlite:"):
        raise InputError("config: tracking.uri", "sqlite:///<path> (three slashes)", uri)
    if re.match(r"^(https?|postgresql(\+\w+)?|mysql(\+\w+)?|mssql(\+\w+)?)://", uri):
        return uri
    if uri.startswith("file:") or "://" not in uri:
        raise InputError(
            "config: tracking.uri",
            "sqlite:///<path>, postgresql://..., or http(s)://host:port (file stores are deprecated)",
            uris.mask(uri),
        )
    return uri


def resolve_artifact_location(loc: str, root: Path) -> str:
    """Return a ``file://`` URI for a local path, or the remote URI unchanged."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", loc) or loc.startswith("mlflow-artifacts:"):
        if loc.startswith("file://"):
            return Path(unquote(loc[len("file://") :])).resolve().as_uri()
        return loc
    p = Path(loc).expanduser()
    if not p.is_absolute():
        p = root / p
    return p.resolve().as_uri()
