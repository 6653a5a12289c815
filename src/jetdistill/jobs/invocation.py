"""The tracking store and the invocation's parent run (Snakemake ``onstart``/``onsuccess``/
``onerror`` hooks and the ``init_tracking`` rule)."""

from __future__ import annotations

import os
from typing import Any

from jetdistill.io import write_json
from jetdistill.jobs import context
from jetdistill.jobs.context import JobContext


def start_invocation(tracking_cfg: dict, config: dict[str, Any] | None = None) -> None:
    """Main-process hook (``onstart``): store, experiment and parent run exist before jobs.

    ``config``: the resolved config, logged once on the parent run."""
    from jetdistill.tracking import store as tracking

    cfg = tracking.TrackingConfig.from_dict(tracking_cfg)
    # bounded by tracking.timeout_s: fail in seconds, not after MLflow's retries
    tracking.probe(cfg)
    tracking.init_store(cfg)
    inv = tracking.invocation_id()
    run_id = tracking.ensure_parent_run(cfg, inv)
    tracking.claim_invocation(cfg, run_id)
    tracking.close_orphaned_invocations(cfg, inv)
    if config is not None:
        tracking.log_invocation_config(cfg, run_id, config)
    os.environ["JETDISTILL_PARENT_RUN_ID"] = run_id


def end_invocation(tracking_cfg: dict, *, success: bool) -> None:
    """Main-process hook (``onsuccess``/``onerror``): close the invocation's parent run."""
    from jetdistill.tracking import store as tracking

    run_id = os.environ.get("JETDISTILL_PARENT_RUN_ID")
    if run_id:
        tracking.end_parent_run(tracking.TrackingConfig.from_dict(tracking_cfg), run_id,
                                "FINISHED" if success else "FAILED")  # fmt: skip


def runs_hint(tracking_cfg: dict) -> str:
    """What to open after a run: the MLflow runs table with the student runs, best first."""
    from jetdistill.tracking import store as tracking

    cfg = tracking.TrackingConfig.from_dict(tracking_cfg)
    start = "" if cfg.is_server else "start `mlflow ui` in the project root, then open\n"
    text = f"MLflow: {start}  student runs, best first: {tracking.student_runs_url(cfg)}"
    compare = tracking.kd_vs_solo_compare_url(cfg)
    if compare:
        text += f"\n  KD vs solo side by side (one seed): {compare}"
    return text


def init_tracking(ctx: JobContext) -> None:
    """Rule ``init_tracking``: create the store and experiment once, before parallel jobs."""
    from jetdistill.tracking import store as tracking

    cfg = context.tracking_cfg(ctx)
    exp_id = tracking.init_store(cfg)
    write_json(
        ctx.output["marker"],
        {"experiment_id": exp_id, "uri": cfg.display_uri, "experiment": cfg.experiment},
    )
