"""Open-source RTL estimate: da4ml trace, bit-exact emulation and Verilator run, Yosys counts.

Needs Debian's ``yosys`` and ``verilator`` (skipped with the install hint when missing).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest_quant import INPUT_SHAPE, quant_mlp, sample_inputs
from torch import nn

from jetdistill.fpga import qonnx, rtl

needs_tools = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("verilator") is None,
    reason="yosys/verilator missing: apt-get install yosys verilator",
)


def prune_(model: nn.Module, sparsity: float) -> nn.Module:
    """Zero the smallest |w| of every linear layer (what the pruning stage leaves behind)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                w = mod.weight
                k = int(sparsity * w.numel())
                thr = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= thr] = 0.0
    return model


@pytest.fixture(scope="module")
def dense_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("rtl_dense")
    model = quant_mlp()
    return rtl.estimate_rtl(
        model, INPUT_SHAPE, sample_inputs(), out, clock_period_ns=5.0, verilator_samples=300
    ), out


@needs_tools
def test_rtl_is_bit_exact_and_synthesises(dense_result):
    m, out = dense_result
    assert m["rtl_emulation_exact_fraction"] == 1.0  # da4ml integer emulation on all 2000 samples
    assert m["rtl_exact_fraction"] == 1.0  # Verilator simulation of the generated Verilog
    assert m["rtl_verilator_samples"] == 300
    assert m["rtl_max_abs_diff"] == 0.0
    # a 12-8-5 6-bit net is a few hundred to a few thousand LUTs, no DSPs (multiplier-free)
    assert 200 < m["luts"] < 5000
    assert m["ffs"] > 50 and m["carry"] > 0 and m["dsps"] == 0
    assert m["latency_cycles"] == m["rtl_stages"] + 1 >= 2
    assert m["latency_ns"] == pytest.approx(5.0 * m["latency_cycles"])
    assert m["rtl_resource_source"] == "yosys synth_xilinx"
    assert m["rtl_yosys_s"] < 60
    verilog = (out / "rtl" / "src" / "jdnet.v").read_text()
    assert "module jdnet" in verilog and "posedge clk" in verilog
    assert json.loads((out / "rtl_metrics.json").read_text())["luts"] == m["luts"]


@needs_tools
def test_pruning_lowers_lut_count(dense_result, tmp_path):
    dense, _ = dense_result
    sparse_model = prune_(quant_mlp(), 0.75)
    # the exported integer weights really are 75% zeros
    w = sparse_model[2].quant_weight().value.detach().numpy()
    assert np.mean(w == 0) >= 0.74
    m = rtl.estimate_rtl(sparse_model, INPUT_SHAPE, sample_inputs(500), tmp_path, verilator=False)
    assert m["rtl_exact_fraction"] == 1.0  # emulation (Verilator skipped)
    assert m["rtl_verilator_samples"] == 0
    assert m["luts"] < 0.6 * dense["luts"], (m["luts"], dense["luts"])


def test_round_half_even_activation_is_rejected(tmp_path):
    model = quant_mlp(relu_rounding="ROUND")
    mw = qonnx.export_clean_qonnx(model, INPUT_SHAPE, tmp_path / "m.onnx")
    with pytest.raises(qonnx.UnsupportedGraphError, match="FLOOR"):
        rtl.trace_qonnx(mw)


def test_missing_tools_name_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(rtl.ToolNotFoundError, match=r"verilator.*apt-get install yosys verilator"):
        rtl.estimate_rtl(None, INPUT_SHAPE, sample_inputs(10), tmp_path)
    with pytest.raises(rtl.ToolNotFoundError, match=r"yosys.*apt-get install yosys verilator"):
        rtl.estimate_rtl(None, INPUT_SHAPE, sample_inputs(10), tmp_path, verilator=False)


def test_parse_yosys_stat():
    text = """
=== jdnet ===

   Number of wires:               1801
   Number of cells:               2886
     BUFG                            1
     CARRY4                        422
     CARRY8                          3
     DSP48E2                         2
     FDRE                          384
     FDSE                            5
     INV                            86
     LUT2                         1205
     LUT6                           98
     MUXF7                          30

"""
    m = rtl.parse_yosys_stat(text)
    assert (m["luts"], m["ffs"], m["dsps"], m["carry"]) == (86 + 1205 + 98, 389, 2, 425)
    with pytest.raises(rtl.ToolFailedError):
        rtl.parse_yosys_stat("nothing here")


# --------------------------------------------------------------------------- op registry
def test_unregistered_op_names_the_node_and_lists_the_registered_ops():
    from onnx import helper

    node = helper.make_node("Softsign", ["x"], ["y"], name="act3")
    with pytest.raises(qonnx.UnsupportedGraphError) as err:
        rtl.trace_node(node, rtl.TraceState(mw=None))
    msg = str(err.value)
    assert "Softsign" in msg and "'act3'" in msg and "@register_rtl_op" in msg
    assert all(op in msg for op in ("MatMul", "Quant", "Relu", "Reshape"))


def test_an_op_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="MatMul"):
        rtl.register_rtl_op("MatMul")(lambda node, state: None)
    assert rtl.RTL_OPS["MatMul"].__name__ == "_trace_matmul"  # the first handler stays


def test_every_registered_handler_traces_a_node_of_its_op():
    """The tracer dispatches by ONNX op type only (no if/elif elsewhere)."""
    assert set(qonnx.SHAPE_OPS) | {"Quant", "MatMul", "Gemm", "Add", "Sub", "Mul", "Relu"} <= set(
        rtl.RTL_OPS
    )
