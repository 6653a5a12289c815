"""One function per Snakemake rule: load inputs, run the library, track, write outputs.

Workflow scripts only build a :class:`JobContext` from the ``snakemake`` object and
call one function here. Outputs are written last and atomically, after the MLflow
run has everything, so a killed job never leaves a file Snakemake takes as done.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jetdistill.errors import InputError
from jetdistill.io import atomic_path, read_json, write_json
from jetdistill.runtime import set_threads, setup_logging
from jetdistill.seeding import seed_everything

log = logging.getLogger(__name__)

MODEL_META_KEYS = ("name", "type", "view")


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
    config: dict[str, Any] = field(default_factory=dict)

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
            params=dict(smk.params.items()),
            threads=int(smk.threads),
            log=smk.log[0] if len(smk.log) else None,
            config=dict(smk.config),
        )
        setup_logging(ctx.log)
        set_threads(ctx.threads)
        log.info("rule %s wildcards %s", ctx.rule, ctx.wildcards)
        return ctx


# --------------------------------------------------------------------------- helpers
def _tracking_cfg(ctx: JobContext):
    from jetdistill.tracking import TrackingConfig

    return TrackingConfig.from_dict(ctx.params["tracking"])


def _arch(spec: dict) -> dict:
    """The model spec as build_model expects it (name/view are workflow metadata)."""
    return {k: v for k, v in spec.items() if k not in ("name", "view", "seed")}


def _build(spec: dict, input_shape: tuple[int, ...], n_classes: int):
    from jetdistill.models import build_model

    return build_model(_arch(spec), input_shape, n_classes, name=spec.get("name"))


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    attrs: dict

    @property
    def class_names(self) -> list[str]:
        return list(self.attrs["class_names"])


def _load(path: str) -> Split:
    from jetdistill.prepare import load_split

    X, y, index, attrs = load_split(path)
    return Split(X, y, index, attrs)


def subsample_rows(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted row positions of a stratified, seeded ``fraction`` of a split (learning curves).

    Each class is permuted once per seed and a prefix taken, so the subsets are nested
    (12.5% is inside 25% is inside 50%): points of a learning curve differ by the added
    jets only, not by a fresh draw, which keeps the curve smooth at a few seeds.
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError("learning_curve.fractions", "fractions in (0, 1]", repr(fraction))
    if fraction == 1.0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        keep.append(rng.permutation(rows)[: max(1, round(fraction * len(rows)))])
    return np.sort(np.concatenate(keep))


def _subsample(split: Split, rows: np.ndarray) -> Split:
    return Split(split.X[rows], split.y[rows], split.index[rows], split.attrs)


def _batches(split: Split, teacher_logits: np.ndarray | None = None):
    from jetdistill.training import Batches

    return Batches.from_numpy(split.X, split.y, teacher_logits)


@contextmanager
def _run(
    ctx: JobContext, *, name: str, role: str, method: str, tags: dict | None = None
) -> Iterator[Any]:
    from jetdistill import tracking

    with tracking.job_run(
        _tracking_cfg(ctx), name=name, rule=ctx.rule, wildcards=ctx.wildcards, role=role, method=method,
        tags={k: str(v) for k, v in (tags or {}).items()},
    ) as run:  # fmt: skip
        run.log_params(_common_params(ctx, role, method))
        if ctx.config:
            run.log_dict(ctx.config, "config/resolved_config.json")
        yield run


def _common_params(ctx: JobContext, role: str, method: str) -> dict[str, str]:
    """The params shared by every run (``tracking.COMMON_PARAMS``) from wildcards and params.

    KD settings come from the ``T``/``alpha`` wildcards (float students) or, for QAT and
    FPGA jobs of ``mode`` kd, from ``compression.kd``; float models (teachers, float
    students) are ``bits`` 32 / ``sparsity`` 0; the comparison jobs carry only role/method.
    """
    from jetdistill import tracking

    w, p = ctx.wildcards, ctx.params
    temperature = alpha = None
    if "T" in w:
        temperature, alpha = w["T"], w["alpha"]
    elif w.get("mode") == "kd" and "kd" in p.get("compression", {}):
        temperature, alpha = p["compression"]["kd"]["temperature"], p["compression"]["kd"]["alpha"]
    is_model = role in ("teacher", "student")
    return tracking.common_params(
        role=role, method=method, student=w.get("student"), temperature=temperature, alpha=alpha,
        bits=w.get("bits", 32 if is_model else None),
        sparsity=w.get("sparsity", 0.0 if is_model else None),
        seed=w.get("seed", p.get("seed")),
    )  # fmt: skip


def _write_history(history: list[dict], path: str) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def _write_npy(arr: np.ndarray, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)


def _result_record(ctx: JobContext, run: Any, *, role: str, method: str, metrics: dict,
                   extra: dict | None = None) -> dict:  # fmt: skip
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


def _log_eval_plots(run: Any, logits: np.ndarray, split: Split, label: str) -> None:
    from jetdistill import metrics as M

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


def _norm_path(split_path: str) -> Path:
    return Path(split_path).parent / "norm.json"


def _train_and_eval(ctx: JobContext, run: Any, model: Any, train: Split, val: Split, test: Split, *,
                    train_cfg: dict, loss_fn: Any, seed: int, t_train=None, t_val=None,
                    step_hook=None, label: str = "model") -> tuple[Any, np.ndarray, dict]:  # fmt: skip
    from jetdistill import metrics as M
    from jetdistill.training import TrainConfig, fit, predict_logits

    cfg = TrainConfig.from_dict(train_cfg)
    run.log_params({"train": train_cfg, "seed": seed, "n_train": len(train.y), "n_val": len(val.y),
                    "n_test": len(test.y), "input_shape": list(train.X.shape[1:])})  # fmt: skip
    result = fit(
        model, _batches(train, t_train), _batches(val, t_val), cfg, loss_fn, seed=seed,
        step_hook=step_hook, epoch_callback=lambda epoch, rec: run.log_metrics(rec, step=epoch),
    )  # fmt: skip
    logits = predict_logits(model, test.X)
    metrics = M.classification_metrics(logits, test.y, test.class_names)
    metrics.update({"train_seconds": result.train_seconds, "samples_per_s": result.samples_per_s,
                    "best_epoch": result.best_epoch})  # fmt: skip
    _log_eval_plots(run, logits, test, label)
    return result, logits, metrics


# --------------------------------------------------------------------------- tracking
def start_invocation(tracking_cfg: dict) -> None:
    """Main-process hook (Snakemake ``onstart``): store, experiment and parent run exist before jobs."""
    from jetdistill import tracking

    cfg = tracking.TrackingConfig.from_dict(tracking_cfg)
    # bounded by tracking.timeout_s: fail in seconds, not after MLflow's retries
    tracking.probe(cfg)
    tracking.init_store(cfg)
    inv = tracking.invocation_id()
    run_id = tracking.ensure_parent_run(cfg, inv)
    tracking.claim_invocation(cfg, run_id)
    tracking.close_orphaned_invocations(cfg, inv)
    os.environ["JETDISTILL_PARENT_RUN_ID"] = run_id


def end_invocation(tracking_cfg: dict, *, success: bool) -> None:
    """Main-process hook (``onsuccess``/``onerror``): close the invocation's parent run."""
    from jetdistill import tracking

    run_id = os.environ.get("JETDISTILL_PARENT_RUN_ID")
    if run_id:
        tracking.end_parent_run(tracking.TrackingConfig.from_dict(tracking_cfg), run_id,
                                "FINISHED" if success else "FAILED")  # fmt: skip


def runs_hint(tracking_cfg: dict) -> str:
    """What to open after a run: the MLflow runs table with the student runs, best first."""
    from jetdistill import tracking

    cfg = tracking.TrackingConfig.from_dict(tracking_cfg)
    start = "" if cfg.is_server else "start `mlflow ui` in the project root, then open\n"
    text = f"MLflow: {start}  student runs, best first: {tracking.student_runs_url(cfg)}"
    compare = tracking.kd_vs_solo_compare_url(cfg)
    if compare:
        text += f"\n  KD vs solo side by side (one seed): {compare}"
    return text


def init_tracking(ctx: JobContext) -> None:
    from jetdistill import tracking

    cfg = _tracking_cfg(ctx)
    exp_id = tracking.init_store(cfg)
    write_json(
        ctx.output["marker"],
        {"experiment_id": exp_id, "uri": cfg.display_uri, "experiment": cfg.experiment},
    )


# --------------------------------------------------------------------------- teachers
def train_teacher(ctx: JobContext) -> None:
    from jetdistill import metrics as M  # noqa: F401  (imported for plots in _train_and_eval)
    from jetdistill.models import model_card
    from jetdistill.training import cross_entropy_loss, save_checkpoint

    spec, seed = ctx.params["model"], int(ctx.params["seed"])
    seed_everything(seed)
    train, val, test = (_load(ctx.input[s]) for s in ("teacher_train", "val", "test"))
    fraction = float(ctx.params.get("fraction", 1.0))
    train = _subsample(train, subsample_rows(train.y, fraction, seed))
    model = _build(spec, train.X.shape[1:], len(train.class_names))
    tags = {"model": spec["name"], "seed": seed, "teacher": ctx.wildcards["teacher"],
            "train_fraction": fraction}  # fmt: skip
    with _run(ctx, name=f"teacher-{ctx.wildcards['teacher']}-m{ctx.wildcards['member']}", role="teacher",
              method="teacher", tags=tags) as run:  # fmt: skip
        run.log_params({"model": spec})
        run.log_artifact(str(_norm_path(ctx.input["teacher_train"])), "data")
        result, _logits, metrics = _train_and_eval(
            ctx, run, model, train, val, test, train_cfg=ctx.params["train"],
            loss_fn=cross_entropy_loss(float(ctx.params["train"].get("label_smoothing", 0.0))), seed=seed,
            label=f"teacher {ctx.wildcards['teacher']}",
        )  # fmt: skip
        run.log_metrics(metrics)
        card = model_card(model, _arch(spec), tuple(train.X.shape[1:]))
        run.log_state_dict(model, card)
        save_checkpoint(model, ctx.output["model"])
        _write_history(result.history, ctx.output["history"])
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="teacher", method="teacher",
                                                          metrics=metrics, extra={**tags, "n_train": len(train.y)}))  # fmt: skip


def compute_soft_targets(ctx: JobContext) -> None:
    """Run every member of a teacher once over transfer/val/test and cache the logits."""
    from jetdistill import metrics as M
    from jetdistill.softtargets import compute_soft_targets as compute
    from jetdistill.training import load_checkpoint

    members = ctx.params["members"]
    teacher = ctx.wildcards["teacher"]
    splits_by_view: dict[str, dict[str, Split]] = {}
    models = []
    for spec, ckpt in zip(members, ctx.input["models"], strict=True):
        view = spec["view"]
        if view not in splits_by_view:
            splits_by_view[view] = {
                s: _load(ctx.input[f"{view}__{s}"]) for s in ("transfer", "val", "test")
            }
        ref = splits_by_view[view]["transfer"]
        model = _build(spec, ref.X.shape[1:], len(ref.class_names))
        load_checkpoint(model, ckpt)
        models.append((model, view))
    splits = {
        s: {v: (sp[s].X, sp[s].y, sp[s].index) for v, sp in splits_by_view.items()}
        for s in ("transfer", "val", "test")
    }
    method = "ensemble" if len(models) > 1 else "teacher"
    with _run(ctx, name=f"soft-targets-{teacher}", role="teacher", method=method,
              tags={"teacher": teacher, "members": len(models)}) as run:  # fmt: skip
        run.log_params({"members": members})
        with atomic_path(ctx.output["soft_targets"]) as tmp:
            compute(models, splits, tmp)
        from jetdistill.softtargets import load_soft_targets

        test = next(iter(splits_by_view.values()))["test"]
        logits = load_soft_targets(ctx.output["soft_targets"], "test", test.index)
        metrics = M.classification_metrics(logits, test.y, test.class_names)
        run.log_metrics(metrics)
        _log_eval_plots(run, logits, test, f"teacher {teacher}")
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="teacher", method=method, metrics=metrics,
                                                          extra={"teacher": teacher, "model": teacher}))  # fmt: skip


# --------------------------------------------------------------------------- students
def train_student(ctx: JobContext) -> None:
    """Solo (``train_student_solo``) or distilled (``distill_student``) float student."""
    from jetdistill import metrics as M
    from jetdistill.cost import cost_metrics
    from jetdistill.losses import build_loss
    from jetdistill.models import model_card
    from jetdistill.softtargets import load_soft_targets
    from jetdistill.training import save_checkpoint

    spec, w = ctx.params["model"], ctx.wildcards
    seed = int(w["seed"])
    kd = ctx.params.get("kd")
    seed_everything(seed)
    train, val, test = (_load(ctx.input[s]) for s in ("transfer", "val", "test"))
    model = _build(spec, train.X.shape[1:], len(train.class_names))
    tl = ctx.params["train"].get("label_smoothing", 0.0)
    if kd:
        st = ctx.input["soft_targets"]
        t_train = load_soft_targets(st, "transfer", train.index)
        t_val = load_soft_targets(st, "val", val.index)
        t_test = load_soft_targets(st, "test", test.index)
        loss_fn = build_loss(kd["method"], temperature=kd["temperature"], alpha=kd["alpha"],
                             dkd_alpha=kd.get("dkd_alpha", 1.0), dkd_beta=kd.get("dkd_beta", 8.0),
                             label_smoothing=tl)  # fmt: skip
        method, teacher = "kd", w["teacher"]
    else:
        t_train = t_val = None
        t_test = load_soft_targets(ctx.input["fidelity"], "test", test.index)
        loss_fn = build_loss("ce", label_smoothing=tl)
        method, teacher = "solo", None
    fraction = float(ctx.params.get("fraction", 1.0))
    rows = subsample_rows(train.y, fraction, seed)
    train = _subsample(train, rows)
    t_train = None if t_train is None else t_train[rows]
    tags = {"model": spec["name"], "student": spec["name"], "seed": seed, "train_fraction": fraction,
            "teacher": teacher or "", "kd_method": (kd or {}).get("method", "")}  # fmt: skip
    name = f"{method}-{spec['name']}-s{seed}" + (
        f"-{teacher}-{kd['method']}-T{w['T']}-a{w['alpha']}" if kd else ""
    )
    with _run(ctx, name=name, role="student", method=method, tags=tags) as run:
        run.log_params({"model": spec, "kd": kd or {"method": "none"}})
        run.log_artifact(str(_norm_path(ctx.input["transfer"])), "data")
        result, logits, metrics = _train_and_eval(
            ctx, run, model, train, val, test, train_cfg=ctx.params["train"], loss_fn=loss_fn, seed=seed,
            t_train=t_train, t_val=t_val, label=name,
        )  # fmt: skip
        metrics.update(M.fidelity_metrics(logits, t_test))
        metrics.update(cost_metrics(model, tuple(train.X.shape[1:])))
        run.log_metrics(metrics)
        run.log_state_dict(model, model_card(model, _arch(spec), tuple(train.X.shape[1:])))
        save_checkpoint(model, ctx.output["model"])
        _write_npy(logits.astype(np.float32), ctx.output["logits"])
        _write_history(result.history, ctx.output["history"])
        extra = {"student": spec["name"], "model": spec["name"], "seed": seed, "teacher": teacher,
                 "kd_method": kd["method"] if kd else None,
                 "temperature": kd["temperature"] if kd else None, "alpha": kd["alpha"] if kd else None,
                 "train_fraction": fraction, "n_train": len(train.y)}  # fmt: skip
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="student", method=method,
                                                          metrics=metrics, extra=extra))  # fmt: skip


# --------------------------------------------------------------------------- compression
def _quant_model(spec: dict, input_shape: tuple[int, ...], n_classes: int, bits: int, comp: dict):
    from jetdistill.quant import build_quant_model

    return build_quant_model(_arch(spec), input_shape, n_classes, bits, int(comp["input_bits"]),
                             bias_bits=int(comp["accumulator_bits"]), name=spec.get("name"))  # fmt: skip


def train_qat(ctx: JobContext) -> None:
    """QAT (solo or KD) with iterative pruning to the target sparsity; masks fixed between steps."""
    from jetdistill import metrics as M
    from jetdistill.cost import cost_metrics
    from jetdistill.losses import build_loss
    from jetdistill.prune import Pruner, sparsity_schedule
    from jetdistill.quant import load_float_weights
    from jetdistill.softtargets import load_soft_targets
    from jetdistill.training import load_checkpoint, save_checkpoint

    spec, w, comp = ctx.params["model"], ctx.wildcards, ctx.params["compression"]
    seed, bits, sparsity, mode = int(w["seed"]), int(w["bits"]), float(w["sparsity"]), w["mode"]
    seed_everything(seed)
    train, val, test = (_load(ctx.input[s]) for s in ("transfer", "val", "test"))
    shape, n_classes = tuple(train.X.shape[1:]), len(train.class_names)
    qmodel = _quant_model(spec, shape, n_classes, bits, comp)
    if "float_model" in ctx.input:
        fmodel = _build(spec, shape, n_classes)
        load_checkpoint(fmodel, ctx.input["float_model"])
        import torch

        # calibrate activation scales on data so fine-tuning starts from the float accuracy
        load_float_weights(qmodel, fmodel, calib_x=torch.as_tensor(train.X[:2048]))
    t_test = load_soft_targets(ctx.input["fidelity"], "test", test.index)
    if mode == "kd":
        kd = comp["kd"]
        st = ctx.input["soft_targets"]
        t_train, t_val = (
            load_soft_targets(st, "transfer", train.index),
            load_soft_targets(st, "val", val.index),
        )
        t_test = load_soft_targets(st, "test", test.index)
        loss_fn = build_loss(
            kd["method"],
            temperature=kd["temperature"],
            alpha=kd["alpha"],
            dkd_alpha=kd["dkd_alpha"],
            dkd_beta=kd["dkd_beta"],
        )
    else:
        t_train = t_val = None
        loss_fn = build_loss("ce")
    tags = {"model": spec["name"], "student": spec["name"], "seed": seed, "bits": bits,
            "sparsity": w["sparsity"], "qat_mode": mode}  # fmt: skip
    name = f"qat-{mode}-{spec['name']}-b{bits}-s{w['sparsity']}-seed{seed}"
    with _run(ctx, name=name, role="student", method=f"qat_{mode}", tags=tags) as run:
        run.log_params({"model": spec, "compression": comp, "bits": bits, "sparsity": sparsity})
        pcfg = comp["pruning"]
        history: list[dict] = []
        pruner = None
        if sparsity > 0:
            pruner = Pruner(qmodel, scope=pcfg["scope"], criterion=pcfg["criterion"])
            step_cfg = {
                **ctx.params["train"],
                "epochs": int(pcfg["epochs_per_step"]),
                "patience": 0,
            }
            from jetdistill.training import TrainConfig, fit

            for i, target in enumerate(sparsity_schedule(sparsity, int(pcfg["steps"]))):
                batch = None
                if pcfg["criterion"] == "obd":
                    import torch

                    n = min(2048, len(train.y))
                    t_b = None if t_train is None else torch.as_tensor(t_train[:n])
                    batch = (
                        torch.as_tensor(train.X[:n]),
                        torch.as_tensor(train.y[:n]),
                        t_b,
                        loss_fn,
                    )
                pruner.step(target, saliency_batch=batch)
                res = fit(qmodel, _batches(train, t_train), _batches(val, t_val), TrainConfig.from_dict(step_cfg),
                          loss_fn, seed=seed + i, step_hook=pruner.apply)  # fmt: skip
                for rec in res.history:
                    rec = {**rec, "prune_step": i, "target_sparsity": target}
                    history.append(rec)
                run.log_metrics({"weight_sparsity": pruner.sparsity()}, step=i)
        result, logits, metrics = _train_and_eval(
            ctx, run, qmodel, train, val, test, train_cfg=ctx.params["train"], loss_fn=loss_fn, seed=seed,
            t_train=t_train, t_val=t_val, step_hook=pruner.apply if pruner else None, label=name,
        )  # fmt: skip
        history.extend(result.history)
        metrics.update(M.fidelity_metrics(logits, t_test))
        metrics.update(cost_metrics(qmodel, shape))
        if pruner is not None:
            metrics["weight_sparsity"] = pruner.sparsity()
        run.log_metrics(metrics)
        card = {"type": spec["type"], "bits": bits, "input_bits": comp["input_bits"], "sparsity": sparsity,
                "quantizers": "power-of-two per-tensor fixed point, FLOOR activation rounding"}  # fmt: skip
        run.log_state_dict(qmodel, card)
        save_checkpoint(qmodel, ctx.output["model"])
        _write_history(history, ctx.output["history"])
        extra = {"student": spec["name"], "model": spec["name"], "seed": seed, "bits": bits,
                 "sparsity": sparsity, "qat_mode": mode}  # fmt: skip
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="student", method=f"qat_{mode}",
                                                          metrics=metrics, extra=extra))  # fmt: skip


# --------------------------------------------------------------------------- FPGA
def _fpga_setup(ctx: JobContext):
    from jetdistill.training import load_checkpoint

    spec, w, comp, fpga = (
        ctx.params["model"],
        ctx.wildcards,
        ctx.params["compression"],
        ctx.params["fpga"],
    )
    test = _load(ctx.input["test"])
    shape = tuple(test.X.shape[1:])
    qmodel = _quant_model(spec, shape, len(test.class_names), int(w["bits"]), comp)
    load_checkpoint(qmodel, ctx.input["model"])
    qmodel.eval()
    n = min(int(fpga["test_samples"]), len(test.y))
    return spec, w, fpga, qmodel, shape, test, n


def _hls_cfg(fpga: dict):
    from jetdistill.hls import HLSConfig

    return HLSConfig.from_dict(fpga)


def convert_hls(ctx: JobContext) -> None:
    from jetdistill import hls

    spec, w, fpga, qmodel, shape, test, n = _fpga_setup(ctx)
    tags = {"model": spec["name"], "student": spec["name"], "seed": w["seed"], "bits": w["bits"],
            "sparsity": w["sparsity"], "qat_mode": w["mode"]}  # fmt: skip
    with _run(ctx, name=f"hls-{w['mode']}-{spec['name']}-b{w['bits']}-s{w['sparsity']}", role="student",
              method="hls", tags=tags) as run, tempfile.TemporaryDirectory() as d:  # fmt: skip
        cfg = _hls_cfg(fpga)
        run.log_params({"fpga": fpga})
        metrics = hls.convert_quantized(qmodel, shape, test.X[:n], Path(d) / "hls_project", cfg)
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        run.log_metrics(numeric)
        run.log_dict({k: str(v) for k, v in metrics.items() if k not in numeric}, "hls/info.json")
        hls.tar_project(Path(d) / "hls_project", ctx.output["project"])
        run.log_artifact(ctx.output["project"], "hls")
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="student", method="hls", metrics=numeric,
                                                          extra={**tags, "info": {k: str(v) for k, v in metrics.items() if k not in numeric}}))  # fmt: skip


def estimate_rtl(ctx: JobContext) -> None:
    from jetdistill import rtl

    spec, w, fpga, qmodel, shape, test, n = _fpga_setup(ctx)
    tags = {"model": spec["name"], "student": spec["name"], "seed": w["seed"], "bits": w["bits"],
            "sparsity": w["sparsity"], "qat_mode": w["mode"]}  # fmt: skip
    with _run(ctx, name=f"rtl-{w['mode']}-{spec['name']}-b{w['bits']}-s{w['sparsity']}", role="student",
              method="rtl", tags=tags) as run, tempfile.TemporaryDirectory() as d:  # fmt: skip
        run.log_params({"fpga": fpga})
        res = rtl.estimate_rtl(qmodel, shape, test.X[: min(n, 500)], Path(d), clock_period_ns=fpga["clock_period_ns"],
                               yosys=fpga["yosys"])  # fmt: skip
        numeric = {
            k: v for k, v in res.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        run.log_metrics(numeric)
        vpath = res.get("verilog_path")
        if vpath and Path(vpath).exists():
            p = Path(vpath)
            (run.log_artifacts if p.is_dir() else run.log_artifact)(str(p), "rtl")
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="student", method="rtl", metrics=numeric,
                                                          extra=tags))  # fmt: skip


def convert_hls_float(ctx: JobContext) -> None:
    from jetdistill import hls
    from jetdistill.training import load_checkpoint

    spec, w, fpga = ctx.params["model"], ctx.wildcards, ctx.params["fpga"]
    test = _load(ctx.input["test"])
    shape = tuple(test.X.shape[1:])
    model = _build(spec, shape, len(test.class_names))
    load_checkpoint(model, ctx.input["model"])
    model.eval()
    n = min(int(fpga["test_samples"]), len(test.y))
    tags = {"model": spec["name"], "student": spec["name"], "seed": w["seed"]}
    with _run(ctx, name=f"hls-float-{spec['name']}-s{w['seed']}", role="student", method="hls_float",
              tags=tags) as run, tempfile.TemporaryDirectory() as d:  # fmt: skip
        metrics = hls.convert_float(model, shape, test.X[:n], Path(d) / "hls_project", _hls_cfg(fpga),
                                    precision=fpga["float_precision"])  # fmt: skip
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        run.log_metrics(numeric)
        hls.tar_project(Path(d) / "hls_project", ctx.output["project"])
        run.log_artifact(ctx.output["project"], "hls")
        write_json(ctx.output["metrics"], _result_record(ctx, run, role="student", method="hls_float",
                                                          metrics=numeric, extra=tags))  # fmt: skip


# --------------------------------------------------------------------------- aggregation
KD_NOTES = (
    (
        "Accuracies are fractions of the test set, mean ± std over seeds; Δ is KD minus solo in "
        "percentage points, paired seed by seed, ± its standard error; gap closed = "
        "(KD - solo) / (teacher - solo). Same data, budget and seeds for KD and solo."
    ),
)
FRONTIER_NOTES = (
    (
        "Quantised students (QAT) per bit width x sparsity x {solo, KD} and the float students "
        "they start from. Accuracy in % (mean ± std over seeds); drop vs float in percentage "
        "points, paired by seed (± SE); BOPs (arXiv:1804.10969) and their reduction against the "
        "float32 dense solo student; LUTs and cycles of the converted seed (RTL estimate)."
    ),
)


def _records(paths: list[str] | str) -> pd.DataFrame:
    """metrics.json records as a frame: one row per job, identifying fields then metrics."""
    rows = []
    for p in [paths] if isinstance(paths, str) else paths:
        rec = read_json(p)
        row = dict(rec.get("metrics", {}))
        row.update({k: v for k, v in rec.items() if k not in ("metrics", "wildcards", "info")})
        row["path"] = str(p)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_students(ctx: JobContext) -> None:
    from jetdistill import compare, tables

    df = pd.concat([_records(ctx.input["solo"]), _records(ctx.input["kd"])], ignore_index=True)
    teachers = _records(ctx.input["teachers"])
    teacher_acc = dict(zip(teachers["teacher"], teachers["test_accuracy"], strict=True))
    omitted = list(ctx.params.get("omitted") or [])
    teacher_recall = {
        r["teacher"]: {c: r.get(f"test_recall_{c}") for c in omitted}
        for _, r in teachers.iterrows()
    }
    table = compare.comparison_table(
        df, teacher_acc, omitted=omitted, teacher_recall=teacher_recall
    )
    baselines = list(ctx.params.get("baselines") or [])
    auc = teachers["test_auc_mean"] if "test_auc_mean" in teachers else [np.nan] * len(teachers)
    teacher_auc = dict(zip(teachers["teacher"], auc, strict=True))
    reference = compare.reference_table(df, teacher_acc, baselines, teacher_auc)
    df = df[~df["student"].isin(baselines)]  # plots and ROC: students only
    with _run(ctx, name="comparison-kd-vs-solo", role="comparison", method="compare") as run:
        with atomic_path(ctx.output["table"]) as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(ctx.output["reference"]) as tmp:
            reference.to_csv(tmp, index=False)
        with atomic_path(ctx.output["markdown"]) as tmp:
            tmp.write_text("## Teacher, baselines and solo students (test set)\n\n"
                           + compare.reference_markdown(reference)
                           + "\n## KD vs solo (paired by seed)\n\n" + compare.to_markdown(table) + "\n")  # fmt: skip
        with atomic_path(ctx.output["html"]) as tmp:
            tmp.write_text(tables.html({"Teacher, baselines and solo students": compare.readable_reference(reference),
                                        "KD vs solo, paired by seed": compare.readable_table(table)},
                                       "Knowledge distillation vs training alone", KD_NOTES))  # fmt: skip
        plots = {
            "acc_vs_T": compare.plot_accuracy_vs_temperature,
            "acc_vs_alpha": compare.plot_accuracy_vs_alpha,
            "agreement": compare.plot_agreement_vs_accuracy,
        }
        for key, fn in plots.items():
            with atomic_path(ctx.output[key]) as tmp:
                if key == "agreement":
                    fn(df, tmp)
                else:
                    fn(df, tmp, teacher_acc=teacher_acc)
        _comparison_roc(ctx, df, teachers, ctx.output["roc"])
        for key in ("table", "reference", "markdown", "html", *plots, "roc"):
            run.log_artifact(ctx.output[key], "comparison")
        if not table.empty:
            best = table.sort_values("kd_mean", ascending=False).iloc[0]
            keys = ("solo_mean", "kd_mean", "diff_mean", "diff_se", "gap_closed",
                    *(f"{w}_recall_{c}_mean" for c in omitted for w in ("solo", "kd")))  # fmt: skip
            run.log_metrics(
                {f"best_{k}": float(best[k]) for k in keys if k in best and pd.notna(best[k])}
            )


def _comparison_roc(ctx: JobContext, df: pd.DataFrame, teachers: pd.DataFrame, out: str) -> None:
    """ROC of teacher, solo and the best KD configuration for the first student, first seed."""
    from jetdistill import metrics as M
    from jetdistill.softtargets import load_soft_targets

    kd = df[df["method"] == "kd"]
    student = df["student"].iloc[0]
    seed = min(df["seed"].unique())
    curves = {}
    solo = df[(df["method"] == "solo") & (df["student"] == student) & (df["seed"] == seed)]
    view_test = None
    if not kd.empty:
        grp = kd[kd["student"] == student].groupby(
            ["teacher", "kd_method", "temperature", "alpha"]
        )["test_accuracy"]
        t, m, T, a = grp.mean().idxmax()
        row = kd[(kd["student"] == student) & (kd["teacher"] == t) & (kd["kd_method"] == m)
                 & (kd["temperature"] == T) & (kd["alpha"] == a) & (kd["seed"] == seed)].iloc[0]  # fmt: skip
        kd_dir = Path(row["path"]).parent
        view_test = ctx.config["models"][student]["view"]
        test = _load(f"{ctx.config['results']}/data/views/{view_test}/test.h5")
        st = Path(ctx.config["results"]) / "soft_targets" / f"{t}.h5"
        curves[f"teacher {t}"] = (load_soft_targets(str(st), "test", test.index), test.y)
        curves[f"KD {student} ({m}, T={T:g}, a={a:g})"] = (
            np.load(kd_dir / "test_logits.npy"),
            test.y,
        )
    if not solo.empty:
        if view_test is None:
            view_test = ctx.config["models"][student]["view"]
            test = _load(f"{ctx.config['results']}/data/views/{view_test}/test.h5")
        curves[f"solo {student}"] = (
            np.load(Path(solo.iloc[0]["path"]).parent / "test_logits.npy"),
            test.y,
        )
    with atomic_path(out) as tmp:
        M.plot_roc(curves, test.class_names, tmp)


def plot_frontier(ctx: JobContext) -> None:
    from jetdistill import frontier, tables

    qat = _records(ctx.input["qat"])
    floats = pd.concat([_records(ctx.input["solo"]), _records(ctx.input["kd"])], ignore_index=True)
    kd = ctx.config.get("compression", {}).get("kd")
    if kd and "kd_method" in floats:
        # the float KD reference is the KD student trained with QAT+KD's own settings
        ref = (floats["kd_method"] == kd["method"]) & np.isclose(floats["temperature"].astype(float),
                                                                  kd["temperature"]) & np.isclose(
            floats["alpha"].astype(float), kd["alpha"])  # fmt: skip
        floats = floats[(floats["method"] == "solo") | ref]
    fpga = _records(ctx.input["fpga"]) if ctx.input["fpga"] else pd.DataFrame()
    table = frontier.frontier_table(qat, floats, fpga)
    with _run(ctx, name="compression-frontier", role="comparison", method="frontier") as run:
        with atomic_path(ctx.output["table"]) as tmp:
            table.to_csv(tmp, index=False)
        readable = {"Accuracy-cost frontier": frontier.readable_table(table)}
        with atomic_path(ctx.output["markdown"]) as tmp:
            tmp.write_text(tables.markdown(readable, "Compression frontier", FRONTIER_NOTES))
        with atomic_path(ctx.output["html"]) as tmp:
            tmp.write_text(tables.html(readable, "Compression frontier", FRONTIER_NOTES))
        with atomic_path(ctx.output["plot"]) as tmp:
            frontier.plot_frontier(table, tmp)
        for key in ("table", "markdown", "html", "plot"):
            run.log_artifact(ctx.output[key], "compression")


def summarize(ctx: JobContext) -> None:
    """One row per model of this DAG, read back from MLflow by the run ids its jobs recorded.

    Selecting by run id (not by invocation) keeps models that an earlier invocation
    built and this one reused, and nothing else.
    """
    from jetdistill import tracking
    from jetdistill.summary import readable_html, readable_markdown, summary_table

    run_ids = {read_json(p)["run_id"] for p in ctx.input["metrics"]}
    runs = tracking.search(_tracking_cfg(ctx))
    runs = runs[runs["run_id"].isin(run_ids)]
    missing = run_ids - set(runs["run_id"])
    if missing:
        log.warning("%d run(s) named by metrics.json files are not in the tracking store: %s", len(missing),
                    sorted(missing)[:5])  # fmt: skip
    table = summary_table(runs)
    with atomic_path(ctx.output["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(ctx.output["markdown"]) as tmp:
        tmp.write_text(readable_markdown(table))
    with atomic_path(ctx.output["html"]) as tmp:
        tmp.write_text(readable_html(table))


LC_NOTES = (
    (
        "Teacher: fractions of teacher_train; baselines and the student (solo and KD with the "
        "full teacher's soft targets): fractions of transfer. Subsets are stratified and nested; "
        "the largest point is the main run's model. Extrapolations come from a saturating power "
        "law a - b n^-c fitted to the points: indicative only."
    ),
)


def plot_learning_curve(ctx: JobContext) -> None:
    """Learning-curve table, markdown and plot from the metrics.json of every curve point."""
    from jetdistill import learning_curve as lc
    from jetdistill import tables

    labels: dict[str, str] = ctx.params["curves"]
    df = _records(ctx.input["points"])
    df["curve"] = [labels[p] for p in df["path"]]
    table = lc.learning_curve_table(df)
    with _run(ctx, name="learning-curve", role="comparison", method="learning_curve") as run:
        with atomic_path(ctx.output["table"]) as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(ctx.output["markdown"]) as tmp:
            tmp.write_text(lc.to_markdown(table))
        with atomic_path(ctx.output["html"]) as tmp:
            tmp.write_text(tables.html({"Learning curves": lc.readable_table(table)},
                                       "Test accuracy against training jets", LC_NOTES))  # fmt: skip
        with atomic_path(ctx.output["plot"]) as tmp:
            lc.plot_learning_curve(table, tmp)
        for key in ("table", "markdown", "html", "plot"):
            run.log_artifact(ctx.output[key], "learning_curve")
