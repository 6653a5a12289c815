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

from jetdistill.fpga import eda, qonnx, rtl, rtl_ops

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
    with pytest.raises(eda.ToolNotFoundError, match=r"verilator.*apt-get install yosys verilator"):
        rtl.estimate_rtl(None, INPUT_SHAPE, sample_inputs(10), tmp_path)
    with pytest.raises(eda.ToolNotFoundError, match=r"yosys.*apt-get install yosys verilator"):
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
    m = eda.parse_yosys_stat(text)
    assert (m["luts"], m["ffs"], m["dsps"], m["carry"]) == (86 + 1205 + 98, 389, 2, 425)
    with pytest.raises(eda.ToolFailedError):
        eda.parse_yosys_stat("nothing here")


# --------------------------------------------------------------------------- op registry
def test_unregistered_op_names_the_node_and_lists_the_registered_ops():
    from onnx import helper

    node = helper.make_node("Softsign", ["x"], ["y"], name="act3")
    with pytest.raises(qonnx.UnsupportedGraphError) as err:
        rtl_ops.trace_node(node, rtl_ops.TraceState(mw=None))
    msg = str(err.value)
    assert "Softsign" in msg and "'act3'" in msg and "@register_rtl_op" in msg
    assert all(op in msg for op in ("MatMul", "Quant", "Relu", "Reshape"))


def test_an_op_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="MatMul"):
        rtl_ops.register_rtl_op("MatMul")(lambda node, state: None)
    assert rtl_ops.RTL_OPS["MatMul"].__name__ == "_trace_matmul"  # the first handler stays


def test_every_registered_handler_traces_a_node_of_its_op():
    """The tracer dispatches by ONNX op type only (no if/elif elsewhere)."""
    assert set(qonnx.SHAPE_OPS) | {"Quant", "MatMul", "Gemm", "Add", "Sub", "Mul", "Relu"} <= set(
        rtl_ops.RTL_OPS
    )


# --------------------------------------------------------------------------- set-student ops
def quant_set_net(pool: str, n_constituents: int = 4, n_features: int = 3, seed: int = 0):
    """A tiny equivariant set network, the ops of a set student: a per-constituent layer,
    pooling over constituents (ReduceSum/Mean/Max with keepdims), a context layer
    h_i <- relu(A h_i + B pool_j h_j) (a broadcast Add), pooling and a linear head."""
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Int16Bias,
        Uint8ActPerTensorFixedPoint,
    )

    floor = FloatToIntImplType.FLOOR

    def lin(a: int, b: int, rqt: bool = False) -> nn.Module:
        return QuantLinear(a, b, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                           weight_bit_width=6, bias_quant=Int16Bias, return_quant_tensor=rqt)  # fmt: skip

    def act(unsigned: bool) -> nn.Module:  # FLOOR: pooled sums/means keep their fraction bits
        if unsigned:
            return QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=6,
                             float_to_int_impl_type=floor, return_quant_tensor=False)  # fmt: skip
        return QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=10,
                             float_to_int_impl_type=floor, return_quant_tensor=True)  # fmt: skip

    class SetNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inq = QuantIdentity(
                act_quant=Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True
            )
            self.phi, self.a, self.b, self.rho = lin(n_features, 6), lin(6, 6), lin(6, 6), lin(6, 5)
            self.act1, self.act2, self.q1, self.q2 = act(True), act(True), act(False), act(False)

        def pool(self, h: torch.Tensor, keepdim: bool) -> torch.Tensor:
            fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[pool]
            return fn(h, dim=1, keepdim=keepdim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.act1(self.phi(self.inq(x)))  # (B, N, 6), one MLP per constituent
            context = self.q1(self.pool(h, keepdim=True))  # (B, 1, 6)
            h = self.act2(self.a(self.q1(h)) + self.b(context))  # broadcast over constituents
            return self.rho(self.q2(self.pool(h, keepdim=False)))

    torch.manual_seed(seed)
    model = SetNet()
    model.train()  # calibrate the activation scales
    with torch.no_grad():
        for _ in range(30):
            model(1.5 * torch.randn(256, n_constituents, n_features))
    return model.eval()


def traced_vs_torch(model: nn.Module, shape: tuple[int, ...], tmp_path, n: int = 500) -> dict:
    """da4ml's integer emulation of the traced graph against the Brevitas model."""
    mw = qonnx.export_clean_qonnx(model, shape, tmp_path / "set.onnx")
    comb = rtl.trace_qonnx(mw)
    x = (1.5 * np.random.default_rng(1).normal(size=(n, *shape))).astype(np.float32)
    ref = qonnx.torch_forward(model, x)
    emu = np.asarray(comb.predict(rtl.quantize_inputs(mw, x)), dtype=np.float64)
    ops = {node.op_type for node in mw.graph.node}
    return {**qonnx.agreement_metrics(ref, emu, "rtl"), "ops": ops, "distinct": len(np.unique(ref))}


@pytest.mark.parametrize("pool", ["sum", "mean", "max"])
def test_set_network_traces_bit_exact(pool, tmp_path):
    m = traced_vs_torch(quant_set_net(pool), (4, 3), tmp_path)
    reduce_op = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax"}[pool]
    assert reduce_op in m["ops"] and "Add" in m["ops"]
    assert m["distinct"] > 100  # not a constant output
    assert m["rtl_exact_fraction"] == 1.0 and m["rtl_max_abs_diff"] == 0.0


def test_mean_over_a_non_power_of_two_set_is_rejected(tmp_path):
    model = quant_set_net("mean", n_constituents=3)
    mw = qonnx.export_clean_qonnx(model, (3, 3), tmp_path / "m.onnx")
    with pytest.raises(qonnx.UnsupportedGraphError, match=r"ReduceMean .*averages 3 elements"):
        rtl.trace_qonnx(mw)


def _fixed(shape: tuple[int, ...], k: int, i: int, f: int):
    from da4ml.trace import FixedVariableArray, HWConfig

    kif = [np.full(shape, v, dtype=np.int8) for v in (k, i, f)]
    return FixedVariableArray.from_kif(*kif, HWConfig(1, -1, -1))


def test_reducing_the_batch_axis_is_rejected():
    from onnx import helper

    state = rtl_ops.TraceState(mw=None, values={"x": _fixed((1, 4, 3), 1, 3, 2)})
    node = helper.make_node("ReduceMax", ["x"], ["y"], name="pool0", axes=[0, 1], keepdims=0)
    with pytest.raises(qonnx.UnsupportedGraphError, match=r"pool0.*batch axis"):
        rtl_ops.trace_node(node, state)


def test_mul_by_a_zero_one_mask_is_a_multiplexer_and_other_products_are_rejected():
    from da4ml.trace import FixedVariableArray, comb_trace
    from onnx import helper

    x, mask = _fixed((1, 4, 3), 1, 3, 2), _fixed((1, 4, 1), 0, 1, 0)
    state = rtl_ops.TraceState(mw=None, values={"x": x, "mask": mask})
    y = rtl_ops.trace_node(helper.make_node("Mul", ["mask", "x"], ["y"], name="m"), state)
    ports = FixedVariableArray(np.concatenate([x._vars.ravel(), mask._vars.ravel()]), None)
    comb = comb_trace(ports, y.ravel())
    rng = np.random.default_rng(0)
    xs, ms = rng.integers(-32, 32, size=(300, 12)) / 4, rng.integers(0, 2, size=(300, 4))
    out = np.asarray(comb.predict(np.concatenate([xs, ms], axis=1)))
    assert np.array_equal(out, (xs.reshape(300, 4, 3) * ms[:, :, None]).reshape(300, -1))
    with pytest.raises(qonnx.UnsupportedGraphError, match="variable x variable"):
        rtl_ops.trace_node(helper.make_node("Mul", ["x", "x"], ["z"], name="sq"), state)


@needs_tools
def test_set_network_rtl_simulation_is_bit_exact(tmp_path):
    """The generated Verilog of the pooled network, run in Verilator (Yosys skipped)."""
    x = (1.5 * np.random.default_rng(2).normal(size=(300, 4, 3))).astype(np.float32)
    m = rtl.estimate_rtl(
        quant_set_net("sum"), (4, 3), x, tmp_path, yosys=False, verilator_samples=200
    )
    assert m["rtl_exact_fraction"] == 1.0 and m["rtl_verilator_samples"] == 200
    assert m["rtl_emulation_exact_fraction"] == 1.0 and m["dsps"] == 0


# --------------------------------------------------------------------------- the set student
SET_SMALL = {"type": "set", "phi_hidden": [8], "context_widths": [8], "rho_hidden": [8]}
SET_SHAPE = (16, 3)


def set_jets(n: int, seed: int) -> np.ndarray:
    """Random jets with 0..16 real constituents, then exact-zero padding (what the views hold)."""
    rng = np.random.default_rng(seed)
    x = 1.5 * rng.normal(size=(n, *SET_SHAPE))
    real = rng.integers(0, SET_SHAPE[0] + 1, size=n)
    return (x * (np.arange(SET_SHAPE[0])[None, :, None] < real[:, None, None])).astype(np.float32)


def quant_set_student(pool: str, mask: bool, seed: int = 0) -> nn.Module:
    """The registered set student's Brevitas twin, 5-bit, calibrated on random jets."""
    from jetdistill.compress.quant import build_quant_model, calibrate

    spec = SET_SMALL | {"pooling": pool, "context_pooling": pool, "mask_padding": mask}
    torch.manual_seed(seed)
    return calibrate(
        build_quant_model(spec, SET_SHAPE, 5, 5, 8), torch.from_numpy(set_jets(1000, 7))
    )


@pytest.mark.parametrize(
    ("pool", "mask"), [("sum", True), ("max", True), ("sum", False), ("max", False)]
)
def test_set_student_traces_bit_exact(pool, mask, tmp_path):
    """QuantSetStudent's cleaned QONNX graph (Unsqueeze broadcast, the padding-mask chain
    Equal -> Not -> ReduceMax -> Cast and the mask x h Mul) through da4ml, on 400 jets."""
    q = quant_set_student(pool, mask)
    mw = qonnx.export_clean_qonnx(q, SET_SHAPE, tmp_path / "set.onnx")
    ops = {node.op_type for node in mw.graph.node}
    assert "Unsqueeze" in ops
    assert ({"Equal", "Not", "Cast"} <= ops) == mask
    comb = rtl.trace_qonnx(mw)
    x = set_jets(400, 3)
    ref = qonnx.torch_forward(q, x)
    emu = np.asarray(comb.predict(rtl.quantize_inputs(mw, x)), dtype=np.float64)
    assert len(np.unique(ref)) > 100  # not a constant output
    assert np.array_equal(emu, ref)


def test_masked_mean_pooling_is_refused_naming_the_divider_and_the_model(tmp_path):
    q = quant_set_student("mean", True)
    x = set_jets(50, 3)
    with pytest.raises(qonnx.UnsupportedGraphError) as err:
        rtl.estimate_rtl(
            q, SET_SHAPE, x, tmp_path, yosys=False, verilator=False, model_name="set16"
        )
    msg = str(err.value)
    assert "Div node" in msg and "QuantSetStudent 'set16'" in msg and "divider" in msg


def test_unmasked_mean_over_sixteen_constituents_is_a_shift(tmp_path):
    q = quant_set_student("mean", False)
    m = rtl.estimate_rtl(q, SET_SHAPE, set_jets(300, 4), tmp_path, yosys=False, verilator=False)
    assert m["rtl_emulation_exact_fraction"] == 1.0


def test_unknown_op_inside_a_graph_names_the_model():
    from onnx import helper

    state = rtl_ops.TraceState(
        mw=None, values={"x": _fixed((1, 4, 3), 1, 3, 2)}, model="QuantFoo 'bar'"
    )
    with pytest.raises(
        qonnx.UnsupportedGraphError, match=r"Softsign \(node 'act3' of QuantFoo 'bar'\)"
    ):
        rtl_ops.trace_node(helper.make_node("Softsign", ["x"], ["y"], name="act3"), state)
    # a handler's own refusal gets the model prepended
    with pytest.raises(qonnx.UnsupportedGraphError, match=r"QuantFoo 'bar'.*variable x variable"):
        rtl_ops.trace_node(helper.make_node("Mul", ["x", "x"], ["z"], name="sq"), state)


def _comb_of(node, x_kif=(1, 3, 2), shape=(1, 4, 3), extra=None):
    """Trace one node on a fixed-point input ``x`` and return (combinational logic, state)."""
    from da4ml.trace import comb_trace

    x = _fixed(shape, *x_kif)
    state = rtl_ops.TraceState(mw=None, values={"x": x, **(extra or {})})
    y = rtl_ops.trace_node(node, state)
    return comb_trace(x.ravel(), y.ravel()), y


def test_mask_chain_ops_are_exact():
    """Equal(x, 0) -> Not -> Cast -> ReduceMax over features: 1 for a row with a nonzero feature."""
    from da4ml.trace import comb_trace
    from onnx import helper

    x = _fixed((1, 4, 3), 1, 3, 2)
    state = rtl_ops.TraceState(mw=None, values={"x": x, "zero": np.zeros(())})
    chain = [
        helper.make_node("Equal", ["x", "zero"], ["e"], name="eq"),
        helper.make_node("Not", ["e"], ["n"], name="not"),
        helper.make_node("Cast", ["n"], ["c"], name="c64", to=7),
        helper.make_node("ReduceMax", ["c"], ["r"], name="any", axes=[-1], keepdims=1),
        helper.make_node("Cast", ["r"], ["b"], name="cb", to=9),
        helper.make_node("Cast", ["b"], ["m"], name="cf", to=1),
    ]
    for node in chain:
        state.values[node.output[0]] = rtl_ops.trace_node(node, state)
    m = state.values["m"]
    assert m.shape == (1, 4, 1) and rtl_ops._is_mask(m)
    comb = comb_trace(x.ravel(), m.ravel())
    rng = np.random.default_rng(0)
    xs = rng.integers(-32, 32, size=(500, 12)) / 4 * (rng.random((500, 12)) < 0.3)
    got = np.asarray(comb.predict(xs))
    assert np.array_equal(got, (xs.reshape(500, 4, 3) != 0).any(-1).astype(float))


def test_unsqueeze_clip_and_power_of_two_div():
    from onnx import helper

    rng = np.random.default_rng(1)
    xs = rng.integers(-32, 32, size=(300, 12)) / 4
    comb, y = _comb_of(helper.make_node("Unsqueeze", ["x"], ["y"], name="u", axes=[1]))
    assert y.shape == (1, 1, 4, 3)
    assert np.array_equal(np.asarray(comb.predict(xs)), xs)
    clip = helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")
    comb, _ = _comb_of(clip, extra={"lo": np.array(1.0), "hi": np.array(3.5)})
    assert np.array_equal(np.asarray(comb.predict(xs)), np.clip(xs, 1.0, 3.5))
    comb, _ = _comb_of(
        helper.make_node("Div", ["x", "four"], ["y"], name="d"), extra={"four": np.array(4.0)}
    )
    assert np.array_equal(np.asarray(comb.predict(xs)), xs / 4)
    with pytest.raises(qonnx.UnsupportedGraphError, match="not a power of two"):
        _comb_of(
            helper.make_node("Div", ["x", "three"], ["y"], name="d3"),
            extra={"three": np.array(3.0)},
        )


@needs_tools
def test_masked_set_student_rtl_simulation_is_bit_exact(tmp_path):
    """The generated Verilog of the masked max-pooled set student, run in Verilator."""
    m = rtl.estimate_rtl(
        quant_set_student("max", True), SET_SHAPE, set_jets(300, 5), tmp_path, yosys=False,
        verilator_samples=300,
    )  # fmt: skip
    assert m["rtl_exact_fraction"] == 1.0 and m["rtl_verilator_samples"] == 300
    assert m["rtl_emulation_exact_fraction"] == 1.0 and m["dsps"] == 0


# --------------------------------------------------------------------------- constant units
# A hidden unit whose incoming weights are all zero (pruned, or driven to zero by the CSD
# penalty) outputs a constant, relu(bias) on the activation grid. da4ml 0.6.0's adder-graph
# solver gets the interval of a sum of such constants wrong when the steps differ and the
# weight is negative (0.125 + 0.125 + 0.25 times -1/8 comes out as the constant 0), and the
# pipeline then drops that output: the penalised and pruned mlp16 was off by 2^-6 in a logit.


def _with_constants(consts: list[float], x_kif=(0, 3, 3)):
    """A (1, len(consts) + 1) traced vector: da4ml constants, then one variable ``x``."""
    from da4ml.trace import FixedVariableArray
    from da4ml.trace.fixed_variable import FixedVariable

    x = _fixed((1, 1), *x_kif)
    hw = x.ravel()[0].hwconf
    row = [FixedVariable.from_const(c, hwconf=hw) for c in consts] + [x.ravel()[0]]
    return x, FixedVariableArray(np.array([row], dtype=object), None, hwconf=hw)


@pytest.mark.parametrize("weight", [-0.125, -1.0, 0.5])
def test_constant_inputs_of_a_matrix_product_are_exact(weight):
    """Constants 1/8, 1/8, 1/4 (different steps) and one variable times a constant matrix."""
    from da4ml.trace import comb_trace
    from onnx import helper

    x, h = _with_constants([0.125, 0.125, 0.25])
    w = np.array([[weight, 0.0], [weight, 0.25], [weight, 0.0], [0.0, 1.5]])
    state = rtl_ops.TraceState(mw=None, values={"h": h, "w": w})
    y = rtl_ops.trace_node(helper.make_node("MatMul", ["h", "w"], ["y"], name="mm"), state)
    comb = comb_trace(x.ravel(), y.ravel())
    xs = np.arange(64).reshape(-1, 1) / 8  # every value of the unsigned 6-bit input
    hs = np.concatenate([np.tile([0.125, 0.125, 0.25], (64, 1)), xs], axis=1)
    assert np.array_equal(np.asarray(comb.predict(xs)), hs @ w)  # column 0: 0.5 x weight
    # the same product with the constant matrix on the left (w^T @ h^T)
    state.values.update(ht=h.T, wt=w.T)
    yt = rtl_ops.trace_node(helper.make_node("MatMul", ["wt", "ht"], ["yt"], name="mmt"), state)
    assert yt.shape == (2, 1)
    comb_t = comb_trace(x.ravel(), yt.ravel())
    assert np.array_equal(np.asarray(comb_t.predict(xs)), hs @ w)
    # per-constituent rows (1, 2, 4): the second row is all constants (a row of da4ml constants)
    from da4ml.trace import FixedVariableArray

    _, c = _with_constants([0.25, 0.375, 0.125, 0.5])
    rows = np.stack([h._vars[0], c._vars[0, :4]])[None]
    state.values["h3"] = FixedVariableArray(rows, None, hwconf=h.hwconf)
    y3 = rtl_ops.trace_node(helper.make_node("MatMul", ["h3", "w"], ["y3"], name="mm3"), state)
    assert y3.shape == (1, 2, 2)
    comb3 = comb_trace(x.ravel(), y3.ravel())
    const_row = np.array([0.25, 0.375, 0.125, 0.5]) @ w
    want = np.concatenate([hs @ w, np.tile(const_row, (64, 1))], axis=1)
    assert np.array_equal(np.asarray(comb3.predict(xs)), want)


def test_dead_hidden_units_with_a_bias_stay_bit_exact(tmp_path):
    """A 3-4-2 twin whose hidden units 0-2 lost every incoming weight (relu(bias) = 1/8, 1/8,
    1/4 on the activation grid) and whose first logit sums them with weight -1/4: da4ml's
    emulation must reproduce Brevitas (it was off by 1/8 in that logit on every input)."""
    from jetdistill.compress.quant import build_quant_model, calibrate, quant_layers

    model = build_quant_model({"type": "mlp", "hidden": [4]}, (1, 3), 2, 6, 8)
    calibrate(model, torch.randn(256, 1, 3, generator=torch.Generator().manual_seed(0)))
    (_, first, _), (_, last, _) = quant_layers(model)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[0.0] * 3] * 3 + [[0.25, -0.5, 0.0]]))
        first.bias.copy_(torch.tensor([0.125, 0.125, 0.25, 0.0]))
        last.weight.copy_(torch.tensor([[-0.25, -0.25, -0.25, 0.0], [0.0, 0.25, 0.0, 1.0]]))
        last.bias.zero_()
    model.eval()
    x = (1.5 * np.random.default_rng(3).normal(size=(400, 1, 3))).astype(np.float32)
    ref = qonnx.torch_forward(model, x)
    assert np.all(ref[:, 0] == -0.125)  # the constant logit -(1/8 + 1/8 + 1/4) / 4
    assert len(np.unique(ref[:, 1])) > 10  # the live unit
    m = rtl.estimate_rtl(model, (1, 3), x, tmp_path, yosys=False, verilator=False)
    assert m["rtl_emulation_exact_fraction"] == 1.0 and m["rtl_emulation_max_abs_diff"] == 0.0
