"""Rules ``train_teacher`` (and ``train_teacher_fraction``) and ``compute_soft_targets``."""

from __future__ import annotations

import numpy as np

from jetdistill.data.splits import subsample_rows
from jetdistill.identity import TeacherMember
from jetdistill.io import atomic_path, write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext, Split
from jetdistill.seeding import seed_everything


def train_teacher(ctx: JobContext) -> None:
    """One teacher member (of a possibly one-member ensemble), trained with cross entropy."""
    from jetdistill.learn.losses import build_loss
    from jetdistill.learn.models import model_card
    from jetdistill.learn.training import save_checkpoint

    spec, seed = ctx.params["model"], int(ctx.params["seed"])
    seed_everything(seed)
    train, val, test = (C.load_split(ctx.input[s]) for s in ("teacher_train", "val", "test"))
    fraction = float(ctx.params.get("fraction", 1.0))
    train = train.subset(subsample_rows(train.y, fraction, seed))
    shape, n_classes = tuple(train.X.shape[1:]), len(train.class_names)
    model = C.build(spec, shape, n_classes)
    job = TeacherMember.from_wildcards(ctx.wildcards)
    tags = {
        "model": spec["name"],
        "seed": seed,
        "teacher": job.teacher,
        "train_fraction": fraction,
    }
    with C.job_run(ctx, name=job.run_name(), role="teacher", method="teacher", tags=tags) as run:
        run.log_params({"model": spec})
        run.log_artifact(ctx.input["norm"], "data")
        smoothing = float(ctx.params["train"].get("label_smoothing", 0.0))
        result, _logits, metrics = C.train_and_eval(
            run, model, train, val, test, train_cfg=ctx.params["train"],
            loss_fn=build_loss("ce", label_smoothing=smoothing), seed=seed,
            label=f"teacher {job.teacher}",
        )  # fmt: skip
        run.log_metrics(metrics)
        run.log_state_dict(model, model_card(model, C.arch(spec), shape))
        save_checkpoint(model, ctx.output["model"], C.float_meta(spec, shape, n_classes))
        C.write_history(result.history, ctx.output["history"])
        record = C.result_record(ctx, run, role="teacher", method="teacher", metrics=metrics,
                                 extra={**tags, "n_train": len(train.y)})  # fmt: skip
        write_json(ctx.output["metrics"], record)


def compute_soft_targets(ctx: JobContext) -> None:
    """Run every member of a teacher once over transfer/val/test and cache the logits.

    The members are rebuilt from their self-describing checkpoints (type, hyper-parameters,
    view), so this job needs no model settings."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import compute_soft_targets as compute
    from jetdistill.learn.softtargets import load_soft_targets

    teacher = ctx.wildcards["teacher"]
    splits_by_view: dict[str, dict[str, Split]] = {}
    models, members = [], []
    for ckpt in ctx.input["models"]:
        model, meta = load_model(ckpt)
        view = meta["view"]
        if view not in splits_by_view:
            splits_by_view[view] = {
                s: C.load_split(ctx.input[f"{view}__{s}"]) for s in ("transfer", "val", "test")
            }
        models.append((model, view))
        members.append({"name": meta["name"], "view": view, **meta["spec"]})
    splits = {
        s: {v: (sp[s].X, sp[s].y, sp[s].index) for v, sp in splits_by_view.items()}
        for s in ("transfer", "val", "test")
    }
    method = "ensemble" if len(models) > 1 else "teacher"
    with C.job_run(ctx, name=f"soft-targets-{teacher}", role="teacher", method=method,
                   tags={"teacher": teacher, "members": len(models)}) as run:  # fmt: skip
        run.log_params({"members": members})
        with atomic_path(ctx.output["soft_targets"]) as tmp:
            compute(models, splits, tmp)
        test = next(iter(splits_by_view.values()))["test"]
        logits = load_soft_targets(ctx.output["soft_targets"], "test", test.index)
        metrics = M.classification_metrics(logits, test.y, test.class_names)
        run.log_metrics(metrics)
        C.log_eval_plots(run, np.asarray(logits), test, f"teacher {teacher}")
        record = C.result_record(ctx, run, role="teacher", method=method, metrics=metrics,
                                 extra={"teacher": teacher, "model": teacher})  # fmt: skip
        write_json(ctx.output["metrics"], record)


def compute_unlabelled_soft_targets(ctx: JobContext) -> None:
    """Run every member of a teacher once over the students' unlabelled jets and cache the
    logits (``distillation.unlabelled``), in a file of their own: the labelled soft targets,
    and every job that reads them, stay as they are. Not an MLflow run (a data job: the
    teacher's accuracy on these jets is only logged)."""
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import compute_soft_targets as compute

    views: dict[str, Split] = {}
    models = []
    for ckpt in ctx.input["models"]:
        model, meta = load_model(ckpt)
        view = meta["view"]
        if view not in views:
            views[view] = C.load_split(ctx.input[view])
        models.append((model, view))
    splits = {"unlabelled": {v: (sp.X, sp.y, sp.index) for v, sp in views.items()}}
    with atomic_path(ctx.output["soft_targets"]) as tmp:
        compute(models, splits, tmp)
