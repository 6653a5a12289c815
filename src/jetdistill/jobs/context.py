"""What every job shares: the plain view of the ``snakemake`` object, the splits a student
trains on, the MLflow run of a job, the training-and-evaluation step and the result record
every job writes. What a student learns from is assembled by :mod:`jetdistill.learn.kd_data`.

Jobs read only what their rule declares: inputs, outputs, wildcards and params (the leaf
settings that change the job's result, built by :mod:`jetdistill.plan`). They never see
the whole config, so Snakemake's rerun-on-params-change is exact.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jetdistill.io import atomic_path, read_json
from jetdistill.learn.kd_data import Split, concat_splits, load_split
from jetdistill.runtime import set_threads, setup_logging

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- context
@dataclass
class JobContext:
    """Plain view of the ``snakemake`` object a script receives."""

    rule: str
    wildcards: dict[str, str]
    input: dict[str, Any]
    output: dict[str, str]
    params: dict[str, Any]
    threads: int = 1
    log: str | None = None

    @classmethod
    def from_snakemake(cls, smk: Any) -> JobContext:
        def named(io: Any) -> dict[str, Any]:
            items = dict(io.items())
            return {k: (list(v) if not isinstance(v, str) else v) for k, v in items.items()}

        ctx = cls(
            rule=smk.rule,
            wildcards=dict(smk.wildcards.items()),
            input=named(smk.input),
            output=named(smk.output),
            params={k: plain(v) for k, v in smk.params.items()},
            threads=int(smk.threads),
            log=smk.log[0] if len(smk.log) else None,
        )
        setup_logging(ctx.log)
        set_threads(ctx.threads)
        log.info("rule %s wildcards %s", ctx.rule, ctx.wildcards)
        return ctx


def plain(value: Any) -> Any:
    """``value`` with every mapping a plain ``dict`` (lists of them too): the rules
    pass settings as :class:`jetdistill.plan.JobSettings` (a ``dict`` compared by a
    canonical text), which nothing past the rule boundary needs to know about."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- data
def load_train(ctx: JobContext) -> tuple[dict[str, Split], Split]:
    """The splits a student trains on (param ``transfer_splits``, default ``[transfer]``:
    :func:`jetdistill.plan.transfer_splits`), by name, and their union."""
    names = list(ctx.params.get("transfer_splits") or ["transfer"])
    parts = {n: load_split(ctx.input[n]) for n in names}
    return parts, concat_splits(list(parts.values()))


# --------------------------------------------------------------------------- models
def arch(spec: dict) -> dict:
    """The model spec as build_model expects it (name/view/seed are workflow metadata)."""
    return {k: v for k, v in spec.items() if k not in ("name", "view", "seed")}


def build(spec: dict, input_shape: tuple[int, ...], n_classes: int):
    from jetdistill.learn.models import build_model

    return build_model(arch(spec), input_shape, n_classes, name=spec.get("name"))


def float_meta(spec: dict, input_shape: tuple[int, ...], n_classes: int) -> dict:
    """Checkpoint metadata of a float model (:func:`jetdistill.learn.models.load_model`)."""
    from jetdistill.learn.models import checkpoint_meta

    meta = checkpoint_meta(arch(spec), input_shape, n_classes, name=spec.get("name"))
    meta["view"] = spec.get("view")
    return meta


# --------------------------------------------------------------------------- tracking
def tracking_cfg(ctx: JobContext):
    """Where the job logs: ``params["tracking"]`` (rule ``init_tracking``, library callers) or
    the settings the Snakefile put in the environment (every other job: not a param, so a
    new experiment or store reruns nothing)."""
    from jetdistill.errors import InputError
    from jetdistill.tracking.config import TrackingConfig
    from jetdistill.tracking.uris import ENV_TRACKING

    settings = ctx.params.get("tracking")
    if settings is None:
        raw = os.environ.get(ENV_TRACKING)
        if not raw:
            raise InputError(f"environment {ENV_TRACKING}", "the tracking settings (set by the Snakefile)",
                             "not set")  # fmt: skip
        settings = json.loads(raw)
    return TrackingConfig.from_dict(settings)


@contextmanager
def job_run(
    ctx: JobContext, *, name: str, role: str, method: str, tags: dict | None = None
) -> Iterator[Any]:
    """The job's MLflow run (:func:`jetdistill.tracking.runs.job_run`) with the common params."""
    from jetdistill.tracking import runs

    with runs.job_run(
        tracking_cfg(ctx), name=name, rule=ctx.rule, wildcards=ctx.wildcards, role=role, method=method,
        tags={k: str(v) for k, v in (tags or {}).items()},
    ) as run:  # fmt: skip
        run.log_params(common_params(ctx, role, method))
        yield run


def common_params(ctx: JobContext, role: str, method: str) -> dict[str, str]:
    """The params shared by every run (``report.links.COMMON_PARAMS``), from the job's identity
    (:func:`jetdistill.identity.of_wildcards`) and params.

    A KD student's T/alpha are its identity's; a QAT job of ``mode`` kd takes them from its
    ``qat.kd`` params; float models (teachers, float students) are ``bits`` 32 /
    ``sparsity`` 0; the comparison jobs carry only role/method.
    """
    from jetdistill import identity as I
    from jetdistill.report import links

    job, p = I.of_wildcards(ctx.wildcards), ctx.params
    given: dict = {}
    if role in ("teacher", "student"):
        given = {"bits": 32, "sparsity": 0.0, "seed": p.get("seed")}
    if job is not None and not isinstance(job, I.TeacherMember):
        given.update(job.common_params())
    if isinstance(job, I.QATJob) and job.mode == "kd" and "kd" in p.get("qat", {}):
        given.update(temperature=p["qat"]["kd"]["temperature"], alpha=p["qat"]["kd"]["alpha"])
    if isinstance(job, I.HGQJob) and "kd" in p.get("hgq", {}):
        given.update(temperature=p["hgq"]["kd"]["temperature"], alpha=p["hgq"]["kd"]["alpha"])
    return links.common_params(role=role, method=method, **given)


def teacher_targets(ctx: JobContext, kd: dict | None) -> str:
    """The soft-target cache a student job reads (:func:`jetdistill.learn.kd_data.kd_setup`):
    its teacher's (input ``soft_targets``) with ``kd``, else the fidelity teacher's (input
    ``fidelity``)."""
    return ctx.input["soft_targets" if kd else "fidelity"]


def unlabelled_inputs(ctx: JobContext, kd: dict | None) -> dict[str, str | None]:
    """The unlabelled transfer jets' view file and the teacher's logits on them, where the
    job has them (:func:`jetdistill.learn.kd_data.with_unlabelled`): the KD teacher's with
    ``kd``, else the fidelity teacher's."""
    if "unlabelled" not in ctx.input:
        return {"unlabelled": None, "targets": None}
    key = "unlabelled_soft_targets" if kd else "unlabelled_fidelity"
    return {"unlabelled": ctx.input["unlabelled"], "targets": ctx.input[key]}


# --------------------------------------------------------------------------- outputs
def write_history(history: list[dict], path: str) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def write_npy(arr: np.ndarray, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)


def numeric(metrics: dict, *, with_bools: bool = False) -> dict:
    """The number-valued entries of a metrics dict (what MLflow takes as metrics); flags
    (``True``/``False``) only with ``with_bools``."""
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and (with_bools or not isinstance(v, bool))
    }


def result_record(ctx: JobContext, run: Any, *, role: str, method: str, metrics: dict,
                  extra: dict | None = None) -> dict:  # fmt: skip
    """The metrics.json every model job writes: run id, rule, wildcards, identity, metrics."""
    return {
        "run_id": run.run_id,
        "rule": ctx.rule,
        "wildcards": ctx.wildcards,
        "role": role,
        "method": method,
        **(extra or {}),
        "metrics": {
            k: (None if (isinstance(v, float) and not np.isfinite(v)) else v)
            for k, v in metrics.items()
        },
    }


def records(paths: list[str] | str) -> pd.DataFrame:
    """metrics.json records as a frame: one row per job, identifying fields then metrics."""
    rows = []
    for p in [paths] if isinstance(paths, str) else paths:
        rec = read_json(p)
        row = dict(rec.get("metrics", {}))
        row.update({k: v for k, v in rec.items() if k not in ("metrics", "wildcards", "info")})
        row["path"] = str(p)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- train + evaluate
def log_eval_plots(run: Any, logits: np.ndarray, split: Split, label: str) -> None:
    from jetdistill.learn import metrics as M

    names = split.class_names
    with tempfile.TemporaryDirectory() as d:
        roc = Path(d) / "roc.png"
        M.plot_roc({label: (logits, split.y)}, names, roc)
        cm = M.confusion_matrix(logits, split.y, len(names))
        cmp = Path(d) / "confusion_matrix.png"
        M.plot_confusion(cm, names, cmp)
        # rows = true class, columns = predicted class, both labelled with the class names
        frame = pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names)
        frame.to_csv(Path(d) / "confusion_matrix.csv")
        run.log_artifacts(d, "plots")


def train_and_eval(run: Any, model: Any, train: Split, val: Split, test: Split, *,
                   train_cfg: dict, loss_fn: Any, seed: int, t_train=None, t_val=None,
                   f_train=None, f_val=None, step_hook=None, label: str = "model",
                   tv_train=None) -> tuple[Any, np.ndarray, dict]:  # fmt: skip
    """Fit on ``train`` (early stopping on ``val``), then classification metrics on ``test``."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.training import TrainConfig, fit, predict_logits

    cfg = TrainConfig.from_dict(train_cfg)
    run.log_params({"train": train_cfg, "seed": seed, "n_train": len(train.y), "n_val": len(val.y),
                    "n_test": len(test.y), "input_shape": list(train.X.shape[1:])})  # fmt: skip
    result = fit(
        model, train.batches(t_train, f_train, tv_train), val.batches(t_val, f_val), cfg, loss_fn,
        seed=seed,
        step_hook=step_hook, epoch_callback=lambda epoch, rec: run.log_metrics(rec, step=epoch),
    )  # fmt: skip
    logits = predict_logits(model, test.X)
    metrics = M.classification_metrics(logits, test.y, test.class_names)
    metrics.update({"train_seconds": result.train_seconds, "samples_per_s": result.samples_per_s,
                    "best_epoch": result.best_epoch, "epochs_run": len(result.history)})  # fmt: skip
    log_eval_plots(run, logits, test, label)
    return result, logits, metrics
