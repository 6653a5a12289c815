"""End to end: the real Snakemake DAG on config/test.yaml, from generated jets to the summary.

Runs once per session (fixture ``e2e_workdir`` in conftest.py) and checks the outputs of
every stage, the MLflow store, and that each teacher's forward pass ran exactly once.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from jetdistill.data import layout

pytestmark = pytest.mark.slow


def _runs(work: Path) -> pd.DataFrame:
    con = sqlite3.connect(work / "mlflow.db")
    runs = pd.read_sql("select run_uuid, status, name from runs", con)
    tags = pd.read_sql("select run_uuid, key, value from tags", con)
    wide = tags.pivot_table(index="run_uuid", columns="key", values="value", aggfunc="first")
    con.close()
    return runs.set_index("run_uuid").join(wide)


def test_generated_shards_follow_the_hls4ml_layout(e2e_workdir: Path):
    shards = sorted((e2e_workdir / "results/data/raw").glob("*.h5"))
    assert len(shards) == 5
    with h5py.File(shards[0]) as f:
        assert f["jetConstituentList"].shape[1:] == (150, 16)
        assert f["jets"].shape[1] == 59
        assert [n.decode() for n in f["jetFeatureNames"][:]] == list(layout.JET_FEATURES)
        assert [n.decode() for n in f["particleFeatureNames"][:]] == list(
            layout.PARTICLE_FEATURE_NAMES
        )


def test_views_are_disjoint_and_normalised(e2e_workdir: Path):
    views = e2e_workdir / "results/data/views"
    idx = {}
    for split in ("teacher_train", "transfer", "val", "test"):
        with h5py.File(views / "c4" / f"{split}.h5") as f:
            idx[split] = set(f["index"][:].tolist())
            assert f["X"].shape[1:] == (4, 3)
    splits = list(idx)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not idx[a] & idx[b], (a, b)
    norm = json.loads((views / "teacher" / "norm.json").read_text())
    assert len(norm["median"]) == 5


def test_teachers_ran_once_and_soft_targets_cover_splits(e2e_workdir: Path):
    with h5py.File(e2e_workdir / "results/soft_targets/jedi.h5") as f:
        assert set(f) >= {"transfer", "val", "test"}
        assert f["test/member_logits"].shape[0] == 2  # ensemble of two members
    # one soft-target job for one teacher, however many students and temperatures read it
    bench = list((e2e_workdir / "results/benchmarks/compute_soft_targets").glob("*.tsv"))
    assert len(bench) == 1
    runs = _runs(e2e_workdir)
    assert (runs["jetdistill.rule"] == "compute_soft_targets").sum() == 1
    # no student job depends on a teacher checkpoint: they read the cached logits
    for log in (e2e_workdir / "results/logs/distill_student").glob("*.log"):
        assert "teachers/jedi/member" not in log.read_text()


def test_mlflow_holds_every_job_with_tags_and_metrics(e2e_workdir: Path):
    runs = _runs(e2e_workdir)
    finished = runs[runs["status"] == "FINISHED"]
    counts = finished["jetdistill.rule"].value_counts().to_dict()
    assert counts.get("train_teacher") == 2
    assert counts.get("train_student_solo") == 6  # mlp, the set student st, hlf_mlp x 2 seeds
    assert counts.get("distill_student") == 8
    assert counts.get("train_qat") == 8  # mlp and st x 2 modes x 2 sparsities
    assert counts.get("convert_hls") == 1
    assert counts.get("estimate_rtl") == 2  # both targets; st has no hls4ml path
    kd = finished[finished["jetdistill.rule"] == "distill_student"]
    assert set(kd["role"]) == {"student"} and set(kd["method"]) == {"kd"}
    assert kd["mlflow.parentRunId"].notna().all()
    assert kd["jetdistill.invocation"].nunique() == 1
    con = sqlite3.connect(e2e_workdir / "mlflow.db")
    metrics = pd.read_sql("select run_uuid, key, step from metrics", con)
    con.close()
    for run_id in kd.index:
        keys = set(metrics[metrics.run_uuid == run_id]["key"])
        assert {"test_accuracy", "test_auc_mean", "test_agreement", "test_kl_teacher", "train_agreement", "train_kl_teacher", "train_loss",
                "val_loss"} <= keys  # fmt: skip
        epochs = metrics[(metrics.run_uuid == run_id) & (metrics.key == "val_loss")]["step"]
        assert sorted(epochs) == list(range(len(epochs)))


def test_comparison_frontier_and_summary(e2e_workdir: Path):
    res = e2e_workdir / "results"
    table = pd.read_csv(res / "comparison/kd_vs_solo.csv")
    assert len(table) == 4  # two students x two temperatures
    for png in (
        "accuracy_vs_temperature",
        "accuracy_vs_alpha",
        "agreement_vs_accuracy",
        "roc_teacher_solo_kd",
    ):
        assert (res / f"comparison/{png}.png").stat().st_size > 1000
    frontier = pd.read_csv(res / "compression/frontier.csv")
    q = frontier[frontier["mode"].isin(["solo", "kd"])]
    assert len(q) == 8
    for _, g in q.groupby("student"):
        dense = g[g.sparsity == 0.0]["bops"].to_numpy()
        sparse = g[g.sparsity == 0.5]["bops"].to_numpy()
        assert (sparse < dense.min()).all()
    # the targets' RTL estimates joined to their points: Yosys and da4ml LUTs, latency
    hw = q.dropna(subset=["luts"])
    assert sorted(hw["student"]) == ["mlp", "st"] and set(hw["mode"]) == {"kd"}
    assert (hw["luts"] > 0).all() and (hw["da4ml_luts"] > 0).all()
    assert (hw["latency_ns"] == 5.0 * hw["latency_cycles"]).all()  # fpga.clock_period_ns 5
    assert "JEDI-linear" in (res / "compression/frontier.md").read_text()
    summary = pd.read_csv(res / "summary.csv")
    assert len(summary) >= 2 + 1 + 2 + 4 + 4
    assert summary["test_accuracy"].notna().sum() >= 12


def test_fpga_stage_is_bit_exact(e2e_workdir: Path):
    d = e2e_workdir / "results/fpga/mlp/kd/b6_s0.5_c0/default/seed0"
    hls = json.loads((d / "hls/metrics.json").read_text())["metrics"]
    assert hls["hls_exact_fraction"] == 1.0
    rtl = json.loads((d / "rtl/metrics.json").read_text())["metrics"]
    assert rtl["rtl_exact_fraction"] == 1.0
    assert rtl["luts"] > 0 and rtl["latency_cycles"] >= 1
    assert np.isfinite(rtl["latency_ns"])


def test_set_student_reaches_the_chip_through_rtl(e2e_workdir: Path):
    """The set student's QAT twin (fine-tuned from its float KD student, pruned to 50%) through
    da4ml, Verilator (bit-exact) and Yosys; no hls4ml job (the type's registry flags)."""
    d = e2e_workdir / "results/fpga/st/kd/b6_s0.5_c0/default/seed0"
    assert not (d / "hls").exists()
    rtl = json.loads((d / "rtl/metrics.json").read_text())["metrics"]
    assert rtl["rtl_exact_fraction"] == 1.0 and rtl["rtl_emulation_exact_fraction"] == 1.0
    assert rtl["rtl_verilator_samples"] > 0 and rtl["luts"] > 0 and rtl["latency_cycles"] >= 1
    qat = json.loads(
        (e2e_workdir / "results/qat/st/kd/b6_s0.5_c0/default/seed0/metrics.json").read_text()
    )
    assert qat["metrics"]["weight_sparsity"] >= 0.45
