"""HGQ2 model -> bit-exact circuit (jetdistill.fpga.hgq_rtl), with real HGQ2, da4ml and EDA tools.

A tiny per-weight-precision MLP (8 -> 8 relu -> 3, the peer's quantiser scopes) is trained
one epoch on random jets, then traced, emulated, written as Verilog, simulated by Verilator,
synthesised by Yosys, packed and synthesised again from the unpacked archive alone.
Skipped without hgq2/keras (the ``hgq`` extra) or without yosys/verilator.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from jetdistill.errors import InputError
from jetdistill.fpga import hgq_rtl
from jetdistill.fpga.rtl import RTLMismatchError

needs_tools = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("verilator") is None,
    reason="yosys/verilator missing: apt-get install yosys verilator",
)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras backend is {keras.backend.backend()}, not torch")
    return keras


def tiny_hgq_mlp(seed: int = 0):
    """8 -> QDense 8 relu -> QDense 3, per-weight bits (jetdistill.compress.peer's scopes,
    4 starting bits so the design stays a few hundred LUTs)."""
    keras = _keras()
    from hgq.config import LayerConfigScope, QuantizerConfig, QuantizerConfigScope
    from hgq.constraints import MinMax
    from hgq.layers import QDense
    from hgq.regularizers import MonoL1

    keras.utils.set_random_seed(seed)
    iq = QuantizerConfig(place="datalane", round_mode="RND")
    with (
        QuantizerConfigScope(default_q_type="kbi", b0=4, overflow_mode="wrap", i0=0,
                             fr=MonoL1(1e-8), ir=MonoL1(1e-8)),
        QuantizerConfigScope(default_q_type="kif", place="datalane", overflow_mode="wrap", f0=4,
                             fr=MonoL1(1e-8), ic=MinMax(0, 12)),
        LayerConfigScope(beta0=0, enable_ebops=True),
        QuantizerConfigScope(place=("weight", "bias"), overflow_mode="SAT_SYM"),
    ):  # fmt: skip
        inp = keras.layers.Input((8,))
        h = QDense(8, activation="relu", iq_conf=iq)(inp)
        out = QDense(3)(h)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def trained():
    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    model = tiny_hgq_mlp()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:400], y[:400], epochs=1, batch_size=64, verbose=0)
    return model, x[:400], x[400:], y[400:]


def test_settings_from_dict() -> None:
    s = hgq_rtl.RTLSettings.from_dict({"clock_period_ns": 4.0, "verilator_samples": 10})
    assert (s.clock_period_ns, s.verilator_samples, s.latency_cutoff) == (4.0, 10, 5.0)
    assert s.part_name == "xcvu13p-flga2577-2-e" and s.strict
    assert hgq_rtl.RTLSettings.from_dict(None) == hgq_rtl.RTLSettings()
    with pytest.raises(InputError, match="clock_periodns"):
        hgq_rtl.RTLSettings.from_dict({"clock_periodns": 4.0})
    with pytest.raises(InputError, match="clock_period_ns"):
        hgq_rtl.RTLSettings(clock_period_ns=0)


def test_trace_and_emulation_bit_exact(trained) -> None:
    model, x_cal, x_test, y_test = trained
    comb, m = hgq_rtl.trace_design(model, x_cal)
    assert m["ebops_traced"] > 0 and m["da4ml_cost_luts"] > 0 and m["rtl_trace_s"] >= 0
    e = hgq_rtl.check_emulation(model, comb, x_test, y_test)
    assert e["rtl_emulation_exact_fraction"] == 1.0 and e["rtl_n_samples"] == 200
    assert e["rtl_emulation_accuracy"] == e["rtl_keras_accuracy"] > 0.4  # 3 learnable classes


def test_emulation_mismatch_names_the_jet(trained) -> None:
    model, x_cal, x_test, y_test = trained
    comb, _ = hgq_rtl.trace_design(model, x_cal)

    class Off:  # a "circuit" whose jet 3 is off by one LSB-ish step
        def predict(self, x, n_threads=1):
            y = comb.predict(x, n_threads=n_threads)
            y[3, 0] += 0.5
            return y

    with pytest.raises(RTLMismatchError, match="1 of 200 jets; first jet 3"):
        hgq_rtl.check_emulation(model, Off(), x_test, y_test)
    m = hgq_rtl.check_emulation(model, Off(), x_test, y_test, strict=False)
    assert m["rtl_emulation_exact_fraction"] == pytest.approx(199 / 200)


@needs_tools
def test_convert_verilator_yosys_pack_unpack(trained, tmp_path: Path) -> None:
    model, x_cal, x_test, y_test = trained
    prj = tmp_path / "prj"
    s = hgq_rtl.RTLSettings(verilator_samples=50)
    m = hgq_rtl.convert_hgq(model, x_cal, x_test, y_test, prj, s, verilator=True, yosys=True)
    assert (prj / "src" / "jdnet.v").is_file() and Path(m["verilog_path"]).is_file()
    assert m["rtl_emulation_exact_fraction"] == 1.0 and m["rtl_n_samples"] == 200
    assert m["rtl_exact_fraction"] == 1.0 and m["rtl_verilator_samples"] == 50
    assert m["luts"] > 0 and m["ffs"] > 0 and m["rtl_resource_source"] == "yosys synth_xilinx"
    assert (
        m["latency_cycles"] == m["rtl_stages"] + 1 and m["latency_ns"] == 5.0 * m["latency_cycles"]
    )
    for stage in ("rtl_trace", "rtl_emulation", "rtl_codegen", "rtl_verilator", "rtl_yosys"):
        assert m[f"{stage}_cpu_s"] >= 0
    assert m["rtl_cpu_s"] >= m["rtl_yosys_cpu_s"]
    assert json.loads((prj / hgq_rtl.RECORD).read_text())["metrics"]["luts"] == m["luts"]

    # a later job: only the archive, unpacked elsewhere, original gone
    tar = hgq_rtl.pack_project(prj, tmp_path / "arch" / "prj.tar.gz")
    shutil.rmtree(prj)
    again = hgq_rtl.unpack_project(tar, tmp_path / "later" / "prj")
    assert not list(again.rglob("*.so"))
    y = hgq_rtl.synthesize(again)
    assert (y["luts"], y["ffs"], y["carry"]) == (m["luts"], m["ffs"], m["carry"])
    with pytest.raises(InputError, match="empty"):
        hgq_rtl.unpack_project(tar, again)

    # rewriting a project of ours wipes it; a foreign folder is refused
    comb, _ = hgq_rtl.trace_design(model, x_cal)
    hgq_rtl.write_verilog(comb, again, s)
    assert not (again / "yosys_cells.json").exists()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="earlier project"):
        hgq_rtl.write_verilog(comb, tmp_path / "foreign", s)


def test_convert_without_tools_reports_da4ml_estimate(trained, tmp_path: Path) -> None:
    model, x_cal, x_test, y_test = trained
    s = hgq_rtl.RTLSettings(test_samples=120)
    m = hgq_rtl.convert_hgq(model, x_cal, x_test, y_test, tmp_path / "p", s,
                            verilator=False, yosys=False)  # fmt: skip
    assert m["rtl_n_samples"] == 120 and m["rtl_verilator_samples"] == 0
    assert m["rtl_exact_fraction"] == m["rtl_emulation_exact_fraction"] == 1.0
    assert m["luts"] == round(m["da4ml_cost_luts"]) and m["rtl_resource_source"] == "da4ml estimate"


def test_pareto_front() -> None:
    pts = [
        {"luts": 100, "acc": 0.60},  # 0 front (cheapest)
        {"luts": 200, "acc": 0.70},  # 1 front
        {"luts": 200, "acc": 0.65},  # 2 dominated by 1 (same cost, lower score)
        {"luts": 300, "acc": 0.70},  # 3 dominated by 1 (same score, higher cost)
        {"luts": 200, "acc": 0.70},  # 4 tie with 1: the first one (1) is kept
        {"luts": 400, "acc": 0.75},  # 5 front
        {"luts": 50, "acc": float("nan")},  # 6 not finite: never on the front
        {"acc": 0.99},  # 7 no cost: ignored
        {"luts": 350, "acc": 0.62},  # 8 dominated by 1
    ]
    assert hgq_rtl.pareto_front(pts, cost_key="luts", score_key="acc") == [0, 1, 5]
    assert hgq_rtl.pareto_front([], cost_key="luts", score_key="acc") == []
    rev = list(reversed(pts))  # deterministic on ties whatever the order: lowest index wins
    assert [8 - i for i in hgq_rtl.pareto_front(rev, cost_key="luts", score_key="acc")] == [0, 4, 5]
    assert math.isnan(pts[6]["acc"])
