"""Rules ``train_student_solo`` and ``distill_student`` (and their ``*_fraction`` twins)."""

from __future__ import annotations

import numpy as np

from jetdistill.data.splits import subsample_rows
from jetdistill.identity import KDJob, SoloAllJob, SoloJob
from jetdistill.io import write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn import kd_data
from jetdistill.seeding import seed_everything


def train_student(ctx: JobContext) -> None:
    """Solo (no ``kd`` param) or distilled (``kd``: the loss settings) float student."""
    from jetdistill.compress.cost import cost_metrics
    from jetdistill.learn.models import model_card
    from jetdistill.learn.training import save_checkpoint

    spec, kd = ctx.params["model"], ctx.params.get("kd")
    solo_all = not kd and "unlabelled" in ctx.input  # rule train_student_solo_all
    job = (KDJob if kd else SoloAllJob if solo_all else SoloJob).from_wildcards(ctx.wildcards)
    seed = job.seed
    seed_everything(seed)
    parts, train = C.load_train(ctx)
    val, test = (kd_data.load_split(ctx.input[s]) for s in ("val", "test"))
    views = (kd or {}).get("views") or ctx.params.get("views")
    if views:  # consistent augmented views (distillation.views), drawn per jet per epoch
        from jetdistill.data.augment import load_augmented

        train.views = load_augmented(ctx.input["augmented"], train.index, views)
    shape, n_classes = tuple(train.X.shape[1:]), len(train.class_names)
    model = C.build(spec, shape, n_classes)
    smoothing = ctx.params["train"].get("label_smoothing", 0.0)
    fraction = float(ctx.params.get("fraction", 1.0))
    rows = subsample_rows(train.y, fraction, seed)
    setup = kd_data.kd_setup(kd, train, val, test, targets=C.teacher_targets(ctx, kd),
                             label_smoothing=smoothing, parts=parts, model=model)  # fmt: skip
    setup = setup.subset(rows)
    train = train.subset(rows)
    n_labelled = len(train.y)
    train, setup = kd_data.with_unlabelled(kd, train, setup, **C.unlabelled_inputs(ctx, kd))
    name, method = job.run_name(), job.method if solo_all else "kd" if kd else "solo"
    with C.job_run(ctx, name=name, role="student", method=method, tags=job.tags(fraction)) as run:
        run.log_params({"model": spec, "kd": kd or {"method": "none"},
                        "transfer_splits": "+".join(parts), "arm": job.arm})  # fmt: skip
        if kd:  # the arm whose solo jobs are this KD student's twins (plan.solo_arm)
            run.log_params({"solo_arm": ctx.params.get("solo_arm", job.arm)})
        if len(train.y) > n_labelled:
            run.log_params({"n_unlabelled": len(train.y) - n_labelled})
        run.log_artifact(ctx.input["norm"], "data")
        result, logits, metrics = C.train_and_eval(
            run, model, train, val, test, train_cfg=ctx.params["train"], loss_fn=setup.loss_fn,
            seed=seed, t_train=setup.t_train, t_val=setup.t_val, f_train=setup.f_train,
            f_val=setup.f_val, label=name, tv_train=setup.tv_train,
        )  # fmt: skip
        metrics.update(kd_data.fidelity(model, train, logits, setup))
        metrics.update(cost_metrics(model, shape))
        run.log_metrics(metrics)
        run.log_state_dict(model, model_card(model, C.arch(spec), shape))
        save_checkpoint(model, ctx.output["model"], C.float_meta(spec, shape, n_classes))
        C.write_npy(logits.astype(np.float32), ctx.output["logits"])
        C.write_history(result.history, ctx.output["history"])
        extra = {**job.record(), "train_fraction": fraction, "n_train": len(train.y),
                 "transfer_splits": "+".join(parts), "n_unlabelled": len(train.y) - n_labelled}  # fmt: skip
        if kd:
            extra["solo_arm"] = ctx.params.get("solo_arm", job.arm)
        record = C.result_record(ctx, run, role="student", method=method, metrics=metrics,
                                 extra=extra)  # fmt: skip
        write_json(ctx.output["metrics"], record)
