"""The frontier table joins QAT runs with float references and FPGA estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jetdistill.report.frontier import frontier_table, plot_frontier


def _qat() -> pd.DataFrame:
    rows = []
    for mode, acc in (("solo", 0.50), ("kd", 0.56)):
        for sp, bops in ((0.0, 2.0e5), (0.8, 1.0e5)):
            for seed in (0, 1):
                rows.append({"student": "mlp", "qat_mode": mode, "bits": 6, "sparsity": sp, "seed": seed,
                             "test_accuracy": acc - sp * 0.01 + 0.004 * seed, "test_auc_mean": 0.8, "bops": bops,
                             "params": 100, "nonzero_params": 100 * (1 - sp), "size_bits": 600})  # fmt: skip
    return pd.DataFrame(rows)


def _floats() -> pd.DataFrame:
    return pd.DataFrame([
        {"student": "mlp", "method": "solo", "seed": s, "test_accuracy": 0.51 + 0.01 * s, "test_auc_mean": 0.8,
         "bops": 5.0e6, "params": 100, "nonzero_params": 100, "size_bits": 3200} for s in (0, 1)
    ] + [
        {"student": "mlp", "method": "kd", "teacher": "t", "kd_method": "hinton", "temperature": 4.0, "alpha": 0.1,
         "seed": s, "test_accuracy": 0.57, "test_auc_mean": 0.8, "bops": 5.0e6, "params": 100,
         "nonzero_params": 100, "size_bits": 3200} for s in (0, 1)
    ])  # fmt: skip


def test_frontier_drop_and_reduction_are_against_the_right_reference(tmp_path):
    fpga = pd.DataFrame([
        {"student": "mlp", "qat_mode": "kd", "bits": "6", "sparsity": "0.8", "luts": 1200, "ffs": 300,
         "latency_cycles": 5, "latency_ns": 25.0, "rtl_exact_fraction": 1.0},
        {"student": "mlp", "qat_mode": np.nan, "bits": np.nan, "sparsity": np.nan, "hls_exact_fraction": 0.0},
    ])  # fmt: skip
    t = frontier_table(_qat(), _floats(), fpga)
    kd = t[(t["mode"] == "kd") & (t["sparsity"] == 0.8)].iloc[0]
    assert np.isclose(kd["float_accuracy"], 0.57)
    assert np.isclose(kd["accuracy_drop"], 0.57 - 0.554)
    # per-seed drops 0.018 and 0.014 (float KD 0.57 for both seeds): SE = 0.004 / 2
    assert np.isclose(kd["accuracy_drop_se"], np.std([0.018, 0.014], ddof=1) / np.sqrt(2))
    # solo: float 0.51/0.52, QAT 0.50/0.504 -> drops 0.010/0.016, paired SE 0.003 (unpaired: larger)
    solo_sp = t[(t["mode"] == "solo") & (t["sparsity"] == 0.0)].iloc[0]
    assert np.isclose(solo_sp["accuracy_drop_se"], 0.003)
    assert np.isclose(kd["bops_reduction"], 50.0)
    assert kd["luts"] == 1200 and kd["latency_cycles"] == 5
    solo = t[(t["mode"] == "solo") & (t["sparsity"] == 0.0)].iloc[0]
    assert np.isclose(solo["float_accuracy"], 0.515) and np.isnan(solo["luts"])
    assert solo["n_seeds"] == 2
    assert set(t["mode"]) == {"solo", "kd", "float_solo", "float_kd"}
    out = tmp_path / "frontier.png"
    plot_frontier(t, out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def _crowded() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many grid points at nearly the same BOPs and accuracy, and two students' floats."""
    rows = []
    for mode in ("solo", "kd"):
        for bits in (4, 5, 6, 8):
            for sp in (0.0, 0.5, 0.87):
                rows.append({"student": "mlp16", "qat_mode": mode, "bits": bits, "sparsity": sp, "seed": 0,
                             "test_accuracy": 0.56 + 0.0005 * bits, "test_auc_mean": 0.8,
                             "bops": 1.0e5 * (1 + 0.02 * bits) * (1 - 0.1 * sp), "params": 100,
                             "nonzero_params": 100, "size_bits": 600})  # fmt: skip
    floats = pd.DataFrame([
        {"student": st, "method": m, "teacher": "t", "kd_method": "hinton", "temperature": 4.0, "alpha": 0.1,
         "seed": 0, "test_accuracy": 0.56, "test_auc_mean": 0.8, "bops": 5.0e6, "params": 100,
         "nonzero_params": 100, "size_bits": 3200}
        for st in ("mlp16", "deepsets16") for m in ("solo", "kd")
    ])  # fmt: skip
    return pd.DataFrame(rows), floats


def test_frontier_labels_never_overlap_and_markers_name_the_student():
    import matplotlib.pyplot as plt

    from jetdistill.report.frontier import frontier_figure, readable_table

    qat, floats = _crowded()
    table = frontier_table(qat, floats)
    fig = frontier_figure(table)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) >= 8  # crowded: many, not all, points can carry a label
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), "two frontier labels overlap"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "deepsets16 · float solo" in legend and "mlp16 · float solo" in legend
        assert "mlp16 · QAT KD" in legend
    finally:
        plt.close(fig)
    readable = readable_table(table)
    assert "drop vs float (pts, ±SE)" in readable.columns
    floats_rows = readable[readable["training"] == "float solo"]
    assert set(floats_rows["student"]) == {"mlp16", "deepsets16"} and set(floats_rows["bits"]) == {
        "32"
    }


def test_points_at_different_cost_penalties_are_separate_rows_with_their_own_luts():
    """A QAT point is also its cost penalty: records without ``cost_penalty`` (written before
    it existed) are the points at 0, and each FPGA estimate joins its own penalty's row."""
    qat = _qat()
    extra = qat[(qat["qat_mode"] == "kd") & (qat["sparsity"] == 0.8)].assign(
        cost_penalty=0.01, test_accuracy=0.54
    )
    qat = pd.concat([qat, extra], ignore_index=True)  # the old rows: no cost_penalty (NaN)
    fpga = pd.DataFrame([
        {"student": "mlp", "qat_mode": "kd", "bits": "6", "sparsity": "0.8", "cost_penalty": "0",
         "luts": 1200, "latency_cycles": 5},
        {"student": "mlp", "qat_mode": "kd", "bits": "6", "sparsity": "0.8", "cost_penalty": "0.01",
         "luts": 700, "latency_cycles": 4},
    ])  # fmt: skip
    t = frontier_table(qat, _floats(), fpga)
    kd = t[(t["mode"] == "kd") & (t["sparsity"] == 0.8)].set_index("cost")
    assert sorted(kd.index) == [0.0, 0.01]
    assert kd.loc[0.0, "luts"] == 1200 and kd.loc[0.01, "luts"] == 700
    assert np.isclose(kd.loc[0.01, "test_accuracy"], 0.54) and kd.loc[0.01, "n_seeds"] == 2
    assert len(t[t["mode"] == "solo"]) == 2  # solo rows unchanged, at penalty 0
    from jetdistill.report.frontier import readable_table
    from jetdistill.report.tables import DASH

    text = readable_table(t)
    assert set(text["cost"]) == {"0", "0.01", DASH}  # floats: no penalty value


# ---------------------------------------------------------------- accuracy per LUT
# Records written as the jobs write them (jetdistill.jobs.context.result_record: identity from
# jetdistill.identity, metrics under "metrics") and read back by the rule's reader.
def _write(path, record: dict) -> str:
    from jetdistill.io import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    return str(path)


#: (student, mode) -> QAT accuracy of seeds 0 and 1; RTL of seed 0: (Yosys LUTs, da4ml LUTs, FFs, cycles)
_CHIP = {
    ("mlp16", "solo"): ((0.610, 0.612), (24_000, 25_500, 3_800, 7)),
    ("mlp16", "kd"): ((0.616, 0.620), (23_500, 25_100, 3_700, 7)),
    ("set16", "solo"): ((0.650, 0.656), (10_400, 11_200, 2_600, 8)),
    ("set16", "kd"): ((0.640, 0.646), (10_900, 11_600, 2_700, 8)),
}


def _chip_records(tmp_path, qat_cls=None, extra: dict | None = None):
    """QAT (2 seeds), RTL (seed 0) and float (solo, KD) records of two chip students."""
    from jetdistill.identity import KDJob, QATJob, SoloJob

    qat_cls = qat_cls or QATJob
    extra = extra or {}
    qat, rtl, floats = [], [], []
    for (student, mode), (accs, (luts, est, ffs, cyc)) in _CHIP.items():
        for seed, acc in enumerate(accs):
            job = qat_cls(student, mode, 5, "0.87", seed, **extra)
            qat.append(_write(tmp_path / f"qat_{student}_{mode}_{seed}.json", {
                "run_id": "r", "rule": "train_qat", "role": "student", "method": f"qat_{mode}",
                **job.record(), "metrics": {"test_accuracy": acc, "test_auc_mean": 0.9, "bops": 1e5,
                                            "params": 4517, "nonzero_params": 600, "size_bits": 3000}}))  # fmt: skip
            if seed == 0:
                rtl.append(_write(tmp_path / f"rtl_{student}_{mode}.json", {
                    "run_id": "r", "rule": "estimate_rtl", "role": "student", "method": "rtl",
                    **job.fpga_tags(), "metrics": {"luts": luts, "da4ml_cost_luts": float(est), "ffs": ffs,
                                                   "latency_cycles": cyc, "latency_ns": 5.0 * cyc,
                                                   "rtl_exact_fraction": 1.0}}))  # fmt: skip
        for seed in (0, 1):
            base = 0.60 if student == "mlp16" else 0.655
            solo = SoloJob(student, seed)
            floats.append(_write(tmp_path / f"solo_{student}_{seed}.json", {
                "run_id": "r", "role": "student", "method": "solo", **solo.record(),
                "metrics": {"test_accuracy": base, "bops": 5e6}}))  # fmt: skip
            kd = KDJob(student, "jedi", "hinton", "4", "0.1", seed)
            floats.append(_write(tmp_path / f"kd_{student}_{seed}.json", {
                "run_id": "r", "role": "student", "method": "kd", **kd.record(),
                "metrics": {"test_accuracy": base + 0.01, "bops": 5e6}}))  # fmt: skip
    return qat, rtl, sorted(set(floats))


def _chip_table(tmp_path, **kw) -> pd.DataFrame:
    from jetdistill.jobs import context as C
    from jetdistill.report import frontier

    qat, rtl, floats = _chip_records(tmp_path, **kw)
    ref = frontier.float_references(
        C.records(floats), {"method": "hinton", "temperature": 4.0, "alpha": 0.1}
    )
    return frontier.frontier_table(C.records(qat), ref, C.records(rtl))


def test_accuracy_per_lut_from_real_records(tmp_path):
    import matplotlib.pyplot as plt

    from jetdistill.report.frontier import JEDI_LINEAR, frontier_figure, readable_table

    t = _chip_table(tmp_path)
    q = t[t["mode"].isin(["solo", "kd"])].set_index(["student", "mode"])
    assert len(q) == 4
    for key, ((a0, a1), (luts, est, ffs, cyc)) in _CHIP.items():
        row = q.loc[key]
        assert np.isclose(row["test_accuracy"], (a0 + a1) / 2)  # accuracy over both seeds
        assert row["n_seeds"] == 2
        # hardware of the converted seed 0: Yosys and da4ml LUTs kept apart
        assert row["luts"] == luts and row["da4ml_luts"] == est and row["ffs"] == ffs
        assert row["latency_cycles"] == cyc and row["latency_ns"] == 5.0 * cyc
    # set16 KD: float KD 0.665 on both seeds, QAT 0.640/0.646 -> drop 0.022
    assert np.isclose(q.loc[("set16", "kd"), "accuracy_drop"], 0.665 - 0.643)
    readable = readable_table(t)
    set_kd = readable[(readable["student"] == "set16") & (readable["training"] == "KD")].iloc[0]
    assert set_kd["LUTs"] == "10,900" and set_kd["LUTs (da4ml)"] == "11,600"
    assert set_kd["FFs"] == "2,700" and set_kd["latency (cycles, ns)"] == "8 (40 ns)"
    anchor = readable.iloc[-1]
    assert "JEDI-linear" in anchor["student"] and "public" in anchor["student"]
    assert anchor["LUTs"] == "43,800" and anchor["FFs"] == "22,400"
    assert anchor["accuracy (%)"] == "71.95" and anchor["latency (cycles, ns)"] == "19 (54 ns)"
    assert "JEDI-linear" not in " ".join(readable_table(t, anchor=False)["student"])
    fig = frontier_figure(t)
    try:
        assert len(fig.axes) == 3  # BOPs, Yosys LUTs, da4ml LUTs
        for ax, col in ((fig.axes[1], "luts"), (fig.axes[2], "da4ml_luts")):
            xs = sorted(x for line in ax.get_lines() for x in line.get_xdata())
            assert xs == sorted([*q[col].tolist(), JEDI_LINEAR.luts])
            legend = [tx.get_text() for tx in ax.get_legend().get_texts()]
            assert any("JEDI-linear" in x and "public hls4ml data" in x for x in legend)
            assert "set16 · QAT KD" in legend and "mlp16 · QAT solo" in legend
    finally:
        plt.close(fig)
