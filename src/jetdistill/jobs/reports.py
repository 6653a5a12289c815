"""Aggregation rules: ``compare_students``, ``plot_frontier``, ``summarize`` and
``plot_learning_curve``. Tables and plots come from :mod:`jetdistill.report`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from jetdistill import paths
from jetdistill.errors import InputError
from jetdistill.identity import KDJob
from jetdistill.io import atomic_path, read_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn.kd_data import load_split

log = logging.getLogger(__name__)

KD_NOTES = (
    (
        "Accuracies are fractions of the test set, mean ± std over seeds; Δ is KD minus solo in "
        "percentage points, paired seed by seed, ± its standard error; gap closed = "
        "(KD - solo) / (teacher - solo). Same data, budget and seeds for KD and solo."
    ),
    (
        "Fidelity (Stanton et al. 2021): agree is the top-1 agreement with the teacher on the "
        "test jets, train agree the same on the transfer jets the student trained on (solo "
        "students against the fidelity teacher); KD test KL is KL(teacher || KD student) on "
        "the test jets, in nats."
    ),
)
FRONTIER_NOTES = (
    (
        "Quantised students (QAT) per bit width x sparsity x {solo, KD} and the float students "
        "they start from. Accuracy in % (mean ± std over seeds); drop vs float in percentage "
        "points, paired by seed (± SE); BOPs (arXiv:1804.10969) and their reduction against the "
        "float32 dense solo student; LUTs (Yosys synth_xilinx and da4ml's own estimate), FFs and "
        "latency (cycles, ns at fpga.clock_period_ns) of the RTL estimate of the converted seed "
        "(fpga.targets and fpga.frontier_seeds)."
    ),
    (
        "JEDI-linear (last row, the star in the plot) is the published design on the PUBLIC hls4ml "
        "jet data, not on this run's data, with Vivado post-route LUTs/FFs on a VU13P: an anchor, "
        "not a like-for-like comparison."
    ),
)


def compare_students(ctx: JobContext) -> None:
    from jetdistill.report import compare, tables

    df = pd.concat([C.records(ctx.input["solo"]), C.records(ctx.input["kd"])], ignore_index=True)
    teachers = C.records(ctx.input["teachers"])
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
    solo_all = C.records(ctx.input["solo_all"]) if ctx.input.get("solo_all") else None
    reference = compare.reference_table(df, teacher_acc, baselines, teacher_auc, solo_all)
    df = df[~df["student"].isin(baselines)]  # plots and ROC: students only
    with C.job_run(ctx, name="comparison-kd-vs-solo", role="comparison", method="compare") as run:
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
        _comparison_roc(ctx, df, ctx.output["roc"])
        for key in ("table", "reference", "markdown", "html", *plots, "roc"):
            run.log_artifact(ctx.output[key], "comparison")
        if not table.empty:
            best = table.sort_values("kd_mean", ascending=False).iloc[0]
            keys = ("solo_mean", "kd_mean", "diff_mean", "diff_se", "gap_closed",
                    *(f"{w}_recall_{c}_mean" for c in omitted for w in ("solo", "kd")))  # fmt: skip
            run.log_metrics(
                {f"best_{k}": float(best[k]) for k in keys if k in best and pd.notna(best[k])}
            )


def _comparison_roc(ctx: JobContext, df: pd.DataFrame, out: str) -> None:
    """ROC of teacher, solo and the best KD configuration of ``roc_student``, first seed.

    Reads only declared inputs: the student's test view (``roc_test``), the students' test
    logits (``logits``, beside their metrics.json) and the teachers' soft targets."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.softtargets import load_soft_targets

    student = ctx.params["roc_student"]
    test = load_split(ctx.input["roc_test"])
    declared = set(ctx.input["logits"])
    soft = {Path(p).stem: p for p in ctx.input["soft_targets"]}

    def logits_of(row: pd.Series) -> np.ndarray:
        path = paths.sibling(row["path"], paths.TEST_LOGITS)
        if path not in declared:
            raise InputError(path, "a declared input of compare_students", "not declared")
        return np.load(path)

    rows = df[df["student"] == student]
    seed = min(rows["seed"].unique()) if not rows.empty else None
    kd = rows[rows["method"] == "kd"]
    solo = rows[(rows["method"] == "solo") & (rows["seed"] == seed)]
    curves = {}
    if not kd.empty:
        keys = list(KDJob.record_keys()[1:])  # one KD configuration of this student
        best = kd.groupby(keys)["test_accuracy"].mean().idxmax()
        best = dict(zip(keys, best if isinstance(best, tuple) else (best,), strict=True))
        match = np.logical_and.reduce([kd[k] == v for k, v in best.items()]) & (kd["seed"] == seed)
        row = kd[match].iloc[0]
        job = KDJob.from_record(row)
        curves[f"teacher {job.teacher}"] = (
            load_soft_targets(soft[job.teacher], "test", test.index),
            test.y,
        )
        curves[f"KD {student} ({job.method}, T={job.T}, a={job.alpha})"] = (logits_of(row), test.y)
    if not solo.empty:
        curves[f"solo {student}"] = (logits_of(solo.iloc[0]), test.y)
    with atomic_path(out) as tmp:
        M.plot_roc(curves, test.class_names, tmp)


def plot_frontier(ctx: JobContext) -> None:
    from jetdistill.report import frontier, tables

    qat = C.records(ctx.input["qat"])
    floats = pd.concat(
        [C.records(ctx.input["solo"]), C.records(ctx.input["kd"])], ignore_index=True
    )
    floats = frontier.float_references(floats, ctx.params.get("kd_reference"))
    fpga = C.records(ctx.input["fpga"]) if ctx.input["fpga"] else pd.DataFrame()
    table = frontier.frontier_table(qat, floats, fpga)
    with C.job_run(ctx, name="compression-frontier", role="comparison", method="frontier") as run:
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


CHIP_FRONTIER_NOTES = (
    (
        "Per-weight precision (HGQ: a learned bit width per weight and per activation, an EBOPs "
        "cost in the loss), one design per EBOPs weight; ours start from the float student and "
        "train with the compression stage's KD recipe (KD) or alone (solo); the peer is the "
        "JEDI-linear recipe (HGQ, solo, from scratch) on the same view and jets."
    ),
    (
        "Every design is traced by da4ml and checked bit for bit against Keras on the test jets "
        "(and in Verilator); LUTs are Yosys synth_xilinx counts for each family's Pareto set and "
        "da4ml's estimate elsewhere. Accuracy: mean ± std over seeds; KD - solo: paired by seed, "
        "± its standard error."
    ),
)


def report_chip_frontier(ctx: JobContext) -> None:
    """The frontier table and plot of the per-weight-precision designs (rules/frontier.smk)."""
    from jetdistill.report import chip_frontier as F
    from jetdistill.report import tables

    models = C.records(ctx.input["metrics"]) if ctx.input["metrics"] else pd.DataFrame()
    rtl = C.records(ctx.input["rtl"]) if ctx.input["rtl"] else pd.DataFrame()
    synth = read_json(ctx.input["synth"])["designs"]
    designs = F.design_table(models, rtl, synth)
    if ctx.input["qat"] and ctx.input["qat_rtl"]:  # the one-width designs beside them
        brevitas = F.brevitas_designs(C.records(ctx.input["qat"]), C.records(ctx.input["qat_rtl"]))
        designs = (
            pd.concat([designs, brevitas], ignore_index=True) if not brevitas.empty else designs
        )
    points = F.points_table(designs)
    kd_solo = F.kd_vs_solo_table(designs)
    budgets = F.budget_table(points)
    with C.job_run(ctx, name="chip-frontier", role="comparison", method="chip_frontier") as run:
        with atomic_path(ctx.output["table"]) as tmp:
            points.to_csv(tmp, index=False)
        readable = {"Designs (mean over seeds)": F.readable_points(points, ctx.params["peer"]),
                    "KD against solo, paired by seed": F.readable_kd_vs_solo(kd_solo),
                    "Best design within each LUT budget": F.readable_budgets(budgets)}  # fmt: skip
        with atomic_path(ctx.output["markdown"]) as tmp:
            tmp.write_text(tables.markdown(readable, "Chip frontier", CHIP_FRONTIER_NOTES))
        with atomic_path(ctx.output["plot"]) as tmp:
            F.plot_chip_frontier(points, tmp)
        for key in ("table", "markdown", "plot"):
            run.log_artifact(ctx.output[key], "compression")


def summarize(ctx: JobContext) -> None:
    """One row per model of this DAG, read back from MLflow by the run ids its jobs recorded.

    Selecting by run id (not by invocation) keeps models that an earlier invocation
    built and this one reused, and nothing else.
    """
    from jetdistill.report.summary import readable_html, readable_markdown, summary_table
    from jetdistill.tracking import query

    run_ids = {read_json(p)["run_id"] for p in ctx.input["metrics"]}
    runs = query.search(C.tracking_cfg(ctx))
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
    from jetdistill.report import learning_curve as lc
    from jetdistill.report import tables

    labels: dict[str, str] = ctx.params["curves"]
    df = C.records(ctx.input["points"])
    df["curve"] = [labels[p] for p in df["path"]]
    table = lc.learning_curve_table(df)
    with C.job_run(ctx, name="learning-curve", role="comparison", method="learning_curve") as run:
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
