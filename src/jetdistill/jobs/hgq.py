"""Rules ``train_hgq``, ``estimate_hgq_rtl`` and ``synthesize_frontier``: the per-weight
precision frontier (:mod:`jetdistill.plan.frontier`).

These jobs only wire files, MLflow and library calls: the HGQ twins and their training live
in :mod:`jetdistill.compress.hgq_models` and :mod:`jetdistill.compress.hgq_train`, the
circuit in :mod:`jetdistill.fpga.hgq_rtl`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from jetdistill import paths as P
from jetdistill.identity import HGQJob, num
from jetdistill.io import atomic_path, read_json, write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn import kd_data
from jetdistill.seeding import seed_everything

#: how many labelled transfer jets calibrate the integer bits of the wrapping activations
CALIB_JETS = 20000


def _keras_backend() -> None:
    """HGQ2 trains on Keras 3's PyTorch backend: the project's one framework."""
    os.environ.setdefault("KERAS_BACKEND", "torch")


def _kd_targets(ctx: JobContext, h: dict, train, val, test, fmodel):
    """The KD setup (teacher logits, fidelity references) and the jets with the unlabelled
    ones appended (mode kd of a run with ``distillation.unlabelled``); with ``kd_targets:
    float_student`` the float KD student's logits replace the teacher's as the targets."""
    kd = h.get("kd")
    setup = kd_data.kd_setup(kd, train, val, test, targets=C.teacher_targets(ctx, kd),
                             label_smoothing=0.0)  # fmt: skip
    train, setup = kd_data.with_unlabelled(kd, train, setup, **C.unlabelled_inputs(ctx, kd))
    targets = setup.t_train
    if kd is not None and h.get("kd_targets") == "float_student":
        (targets,) = kd_data.float_student_targets(fmodel, train, where=f"rule {ctx.rule}")
    return train, setup, targets


def train_hgq(ctx: JobContext) -> None:
    """One design of the frontier: the HGQ twin of ``student`` at EBOPs weight ``beta``.

    Modes kd and solo start from the float student of the same mode, seed and arm (its
    weights loaded into the twin, so the EBOPs term starts from the float accuracy) and
    train on the same jets as QAT does: kd with the compression stage's KD loss on the
    labelled transfer jets and the teacher term on the unlabelled ones. Mode ``peer`` is
    the JEDI-linear recipe: the peer's model, solo, from scratch, at its own schedule."""
    _keras_backend()
    from jetdistill.compress import hgq_models as H
    from jetdistill.compress.hgq_train import HGQSettings, fit_hgq
    from jetdistill.learn import metrics as M

    spec, h = ctx.params["model"], ctx.params["hgq"]
    job = HGQJob.from_wildcards(ctx.wildcards)
    seed_everything(job.seed)
    train, val, test = (kd_data.load_split(ctx.input[s]) for s in ("transfer", "val", "test"))
    shape, n_classes = tuple(train.X.shape[1:]), len(train.class_names)
    n_labelled = len(train.y)
    fmodel = None  # the float student it starts from (not on the peer's recipe)
    if h["init"] == "finetune":
        from jetdistill.learn.models import load_model

        fmodel, _ = load_model(ctx.input["float_model"])
    train, setup, targets = _kd_targets(ctx, h, train, val, test, fmodel)
    kd = h.get("kd")
    kmodel = H.build_hgq_model(C.arch(spec), shape, n_classes, init_bits=int(h["init_bits"]))
    if fmodel is not None:
        H.load_float_weights(kmodel, fmodel)
    settings = HGQSettings(
        beta=num(job.beta), epochs=int(h["epochs"]), lr=float(h["lr"]),
        batch_size=int(h["batch_size"]), ramp_fraction=float(h["ramp_fraction"]),
        temperature=float(kd["temperature"]) if kd else None,
        alpha=float(kd["alpha"]) if kd else None,
    )  # fmt: skip
    name = job.run_name()
    with C.job_run(ctx, name=name, role="student", method=f"hgq_{job.mode}",
                   tags=job.tags()) as run:  # fmt: skip
        run.log_params({"model": spec, "hgq": h, "ebops_beta": num(job.beta)})
        fit = fit_hgq(kmodel, train.X, train.y, teacher_logits=targets if kd else None,
                      x_val=val.X, y_val=val.y, settings=settings, seed=job.seed,
                      on_epoch=lambda e, rec: run.log_metrics(rec, step=e))  # fmt: skip
        # the wrapping activations' integer bits from the labelled transfer jets, as the
        # circuit job sets them: the saved model is then the chip's function, and its test
        # accuracy the chip's (the circuit job checks that bit for bit)
        metrics_ebops = H.calibrate(kmodel, train.X[: min(CALIB_JETS, n_labelled)])
        logits = np.asarray(kmodel.predict(test.X, batch_size=4096, verbose=0), dtype=np.float64)
        metrics = M.classification_metrics(logits, test.y, test.class_names)
        metrics.update(M.fidelity_metrics(logits, setup.fidelity_test, prefix="test_"))
        metrics.update(ebops=metrics_ebops, best_epoch=fit.best_epoch,
                       best_val_accuracy=fit.best_val_accuracy, train_seconds=fit.train_wall_s,
                       train_cpu_seconds=fit.train_cpu_s)  # fmt: skip
        run.log_metrics(C.numeric(metrics))
        meta = {"spec": C.arch(spec), "input_shape": list(shape), "n_classes": n_classes,
                "class_names": list(train.class_names), "view": spec.get("view")}  # fmt: skip
        with atomic_path(ctx.output["model"]) as tmp:
            H.save_hgq_model(kmodel, tmp, meta)
        run.log_artifact(ctx.output["model"], "model")
        C.write_history(fit.history, ctx.output["history"])
        record = C.result_record(ctx, run, role="student", method=f"hgq_{job.mode}",
                                 metrics=metrics,
                                 extra={**job.record(), "n_train": n_labelled,
                                        "n_unlabelled": len(train.y) - n_labelled})  # fmt: skip
        write_json(ctx.output["metrics"], record)


def estimate_hgq_rtl(ctx: JobContext) -> None:
    """The circuit of one design: da4ml's trace of the HGQ twin checked bit for bit against
    Keras on the test jets, Verilog, a Verilator check, and (``synthesize: all``) Yosys."""
    _keras_backend()
    from jetdistill.compress import hgq_models as H
    from jetdistill.fpga import hgq_rtl

    settings = dict(ctx.params["rtl"])
    job = HGQJob.from_wildcards(ctx.wildcards)
    kmodel, _ = H.load_hgq_model(ctx.input["model"])
    calib = kd_data.load_split(ctx.input["transfer"]).X[:CALIB_JETS]
    test = kd_data.load_split(ctx.input["test"])
    n = min(int(settings["test_samples"]), len(test.y))
    tags = job.fpga_tags()
    with C.job_run(ctx, name=job.fpga_run_name(), role="student", method="rtl_hgq",
                   tags=tags) as run, tempfile.TemporaryDirectory() as d:  # fmt: skip
        run.log_params({"rtl": settings})
        project = Path(d) / "project"
        metrics = hgq_rtl.convert_hgq(
            kmodel, calib, test.X[:n], test.y[:n], project, hgq_rtl.RTLSettings.from_dict(settings),
            verilator=int(settings["verilator_samples"]) > 0, yosys=bool(ctx.params["yosys"]),
        )  # fmt: skip
        numeric = C.numeric(metrics, with_bools=True)
        run.log_metrics(numeric)
        with atomic_path(ctx.output["project"]) as tmp:
            hgq_rtl.pack_project(project, tmp)
        run.log_artifact(ctx.output["project"], "rtl")
        record = C.result_record(ctx, run, role="student", method="rtl_hgq", metrics=numeric,
                                 extra=job.record())  # fmt: skip
        write_json(ctx.output["metrics"], record)


def pareto_designs(designs: list[dict]) -> list[int]:
    """The designs Yosys counts under ``synthesize: pareto``: each family's Pareto set of
    points (student x EBOPs weight; mean accuracy over seeds against mean da4ml LUTs), one
    design per point, its lowest seed's: the table's LUTs then come from Yosys for every
    point of the front, at one synthesis each instead of one per seed."""
    from jetdistill.fpga import hgq_rtl

    points: dict[tuple, list[int]] = {}
    for i, d in enumerate(designs):
        points.setdefault(d["point"], []).append(i)
    rows = [{"point": p, "family": p[0],
             "accuracy": float(np.mean([designs[i]["accuracy"] for i in idx])),
             "lut_da4ml": float(np.mean([designs[i]["lut_da4ml"] for i in idx])),
             "design": min(idx, key=lambda i: designs[i]["seed"])}
            for p, idx in points.items()]  # fmt: skip
    chosen = []
    for family in sorted({r["family"] for r in rows}):
        fam = [r for r in rows if r["family"] == family]
        front = hgq_rtl.pareto_front(fam, cost_key="lut_da4ml", score_key="accuracy")
        chosen += [fam[i]["design"] for i in front]
    return sorted(chosen)


def synthesize_frontier(ctx: JobContext) -> None:
    """Yosys LUT/FF counts of the designs that matter: one design of each point on its
    family's (KD, solo, peer) Pareto front (:func:`pareto_designs`, ``synthesize: pareto``),
    every design (``all``) or none. One job, after every circuit exists, because the Pareto set is only
    known then; Yosys is minutes a design, da4ml's estimate is within ~10% of it."""
    from jetdistill.fpga import hgq_rtl

    mode = ctx.params["synthesize"]
    designs = []
    for rtl_path, model_metrics in zip(ctx.input["rtl"], ctx.input["metrics"], strict=True):
        rec, acc = read_json(rtl_path), read_json(model_metrics)["metrics"]
        designs.append({"rtl": rtl_path, "family": rec.get("hgq_mode"),
                        "point": (rec.get("hgq_mode"), rec.get("student"), rec.get("ebops_beta")),
                        "seed": int(rec.get("seed", 0)), "accuracy": acc.get("test_accuracy"),
                        "lut_da4ml": rec["metrics"].get("da4ml_cost_luts"),
                        "stages": rec["metrics"].get("rtl_stages", 0)})  # fmt: skip
    chosen = list(range(len(designs))) if mode == "all" else []
    if mode == "pareto":
        chosen = pareto_designs(designs)
    out = []
    with C.job_run(ctx, name="frontier-synthesis", role="comparison", method="synthesis") as run, \
            tempfile.TemporaryDirectory() as d:  # fmt: skip
        run.log_params({"synthesize": mode, "designs": len(designs), "synthesized": len(chosen)})
        for k, i in enumerate(sorted(chosen)):
            design = designs[i]
            project = Path(d) / f"design{k}"
            hgq_rtl.unpack_project(P.sibling(design["rtl"], P.VERILOG_PROJECT), project)
            res = hgq_rtl.synthesize(project, int(design["stages"]))
            out.append({"rtl": design["rtl"], **{k2: v for k2, v in res.items() if k2 != "cells"}})
        result = {"mode": mode, "designs": out}
        run.log_dict(result, "frontier_synth.json")
        write_json(ctx.output["synth"], result)
