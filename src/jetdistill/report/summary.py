"""One table of every model run, collected from MLflow.

Why from MLflow rather than from the per-job JSON files: the store is the single
place where runs of every rule (teachers, students, QAT, pruning, hls4ml) land with
the same tags and metric names, so the summary needs no knowledge of the DAG and
also works across invocations. MLflow access goes through :mod:`jetdistill.tracking.query`.

Row selection: finished job runs (no parent runs, no failed attempts) that carry
at least one ``test_*`` or cost/FPGA metric; for each (rule, wildcards) only the
latest such run is kept, so a re-run or a Snakemake retry replaces the older row.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from jetdistill.io import atomic_path
from jetdistill.tracking.config import TrackingConfig
from jetdistill.tracking.query import search

logger = logging.getLogger(__name__)

ID_COLUMNS = (
    "run_id",
    "run_name",
    "rule",
    "role",
    "method",
    "model",
    "student",
    "teacher",
    "seed",
    "wildcards",
    "invocation",
    "start_time",
)
HEAD_METRICS = ("test_accuracy", "test_auc_mean")
COST_METRICS = (
    "params",
    "nonzero_params",
    "size_bits",
    "bops",
    "hls_exact_fraction",
    "hls_argmax_agreement",
    "rtl_exact_fraction",
    "luts",
    "ffs",
    "dsps",
    "carry",
    "latency_cycles",
    "latency_ns",
)
# Per-epoch histories: their latest value says little about the model, leave them out.
EPOCH_METRICS = frozenset(
    {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "epoch"}
)
_WILDCARD_TAGS = ("model", "student", "teacher", "seed")


def collect_summary(
    cfg: TrackingConfig,
    invocation_id: str | None = None,
    out_csv: str | os.PathLike[str] | None = None,
    out_md: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Build the per-model table and write it as CSV and Markdown (atomically).

    ``invocation_id=None`` summarises the whole experiment (latest run per rule and
    wildcards across invocations). Returns the table.
    """
    runs = search(cfg, invocation_id=invocation_id)
    table = summary_table(runs)
    if table.empty:
        logger.warning(
            "no finished model runs in experiment %r%s",
            cfg.experiment,
            f" for invocation {invocation_id}" if invocation_id else "",
        )
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            table.to_csv(tmp, index=False)
    if out_md is not None:
        with atomic_path(out_md) as tmp:
            Path(tmp).write_text(readable_markdown(table))
    return table


def readable_markdown(table: pd.DataFrame) -> str:
    """``summary.md``: a few short tables (teachers, students, compression, FPGA) with units.

    The wide per-run table with every metric stays in ``summary.csv``
    (:func:`to_markdown` renders it when a Markdown copy is wanted).
    """
    from jetdistill.report import tables

    return tables.markdown(tables.summary_tables(table), "Run summary", NOTES)


def readable_html(table: pd.DataFrame) -> str:
    """The tables of :func:`readable_markdown` as a self-contained page for the report."""
    from jetdistill.report import tables

    return tables.html(tables.summary_tables(table), "Run summary", NOTES)


NOTES = (
    (
        "Seeds grouped (mean ± std); accuracies in % of the test set, differences in "
        "percentage points (pts). Every run with every metric: summary.csv, one row per "
        "MLflow run."
    ),
)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Turn a :func:`jetdistill.tracking.query.search` frame into one row per model (pure)."""
    metric_cols = [c for c in runs.columns if c.startswith("metrics.")]
    rows: list[dict[str, Any]] = []
    for _, r in runs.iterrows():
        if r.get("status") != "FINISHED":
            continue
        metrics = {c[len("metrics.") :]: r[c] for c in metric_cols if not _missing(r[c])}
        if not any(k.startswith("test_") or k in COST_METRICS for k in metrics):
            continue
        wildcards = _wildcards(r.get("tags.jetdistill.wildcards"))
        row: dict[str, Any] = {
            "run_id": r["run_id"],
            "run_name": _tag(r, "mlflow.runName"),
            "rule": _tag(r, "jetdistill.rule"),
            "role": _tag(r, "role"),
            "method": _tag(r, "method"),
            "wildcards": json.dumps(wildcards, sort_keys=True),
            "invocation": _tag(r, "jetdistill.invocation"),
            "start_time": r.get("start_time"),
        }
        for k in _WILDCARD_TAGS:
            row[k] = _tag(r, k) or wildcards.get(k, "")
        row.update({k: v for k, v in metrics.items() if k not in EPOCH_METRICS})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=[*ID_COLUMNS, *HEAD_METRICS])
    df = pd.DataFrame(rows)
    df = (
        df.sort_values("start_time", kind="stable")
        .groupby(["rule", "wildcards"], sort=False, dropna=False)
        .tail(1)
    )
    present = set(df.columns)
    tests = sorted(c for c in present if c.startswith("test_") and c not in HEAD_METRICS)
    costs = [c for c in COST_METRICS if c in present]
    known = {*ID_COLUMNS, *HEAD_METRICS, *tests, *costs}
    others = sorted(c for c in present if c not in known)
    cols = [*ID_COLUMNS, *HEAD_METRICS, *tests, *costs, *others]
    df = df.reindex(columns=cols)
    df["start_time"] = df["start_time"].astype(str)
    order = ["role", "method", "model", "student", "teacher", "seed", "rule", "wildcards"]
    return df.sort_values(order, kind="stable", key=lambda s: s.astype(str)).reset_index(drop=True)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub Markdown table (no ``tabulate`` dependency); floats as ``floatfmt``."""
    cols = [c for c in df.columns if c not in ("start_time", "invocation")]
    if df.empty:
        return (
            "| "
            + " | ".join(cols)
            + " |\n|"
            + "---|" * len(cols)
            + "\n\n_no finished model runs_\n"
        )

    def cell(v: Any) -> str:
        if _missing(v):
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(cell(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return isinstance(v, float) and math.isnan(v) or v is pd.NaT
    except TypeError:
        return False


def _tag(r: pd.Series, name: str) -> str:
    v = r.get(f"tags.{name}")
    return "" if _missing(v) else str(v)


def _wildcards(text: Any) -> dict[str, str]:
    if _missing(text) or not str(text).strip():
        return {}
    try:
        val = json.loads(str(text))
    except json.JSONDecodeError:
        logger.warning("tag jetdistill.wildcards is not JSON: %r", text)
        return {}
    return {str(k): str(v) for k, v in val.items()} if isinstance(val, dict) else {}
