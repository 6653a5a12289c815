"""Rules ``train_teacher`` (and ``train_teacher_fraction``), ``compute_soft_targets`` and the
specialists' ``choose_specialist_groups``, ``train_specialist``, ``combine_specialists``."""

from __future__ import annotations

import json

import numpy as np

from jetdistill.data.splits import subsample_rows
from jetdistill.identity import TeacherMember
from jetdistill.io import atomic_path, write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn.kd_data import Split, load_split
from jetdistill.seeding import seed_everything


def train_teacher(ctx: JobContext) -> None:
    """One teacher member (of a possibly one-member ensemble), trained with cross entropy."""
    from jetdistill.learn.losses import build_loss
    from jetdistill.learn.models import model_card
    from jetdistill.learn.training import save_checkpoint

    spec, seed = ctx.params["model"], int(ctx.params["seed"])
    seed_everything(seed)
    train, val, test = (load_split(ctx.input[s]) for s in ("teacher_train", "val", "test"))
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


def teacher_views(ctx: JobContext, splits_by_view: dict) -> tuple[dict | None, dict | None]:
    """The augmented transfer jets of every member view (``distillation.views``; None when
    off), built from the raw jets with each view's fitted normalisation."""
    views = ctx.params.get("views")
    if not views:
        return None, None
    from jetdistill.data.augment import ViewsConfig, augmented_split
    from jetdistill.io import read_json

    cfg = ViewsConfig.from_dict(views)
    out = {}
    for view, sp in splits_by_view.items():
        norm = ctx.input[f"{view}__norm"]
        out[view], _ = augmented_split(
            ctx.input["splits"], read_json(norm)["view"], norm, "transfer", cfg,
            data_cfg=ctx.params.get("data"), view_name=view, expected_index=sp["transfer"].index,
        )  # fmt: skip
    return {"transfer": out}, dict(views)


def compute_soft_targets(ctx: JobContext) -> None:
    """Run every member of a teacher once over every split its inputs name (``{view}__{split}``:
    the splits a student may learn from, val and test) and cache the logits.

    The members are rebuilt from their self-describing checkpoints (type, hyper-parameters,
    view), so this job needs no model settings."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import compute_soft_targets as compute
    from jetdistill.learn.softtargets import load_soft_targets

    teacher = ctx.wildcards["teacher"]
    split_names = list(dict.fromkeys(k.split("__", 1)[1] for k in ctx.input if "__" in k))
    splits_by_view: dict[str, dict[str, Split]] = {}
    models, members = [], []
    for ckpt in ctx.input["models"]:
        model, meta = load_model(ckpt)
        view = meta["view"]
        if view not in splits_by_view:
            splits_by_view[view] = {s: load_split(ctx.input[f"{view}__{s}"]) for s in split_names}
        models.append((model, view))
        members.append({"name": meta["name"], "view": view, **meta["spec"]})
    splits = {
        s: {v: (sp[s].X, sp[s].y, sp[s].index) for v, sp in splits_by_view.items()}
        for s in split_names
    }
    method = "ensemble" if len(models) > 1 else "teacher"
    with C.job_run(ctx, name=f"soft-targets-{teacher}", role="teacher", method=method,
                   tags={"teacher": teacher, "members": len(models)}) as run:  # fmt: skip
        run.log_params({"members": members})
        views, views_cfg = teacher_views(ctx, splits_by_view)
        with atomic_path(ctx.output["soft_targets"]) as tmp:
            summary = compute(models, splits, tmp, views=views, views_attrs=views_cfg)
        test = next(iter(splits_by_view.values()))["test"]
        logits = load_soft_targets(ctx.output["soft_targets"], "test", test.index)
        metrics = M.classification_metrics(logits, test.y, test.class_names)
        if views:  # is the symmetry one the teacher agrees with? (benchmarks/bench_views.py)
            tr = summary["splits"]["transfer"]
            metrics["transfer_accuracy"] = tr["accuracy"]
            metrics["transfer_view_accuracy_min"] = min(tr["view_accuracy"])
            metrics["transfer_view_accuracy_mean"] = float(np.mean(tr["view_accuracy"]))
        run.log_metrics(metrics)
        C.log_eval_plots(run, np.asarray(logits), test, f"teacher {teacher}")
        record = C.result_record(ctx, run, role="teacher", method=method, metrics=metrics,
                                 extra={"teacher": teacher, "model": teacher})  # fmt: skip
        write_json(ctx.output["metrics"], record)


# --------------------------------------------------------------------------- specialists
def _class_split(split: Split, group: list[int], y: np.ndarray | None = None) -> Split:
    """``split`` relabelled for a specialist: its group's classes, then ``other`` (dustbin)."""
    from jetdistill.learn.specialists import specialist_targets

    names = split.class_names
    attrs = {**split.attrs, "class_names": [names[c] for c in group] + ["other"]}
    return Split(split.X, specialist_targets(split.y if y is None else y, group), split.index,
                 attrs)  # fmt: skip


def choose_specialist_groups(ctx: JobContext) -> None:
    """The class groups of a generalist's specialists, from its validation confusion (or as
    given): ``groups.json`` with the confusion matrix it was read from."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.softtargets import load_soft_targets
    from jetdistill.learn.specialists import confusion_groups, confusion_rates, resolve_groups

    p = ctx.params["groups"]
    val = load_split(ctx.input["val"])
    names = val.class_names
    logits = load_soft_targets(ctx.input["soft_targets"], "val", val.index)
    cm = M.confusion_matrix(logits, val.y, len(names))
    if isinstance(p["groups"], list):
        groups = resolve_groups(p["groups"], names)
    else:
        groups = confusion_groups(cm, int(p["n_groups"]), int(p["max_group_size"]))
    rates = confusion_rates(cm)
    write_json(ctx.output["groups"], {
        "teacher": ctx.wildcards["teacher"],
        "class_names": names,
        "groups": groups,
        "group_names": [[names[c] for c in g] for g in groups],
        "confusion_rate": [float(rates[np.ix_(g, g)].sum() / 2) for g in groups],
        "val_confusion": cm.tolist(),
        "val_accuracy": float(np.trace(cm) / cm.sum()),
        "source": "config" if isinstance(p["groups"], list) else "auto",
    })  # fmt: skip


def train_specialist(ctx: JobContext) -> None:
    """One specialist (Hinton et al. 2015, section 5.1): the generalist's weights with its
    output layer remapped to the group's classes + a dustbin, trained briefly on jets enriched
    in its group, then its dustbin logit corrected for the enrichment."""
    from jetdistill.io import read_json
    from jetdistill.learn import metrics as M
    from jetdistill.learn.losses import build_loss
    from jetdistill.learn.models import build_model, load_model
    from jetdistill.learn.specialists import (
        dustbin_prior_shift,
        enriched_rows,
        init_specialist,
        shift_dustbin,
    )
    from jetdistill.learn.training import predict_logits, save_checkpoint

    teacher, k = ctx.wildcards["teacher"], int(ctx.wildcards["group"])
    p = ctx.params["specialist"]
    seed = int(p["seed"]) + k
    seed_everything(seed)
    group = [int(c) for c in read_json(ctx.input["groups"])["groups"][k]]
    generalist, meta = load_model(ctx.input["generalist"])
    shape = tuple(meta["input_shape"])
    model = build_model(meta["spec"], shape, len(group) + 1, name=meta["name"])
    init_specialist(generalist, model, group)
    train, val, test = (load_split(ctx.input[s]) for s in ("teacher_train", "val", "test"))
    rows = enriched_rows(train.y, group, seed, float(p["group_fraction"]))
    names = train.class_names
    label = f"specialist {teacher}/{'+'.join(names[c] for c in group)}"
    tags = {"teacher": teacher, "group": k, "classes": "+".join(names[c] for c in group)}
    with C.job_run(ctx, name=f"specialist-{teacher}-g{k}", role="teacher", method="specialist",
                   tags=tags) as run:  # fmt: skip
        run.log_params({"group": [names[c] for c in group], "specialist": p})
        sval, stest = _class_split(val, group), _class_split(test, group)
        result, _logits, _ = C.train_and_eval(
            run, model, _class_split(train, group).subset(rows), sval, stest,
            train_cfg=p["train"], loss_fn=build_loss("ce"), seed=seed, label=label,
        )  # fmt: skip
        shift = dustbin_prior_shift(train.y, train.y[rows], group)
        shift_dustbin(model, shift)
        logits = predict_logits(model, stest.X)
        metrics = M.classification_metrics(logits, stest.y, stest.class_names)
        metrics.update({"dustbin_shift": shift, "n_train": len(rows),
                        "train_seconds": result.train_seconds})  # fmt: skip
        run.log_metrics(C.numeric(metrics))
        spec_meta = {**meta, "n_classes": len(group) + 1, "group": group,
                     "class_names": stest.class_names, "generalist": teacher}  # fmt: skip
        save_checkpoint(model, ctx.output["model"], spec_meta)
        C.write_history(result.history, ctx.output["history"])
        record = C.result_record(ctx, run, role="teacher", method="specialist", metrics=metrics,
                                 extra={**tags, "model": meta["name"]})  # fmt: skip
        write_json(ctx.output["metrics"], record)


def combine_specialists(ctx: JobContext) -> None:
    """Teacher ``<generalist>_spec``: the generalist's soft targets combined with its
    specialists' by Hinton's KL objective (section 5.3), cached like any teacher's (the
    generalist's embedding included, so a feature loss can distil from it too)."""
    import h5py

    from jetdistill.learn import metrics as M
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import load_soft_targets, write_combined_soft_targets
    from jetdistill.learn.specialists import combine
    from jetdistill.learn.training import predict_logits

    teacher, gen_path = ctx.wildcards["teacher"], ctx.input["soft_targets"]
    p = ctx.params["combine"]
    specialists = [load_model(path) for path in ctx.input["specialists"]]
    groups = [[int(c) for c in meta["group"]] for _, meta in specialists]
    out, metrics = {}, {}
    with C.job_run(ctx, name=f"soft-targets-{teacher}", role="teacher", method="specialists",
                   tags={"teacher": teacher, "specialists": len(groups)}) as run:  # fmt: skip
        run.log_params({"combine": p, "groups": groups})
        for name in ("transfer", "val", "test"):
            split = load_split(ctx.input[name])
            z_g = load_soft_targets(gen_path, name, split.index)
            z_s = [predict_logits(model, split.X) for model, _ in specialists]
            res = combine(z_g, z_s, groups, active_top=int(p["active_top"]),
                          steps=int(p["steps"]))  # fmt: skip
            data = {"logits": res.logits, "index": split.index, "y": split.y,
                    "generalist_logits": z_g, "active": res.active}  # fmt: skip
            with h5py.File(gen_path, "r") as f:
                if "embedding" in f[name]:
                    data["embedding"] = f[name]["embedding"][()]
            out[name] = data
            acc, acc_g = (float((z.argmax(1) == split.y).mean()) for z in (res.logits, z_g))
            metrics.update({f"{name}_accuracy": acc, f"{name}_generalist_accuracy": acc_g,
                            f"{name}_active_fraction": float(res.active.any(axis=1).mean()),
                            f"{name}_max_grad": res.max_grad})  # fmt: skip
        write_combined_soft_targets(ctx.output["soft_targets"], out,
                                    {"specialist_groups": json.dumps(groups)})  # fmt: skip
        test = load_split(ctx.input["test"])
        logits = out["test"]["logits"]
        metrics.update(M.classification_metrics(logits, test.y, test.class_names))
        metrics["generalist_accuracy"] = metrics["test_generalist_accuracy"]
        metrics["delta_accuracy"] = metrics["test_accuracy"] - metrics["test_generalist_accuracy"]
        run.log_metrics(C.numeric(metrics))
        C.log_eval_plots(run, np.asarray(logits), test, f"teacher {teacher}")
        record = C.result_record(ctx, run, role="teacher", method="specialists", metrics=metrics,
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
            views[view] = load_split(ctx.input[view])
        models.append((model, view))
    splits = {"unlabelled": {v: (sp.X, sp.y, sp.index) for v, sp in views.items()}}
    with atomic_path(ctx.output["soft_targets"]) as tmp:
        compute(models, splits, tmp)
