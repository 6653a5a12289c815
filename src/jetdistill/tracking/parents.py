"""The invocation's parent run: one MLflow run per ``snakemake`` invocation, jobs nested under it.

Why a parent run: MLflow groups nested runs under their parent, so one invocation's jobs
read as one unit in the UI, and the invocation's resolved config (how to rerun everything)
is logged once, there. Snakemake's ``onstart`` creates it (:func:`ensure_parent_run`) and
exports its id; ``onsuccess``/``onerror`` close it. A killed invocation (SIGKILL, a lost
login node) never closes its run; the next invocation of the same project does
(:func:`close_orphaned_invocations`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jetdistill.errors import InputError
from jetdistill.tracking import store
from jetdistill.tracking.config import ENV_PARENT_RUN, TrackingConfig
from jetdistill.tracking.tags import (
    TAG_ERROR,
    TAG_HOST,
    TAG_INVOCATION,
    TAG_KIND,
    TAG_PID,
    TAG_PROJECT,
    quote,
)

logger = logging.getLogger(__name__)


def ensure_parent_run(cfg: TrackingConfig, invocation: str) -> str:
    """Return the run id of the invocation's parent run, creating it if needed.

    Normally called once from Snakemake's ``onstart`` (main process), which then
    exports ``JETDISTILL_PARENT_RUN_ID``. As a fallback it is safe to call from
    several processes at once: for SQLite the search-and-create is serialised by a
    file lock next to the database; for a server, every creator searches again and
    all agree on the earliest (start time, run id), a duplicate this process made
    being tagged ``jetdistill.duplicate_of`` and ended KILLED.
    """
    mc = store.client(cfg)
    exp_id = store.experiment_id(cfg, mc)
    flt = f"tags.`{TAG_INVOCATION}` = '{quote(invocation)}' and tags.`{TAG_KIND}` = 'invocation'"

    def find() -> list[Any]:
        runs = store.call(cfg, lambda: mc.search_runs([exp_id], filter_string=flt, max_results=50),
                          "search parent")  # fmt: skip
        return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))

    with _store_lock(cfg):
        found = find()
        if found:
            return found[0].info.run_id
        tags = {TAG_INVOCATION: invocation, TAG_KIND: "invocation", "role": "invocation"}
        run = store.call(
            cfg, lambda: mc.create_run(exp_id, tags=tags, run_name=f"invocation-{invocation}"),
            "create parent",
        )  # fmt: skip
    if not cfg.is_sqlite:  # no cross-process lock: let concurrent creators commit, then agree
        time.sleep(0.3 + random.random() * 0.3)
    found = find()
    winner = found[0].info.run_id if found else run.info.run_id
    if winner != run.info.run_id:
        logger.info("parent run race: using %s, ending duplicate %s", winner, run.info.run_id)
        store.call(
            cfg, lambda: mc.set_tag(run.info.run_id, "jetdistill.duplicate_of", winner), "tag"
        )
        store.call(cfg, lambda: mc.set_terminated(run.info.run_id, "KILLED"), "terminate")
    return winner


@contextlib.contextmanager
def _store_lock(cfg: TrackingConfig) -> Iterator[None]:
    """Exclusive ``flock`` next to a SQLite file (no-op for servers and other databases).

    Serialises find-or-create of the parent run between processes on one machine,
    which a search-then-create sequence alone cannot do.
    """
    if not cfg.is_sqlite:
        yield
        return
    import fcntl

    lock_path = Path(unquote(cfg.uri[len("sqlite:///") :]) + ".jetdistill.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def parent_run_id(cfg: TrackingConfig, invocation: str) -> str:
    """The parent run of ``invocation``: the exported id, else found or created (and exported)."""
    env = os.environ.get(ENV_PARENT_RUN, "").strip()
    if env:
        return env
    run_id = ensure_parent_run(cfg, invocation)
    os.environ[ENV_PARENT_RUN] = run_id
    return run_id


def end_parent_run(cfg: TrackingConfig, run_id: str, status: str = "FINISHED") -> None:
    """Close the parent run (Snakemake ``onsuccess`` -> FINISHED, ``onerror`` -> FAILED)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise InputError("end_parent_run status", "FINISHED, FAILED or KILLED", status)
    mc = store.client(cfg)
    store.call(cfg, lambda: mc.set_terminated(run_id, status), "end parent")


def log_invocation_config(cfg: TrackingConfig, run_id: str, config: Mapping[str, Any]) -> None:
    """The invocation's resolved config (credentials masked) on its parent run, once.

    Jobs log only the settings they use (their params); the whole config, which says how
    to rerun everything, belongs to the invocation."""
    store.log_dict(cfg, store.client(cfg), run_id, dict(config), "config/resolved_config.json")


def claim_invocation(cfg: TrackingConfig, run_id: str) -> None:
    """Tag the parent run with the project root, host and pid of this ``snakemake`` process.

    With these a later invocation can tell a predecessor that was killed (SIGKILL, lost
    login node: no ``onerror`` ran, the run stays RUNNING forever) from one still running.
    """
    tags = {TAG_PROJECT: cfg.root or os.getcwd(), TAG_HOST: socket.gethostname(),
            TAG_PID: str(os.getpid())}  # fmt: skip
    store.log_batch(cfg, store.client(cfg), run_id, tags=tags)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def close_orphaned_invocations(cfg: TrackingConfig, current: str) -> list[str]:
    """End the RUNNING parent runs of this project's killed invocations as FAILED.

    A parent run counts as orphaned when it belongs to the same project root, is not the
    current invocation and its ``snakemake`` process is gone (same host, pid not alive).
    Parents started on another host are left alone (their process cannot be checked
    from here). The job runs of an orphaned invocation still RUNNING are ended FAILED
    too. Returns the run ids of the parents that were closed.
    """
    mc = store.client(cfg)
    exp_id = store.experiment_id(cfg, mc)
    root = cfg.root or os.getcwd()
    flt = (f"tags.`{TAG_KIND}` = 'invocation' and attributes.status = 'RUNNING' "
           f"and tags.`{TAG_PROJECT}` = '{quote(root)}'")  # fmt: skip
    runs = store.call(cfg, lambda: mc.search_runs([exp_id], filter_string=flt, max_results=200),
                      "search orphans")  # fmt: skip
    host, closed = socket.gethostname(), []
    for r in runs:
        tags = r.data.tags
        inv = tags.get(TAG_INVOCATION, "")
        if inv == current:
            continue
        pid = tags.get(TAG_PID, "")
        if tags.get(TAG_HOST) != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        note = f"invocation ended without closing its run (killed?); closed by invocation {current}"
        jobs_flt = (f"tags.`{TAG_INVOCATION}` = '{quote(inv)}' and tags.`{TAG_KIND}` = 'job' "
                    "and attributes.status = 'RUNNING'")  # fmt: skip
        children = store.call(
            cfg, lambda f=jobs_flt: mc.search_runs([exp_id], filter_string=f, max_results=1000),
            "search orphan jobs",
        )  # fmt: skip
        for run_id in [c.info.run_id for c in children] + [r.info.run_id]:
            store.call(cfg, lambda i=run_id, n=note: mc.set_tag(i, TAG_ERROR, n), "tag orphan")
            store.call(cfg, lambda i=run_id: mc.set_terminated(i, "FAILED"), "end orphan")
        logger.warning("invocation %s (run %s, pid %s) was killed: its run and %d RUNNING job "
                       "run(s) are now FAILED", inv, r.info.run_id, pid, len(children))  # fmt: skip
        closed.append(r.info.run_id)
    return closed
