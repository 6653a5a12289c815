"""Reading runs back: search as a DataFrame, one run's record, metric histories, artifacts.

Why a DataFrame shaped like ``mlflow.search_runs``: the reports (:mod:`jetdistill.report`)
and tests read runs as tables; this module pages through MLflow's search (1000 runs a
page) with every call bounded (:func:`jetdistill.tracking.store.call`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from jetdistill.tracking import store, tags
from jetdistill.tracking.config import TrackingConfig

_SEARCH_PAGE = 1000
_BASE_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def search(
    cfg: TrackingConfig,
    invocation_id: str | None = None,
    filter: str | None = None,
    include_parents: bool = False,
) -> pd.DataFrame:
    """Runs of the experiment as a DataFrame shaped like ``mlflow.search_runs``.

    Columns: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``,
    ``start_time``, ``end_time``, ``metrics.*``, ``params.*``, ``tags.*``.
    ``invocation_id`` restricts to one invocation; ``filter`` is an MLflow filter
    string ANDed to it. Parent (invocation) runs are left out unless asked for.
    """
    mc = store.client(cfg)
    exp_id = store.experiment_id(cfg, mc)
    clauses = []
    if invocation_id:
        clauses.append(f"tags.`{tags.TAG_INVOCATION}` = '{tags.quote(invocation_id)}'")
    if not include_parents:
        clauses.append(f"tags.`{tags.TAG_KIND}` = 'job'")
    if filter:
        clauses.append(filter)  # MLflow filters only support AND: plain concatenation
    flt = " and ".join(clauses)
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = store.call(
            cfg,
            lambda tok=token: mc.search_runs([exp_id], filter_string=flt, max_results=_SEARCH_PAGE,
                                             page_token=tok, order_by=["attributes.start_time ASC"]),
            "search_runs",
        )  # fmt: skip
        rows.extend(_row(r) for r in page)
        token = page.token
        if not token:
            break
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=_BASE_COLUMNS)
    rest = sorted(c for c in df.columns if c not in _BASE_COLUMNS)
    return df[_BASE_COLUMNS + rest]


def _row(r: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": r.info.run_id,
        "experiment_id": r.info.experiment_id,
        "status": r.info.status,
        "artifact_uri": r.info.artifact_uri,
        "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True)
        if r.info.end_time
        else pd.NaT,
    }
    row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
    row.update({f"params.{k}": v for k, v in r.data.params.items()})
    row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
    return row


def metric_history(cfg: TrackingConfig, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` pairs of one metric, sorted by step (for plots and tests)."""
    mc = store.client(cfg)
    hist = store.call(cfg, lambda: mc.get_metric_history(run_id, key), "get_metric_history")
    return sorted((m.step, m.value) for m in hist)


def run_info(cfg: TrackingConfig, run_id: str) -> dict[str, Any]:
    """Status, params, metrics (latest), tags and artifact URI of one run as plain dicts."""
    mc = store.client(cfg)
    r = store.call(cfg, lambda: mc.get_run(run_id), "get_run")
    return {
        "run_id": r.info.run_id,
        "status": r.info.status,
        "artifact_uri": r.info.artifact_uri,
        "params": dict(r.data.params),
        "metrics": dict(r.data.metrics),
        "tags": dict(r.data.tags),
    }


def download_artifacts(
    cfg: TrackingConfig, run_id: str, path: str, dst: str | os.PathLike[str]
) -> Path:
    """Download ``path`` of a run's artifacts into ``dst``; return the local path."""
    Path(dst).mkdir(parents=True, exist_ok=True)
    mc = store.client(cfg)
    local = store.call(cfg, lambda: mc.download_artifacts(run_id, path, str(dst)),
                       "download_artifacts")  # fmt: skip
    return Path(local)
