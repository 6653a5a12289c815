"""The tracking store and the invocation's parent run (Snakemake ``onstart``/``onsuccess``/
``onerror`` hooks and the ``init_tracking`` rule).

One probe and one set-up per invocation, both here, in ``onstart``
(:func:`start_invocation`): it runs once, in the main process, before any job is
scheduled, and it must create the experiment anyway to open the parent run, so it is the
only place that can fail an unreachable store before work starts. Rule ``init_tracking``
no longer touches the store: it records what ``onstart`` set up (the experiment id it
exported) in the marker every job waits for (:func:`init_tracking`).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from jetdistill.tracking.config import ENV_EXPERIMENT, ENV_PARENT_RUN, TrackingConfig

if TYPE_CHECKING:  # jobs.context imports numpy and pandas: not before the probe
    from jetdistill.jobs.context import JobContext


def start_invocation(tracking_cfg: dict, config: dict[str, Any] | None = None) -> None:
    """Main-process hook (``onstart``): probe the store, set it up, open the parent run.

    ``config``: the resolved config, logged once on the parent run. Exports the experiment
    id and the parent run id to the jobs (their environment)."""
    from jetdistill.tracking import probe

    cfg = TrackingConfig.from_dict(tracking_cfg)
    # bounded by tracking.timeout_s, and before MLflow is imported (seconds on a busy node)
    probe.check(cfg)
    from jetdistill.tracking import parents, store, tags

    os.environ[ENV_EXPERIMENT] = json.dumps(_marker(cfg, store.init_store(cfg)), sort_keys=True)
    inv = tags.invocation_id()
    run_id = parents.ensure_parent_run(cfg, inv)
    parents.claim_invocation(cfg, run_id)
    parents.close_orphaned_invocations(cfg, inv)
    if config is not None:
        parents.log_invocation_config(cfg, run_id, config)
    os.environ[ENV_PARENT_RUN] = run_id


def end_invocation(tracking_cfg: dict, *, success: bool) -> None:
    """Main-process hook (``onsuccess``/``onerror``): close the invocation's parent run."""
    from jetdistill.tracking import parents

    run_id = os.environ.get(ENV_PARENT_RUN)
    if run_id:
        parents.end_parent_run(TrackingConfig.from_dict(tracking_cfg), run_id,
                               "FINISHED" if success else "FAILED")  # fmt: skip


def runs_hint(tracking_cfg: dict) -> str:
    """What to open after a run: the MLflow runs table with the full-data students, best first."""
    from jetdistill.report import links

    cfg = TrackingConfig.from_dict(tracking_cfg)
    start = "" if cfg.is_server else "start `mlflow ui` in the project root, then open\n"
    text = f"MLflow: {start}  student runs, best first: {links.student_runs_url(cfg)}"
    compare = links.kd_vs_solo_compare_url(cfg)
    if compare:
        text += f"\n  KD vs solo side by side (one seed): {compare}"
    return text


def _marker(cfg: TrackingConfig, experiment_id: str) -> dict[str, str]:
    return {"experiment_id": experiment_id, "uri": cfg.display_uri, "experiment": cfg.experiment}


def init_tracking(ctx: JobContext) -> None:
    """Rule ``init_tracking``: the marker of the store this invocation set up.

    Inside a Snakemake invocation ``onstart`` exported it (``JETDISTILL_EXPERIMENT_ID``):
    no MLflow call, no MLflow import. Otherwise (a library caller, or settings that are not
    the ones ``onstart`` set up) the existing experiment is looked up, never created: an
    InputError naming the store if it does not exist.
    """
    from jetdistill.io import write_json
    from jetdistill.jobs import context

    cfg = context.tracking_cfg(ctx)
    marker = json.loads(os.environ.get(ENV_EXPERIMENT) or "{}")
    if (marker.get("uri"), marker.get("experiment")) != (cfg.display_uri, cfg.experiment):
        from jetdistill.tracking import store

        marker = _marker(cfg, store.experiment_id(cfg))
    write_json(ctx.output["marker"], marker)
