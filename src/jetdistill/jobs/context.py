"""What every job shares: the plain view of the ``snakemake`` object, data loading, the MLflow
run of a job, the training-and-evaluation step and the result record every job writes.

Jobs read only what their rule declares: inputs, outputs, wildcards and params (the leaf
settings that change the job's result, built by :mod:`jetdistill.plan`). They never see
the whole config, so Snakemake's rerun-on-params-change is exact.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jetdistill.io import atomic_path, read_json
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
@dataclass
class Split:
    """One split of a view: inputs, labels, global jet indices and the file's attributes."""

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    attrs: dict
    #: augmented copies of ``X`` (V, N, ...) drawn per jet per epoch in training (or None)
    views: np.ndarray | None = None

    @property
    def class_names(self) -> list[str]:
        return list(self.attrs["class_names"])

    def subset(self, rows: np.ndarray) -> Split:
        views = None if self.views is None else self.views[:, rows]
        return Split(self.X[rows], self.y[rows], self.index[rows], self.attrs, views)

    def batches(self, teacher_logits: np.ndarray | None = None, features: np.ndarray | None = None,
                view_logits: np.ndarray | None = None):  # fmt: skip
        """Training batches; with ``views`` a consistent view per jet per epoch
        (:class:`jetdistill.learn.training.ViewBatches`, ``view_logits`` the teacher's)."""
        from jetdistill.errors import InputError
        from jetdistill.learn.training import Batches, ViewBatches

        base = Batches.from_numpy(self.X, self.y, teacher_logits, features)
        if self.views is None:
            return base
        if features is not None:
            raise InputError("distillation.views", "a logit loss (a feature loss such as hint "
                             "reads the teacher's embedding of the original jets only)", "a feature loss")  # fmt: skip
        return ViewBatches.from_views(base, self.views, view_logits)


def load_split(path: str) -> Split:
    from jetdistill.data.prepare import load_split as load

    X, y, index, attrs = load(path)
    return Split(X, y, index, attrs)


def concat_splits(parts: Sequence[Split]) -> Split:
    """One training set from several splits of a view, rows in the order given (the
    attributes, class names included, are the first split's: every split of a view has
    the same)."""
    if len(parts) == 1:
        return parts[0]
    return Split(np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]),
                 np.concatenate([p.index for p in parts]), parts[0].attrs)  # fmt: skip


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
    return links.common_params(role=role, method=method, **given)


@dataclass(frozen=True)
class KDSetup:
    """What a student job takes from its teacher: the loss, the soft targets it trains on
    and the teacher logits its fidelity is measured against.

    ``t_train`` / ``t_val`` are ``None`` for a solo student (it trains on labels only),
    while ``fidelity_train`` / ``fidelity_test`` always exist: a solo student is compared
    with the ``fidelity`` teacher on the same jets, so its agreement is the baseline a KD
    student's is read against (Stanton et al. 2021, arXiv:2106.05945).
    """

    loss_fn: Any
    t_train: np.ndarray | None
    t_val: np.ndarray | None
    fidelity_train: np.ndarray
    fidelity_test: np.ndarray
    #: the teacher's cached embeddings, for a feature loss (``hint``) only
    f_train: np.ndarray | None = None
    f_val: np.ndarray | None = None
    #: the teacher's logits of the augmented views of the transfer jets (V, N, K), or None
    tv_train: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> KDSetup:
        """The same set-up on the transfer rows ``rows`` (a learning-curve fraction)."""

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return KDSetup(self.loss_fn, take(self.t_train), self.t_val, self.fidelity_train[rows],
                       self.fidelity_test, take(self.f_train), self.f_val,
                       None if self.tv_train is None else self.tv_train[:, rows])  # fmt: skip

    def extend(self, t_extra: np.ndarray | None, fidelity_extra: np.ndarray) -> KDSetup:
        """The same set-up with jets appended to the training set (the unlabelled transfer
        jets): their teacher logits to train on (KD) and to measure fidelity against."""
        t = None if self.t_train is None else np.concatenate([self.t_train, t_extra])
        return KDSetup(self.loss_fn, t, self.t_val,
                       np.concatenate([self.fidelity_train, fidelity_extra]), self.fidelity_test)  # fmt: skip


def kd_setup(ctx: JobContext, kd: dict | None, train: Split, val: Split, test: Split, *,
             label_smoothing: float, parts: Mapping[str, Split] | None = None,
             model: Any = None) -> KDSetup:  # fmt: skip
    """The loss and the teacher logits of a student job (:class:`KDSetup`).

    With ``kd`` (the KD settings, :func:`jetdistill.plan.kd_settings`): its loss and the
    soft targets of the declared ``soft_targets`` input on each split, which are also the
    fidelity reference. Without: cross entropy, no targets to train on, and the
    ``fidelity`` teacher's training and test logits (agreement and KL of a solo student
    are measured against the fidelity teacher). Float and QAT students share it, so a KD
    student is set up the same way in both. ``train`` is the union of ``parts`` (split
    name -> split, in order: :func:`load_train`; default ``{"transfer": train}``), whose
    teacher logits are read split by split, each checked jet for jet. A feature loss
    (``hint``) also gets the teacher's cached embeddings of the training and val jets, and
    its projector is sized from ``model``'s representation (so build and seed the model first).
    """
    from jetdistill.learn.losses import LOSSES, build_loss
    from jetdistill.learn.softtargets import load_embedding, load_soft_targets

    parts = dict(parts or {"transfer": train})

    def on_train(path: str) -> np.ndarray:
        return np.concatenate([load_soft_targets(path, n, p.index) for n, p in parts.items()])

    if not kd:
        ref = ctx.input["fidelity"]
        f_train, f_test = on_train(ref), load_soft_targets(ref, "test", test.index)
        return KDSetup(
            build_loss("ce", label_smoothing=label_smoothing), None, None, f_train, f_test
        )
    st = ctx.input["soft_targets"]
    t_train = on_train(st)
    t_val, t_test = (load_soft_targets(st, name, split.index)
                     for name, split in (("val", val), ("test", test)))  # fmt: skip
    f_train = f_val = None
    dims = None
    if LOSSES[kd["method"]].needs_features:
        from jetdistill.errors import InputError
        from jetdistill.learn.training import representation_dim

        if model is None:
            raise InputError(f"loss {kd['method']!r}", "the student model (to size the hint projector)",
                             "none")  # fmt: skip
        f_train = np.concatenate([load_embedding(st, n, p.index) for n, p in parts.items()])
        f_val = load_embedding(st, "val", val.index)
        dims = (representation_dim(model, tuple(train.X.shape[1:])), int(f_train.shape[1]))
    loss_fn = build_loss(kd["method"], temperature=kd["temperature"], alpha=kd["alpha"],
                         params=kd["params"], label_smoothing=label_smoothing,
                         feature_dims=dims)  # fmt: skip
    tv = None
    if kd.get("views"):  # consistent views: the teacher's logits of each augmented view
        from jetdistill.learn.softtargets import load_view_logits

        tv = load_view_logits(st, "transfer", train.index, kd["views"])
    return KDSetup(loss_fn, t_train, t_val, t_train, t_test, f_train, f_val, tv)


def fidelity(model: Any, train: Split, logits: np.ndarray, setup: KDSetup) -> dict[str, float]:
    """Agreement and KL with the teacher on the jets the student trained on (``train_``)
    and on the test jets (``test_``; ``logits`` are the student's test logits).

    Stanton et al.'s gap between the two says how much of a student's mismatch with its
    teacher is optimisation (it fails to fit even the transfer jets) rather than
    generalisation."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.training import predict_logits

    out = M.fidelity_metrics(logits, setup.fidelity_test, prefix="test_")
    out.update(
        M.fidelity_metrics(predict_logits(model, train.X), setup.fidelity_train, prefix="train_")
    )
    return out


def with_unlabelled(ctx: JobContext, kd: dict | None, train: Split, setup: KDSetup, *,
                    input_gain: np.ndarray | None = None) -> tuple[Split, KDSetup]:  # fmt: skip
    """``train`` and ``setup`` with the unlabelled transfer jets appended, where the job has
    them (``distillation.unlabelled``; else unchanged).

    A KD student gets them with the label :data:`jetdistill.learn.losses.UNLABELLED`, so its
    loss reads only the teacher's soft targets on them; the solo-on-all reference (no ``kd``)
    gets their labels, the upper bound of what the jets could give. Either way the teacher's
    logits on them join the fidelity reference (the jets the student trained on)."""
    from jetdistill.learn.losses import UNLABELLED
    from jetdistill.learn.softtargets import load_soft_targets

    if "unlabelled" not in ctx.input:
        return train, setup
    u = load_split(ctx.input["unlabelled"])
    if input_gain is not None:  # formatted like the labelled jets they join
        u = with_gain(u, input_gain)
    if kd:
        t_u = load_soft_targets(ctx.input["unlabelled_soft_targets"], "unlabelled", u.index)
        y_u, setup = np.full_like(u.y, UNLABELLED), setup.extend(t_u, t_u)
    else:
        f_u = load_soft_targets(ctx.input["unlabelled_fidelity"], "unlabelled", u.index)
        y_u, setup = u.y, setup.extend(None, f_u)
    log.info("%d unlabelled transfer jets added to %d (%s)", len(u.y), len(train.y),
             "teacher term only" if kd else "with their labels: solo_all")  # fmt: skip
    merged = Split(np.concatenate([train.X, u.X]), np.concatenate([train.y, y_u]),
                   np.concatenate([train.index, u.index]), train.attrs)  # fmt: skip
    return merged, setup


def with_gain(split: Split, gain: np.ndarray) -> Split:
    """``split`` with its inputs (and augmented views) times per-input ``gain``
    (:func:`jetdistill.compress.quant.fit_input_gain`)."""
    from dataclasses import replace

    from jetdistill.compress.quant import apply_input_gain

    views = None if split.views is None else apply_input_gain(split.views, gain)
    return replace(split, X=apply_input_gain(split.X, gain), views=views)


def float_student_targets(ctx: JobContext, model: Any, *splits: Split,
                          input_gain: np.ndarray | None = None) -> list[np.ndarray]:  # fmt: skip
    """The float student's logits on each split: a QAT job's KD targets with
    ``compression.kd_targets: float_student`` (its input ``float_model``, the student it
    fine-tunes from; absent with ``compression.init: scratch``, which the config check rejects).
    Splits formatted with ``input_gain`` are divided by it first (exact: powers of two)."""
    from jetdistill.errors import InputError
    from jetdistill.learn.training import predict_logits

    if model is None or "float_model" not in ctx.input:
        raise InputError(f"rule {ctx.rule}", "input float_model (compression.kd_targets: "
                         "float_student needs compression.init: finetune)", "none")  # fmt: skip
    model.eval()
    g = None if input_gain is None else np.asarray(input_gain, dtype=np.float32)
    return [
        predict_logits(model, s.X if g is None else (s.X / g).astype(np.float32)) for s in splits
    ]


def float_agreement(model: Any, test: Split, logits: np.ndarray) -> float:
    """Fraction of test jets on which a compressed student's class is its float student's."""
    from jetdistill.learn.training import predict_logits

    model.eval()
    return float((predict_logits(model, test.X).argmax(1) == logits.argmax(1)).mean())


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
