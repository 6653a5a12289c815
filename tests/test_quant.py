"""Brevitas twins: integer grids, power-of-two scales, FLOOR rounding, QONNX export, weight loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from brevitas.nn import QuantIdentity, QuantReLU
from torch import nn

from jetdistill.compress.quant import (
    QuantConfig,
    build_quant_model,
    calibrate,
    is_power_of_two,
    load_float_weights,
    quant_layers,
)
from jetdistill.errors import InputError
from jetdistill.learn.models import build_model

SHAPE = (16, 3)
MLP = {"type": "mlp", "hidden": [32, 16]}


def _warm(qmodel: nn.Module, n_steps: int = 3, seed: int = 0) -> nn.Module:
    """A few training-mode forwards so activation scales come from data, then eval."""
    g = torch.Generator().manual_seed(seed)
    qmodel.train()
    with torch.no_grad():
        for _ in range(n_steps):
            qmodel(torch.randn(64, *SHAPE, generator=g))
    return qmodel.eval()


def _is_integer(t: torch.Tensor) -> bool:
    return bool(torch.all(t == torch.round(t)))


@pytest.mark.parametrize("bits", [3, 6])
def test_weights_on_signed_integer_grid_with_pot_scale(bits: int) -> None:
    torch.manual_seed(0)
    q = build_quant_model(MLP, SHAPE, 5, bits, 8)
    layers = quant_layers(q)
    assert [b for _, _, b in layers] == [bits] * 3
    for _, layer, _ in layers:
        qw = layer.quant_weight()
        scale = float(qw.scale)
        assert is_power_of_two(scale)
        ints = qw.value.detach() / scale
        assert _is_integer(ints)
        assert ints.min() >= -(2 ** (bits - 1)) and ints.max() <= 2 ** (bits - 1) - 1
        # the grid is used, not a degenerate one: the largest weight lands near the top code
        assert ints.abs().max() >= 2 ** (bits - 2)


def test_hidden_activations_are_unsigned_integers_times_pot_scale() -> None:
    torch.manual_seed(1)
    bits = 4
    q = _warm(build_quant_model(MLP, SHAPE, 5, bits, 8))
    x = torch.randn(256, *SHAPE)
    outs = {}
    hooks = [
        q[i].register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, o)) for i in (1, 3, 5)
    ]
    with torch.no_grad():
        q(x)
    for h in hooks:
        h.remove()
    qin = outs[1]
    assert is_power_of_two(float(qin.scale)) and float(qin.bit_width) == 8
    ints_in = qin.value / qin.scale
    assert _is_integer(ints_in) and ints_in.min() >= -128 and ints_in.max() <= 127
    for i in (3, 5):
        o = outs[i]
        assert is_power_of_two(float(o.scale)) and float(o.bit_width) == bits
        ints = o.value / o.scale
        assert _is_integer(ints)
        assert ints.min() >= 0 and ints.max() <= 2**bits - 1
        assert ints.max() > 0


def test_activation_rounding_is_floor() -> None:
    torch.manual_seed(2)
    q = _warm(build_quant_model(MLP, SHAPE, 5, 6, 8))
    relu, qin = q[3], q[1]
    with torch.no_grad():
        s = float(relu(torch.ones(1, 4)).scale)
        frac = torch.tensor([[0.1, 0.5, 0.9, 2.99, 3.5, -1.0]]) * s
        out = relu(frac)
        # floor: 0.9 -> 0 and 2.99 -> 2 (rounding would give 1 and 3); negatives -> 0 (ReLU)
        assert torch.equal(out.value / out.scale, torch.tensor([[0.0, 0.0, 0.0, 2.0, 3.0, 0.0]]))
        si = float(qin(torch.ones(1, 4)).scale)
        xin = torch.tensor([[0.9, -0.1, -1.5, 2.5]]) * si
        res = qin(xin)
        # signed input quantiser truncates towards -inf (ap_fixed AP_TRN): -0.1 -> -1, -1.5 -> -2
        assert torch.equal(res.value / res.scale, torch.tensor([[0.0, -1.0, -2.0, 2.0]]))


def _assert_onnx_matches_brevitas(mw, q, x: torch.Tensor) -> None:
    """The cleaned QONNX graph, executed jet by jet, equals the Brevitas twin exactly."""
    from qonnx.core.onnx_exec import execute_onnx

    with torch.no_grad():
        ref = q(x).numpy()
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    got = np.concatenate(
        [execute_onnx(mw, {iname: x[i : i + 1].numpy()})[oname] for i in range(len(x))]
    )
    assert np.array_equal(got, ref)


def test_biases_at_accumulator_scale() -> None:
    torch.manual_seed(3)
    q = _warm(build_quant_model(MLP, SHAPE, 5, 6, 8))
    captured = {}
    layer = q[2]
    h = layer.register_forward_pre_hook(lambda m, a: captured.__setitem__("in", a[0]))
    with torch.no_grad():
        q(torch.randn(8, *SHAPE))
        h.remove()
        qin = captured["in"]
        qb = layer.bias_quant(layer.bias, qin, layer.quant_weight())
    assert float(qb.bit_width) == 16
    assert float(qb.scale) == float(qin.scale) * float(layer.quant_weight().scale)
    assert is_power_of_two(float(qb.scale))
    assert _is_integer(qb.value / qb.scale)


def test_export_qonnx_matches_brevitas_exactly(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    torch.manual_seed(4)
    q = _warm(build_quant_model(MLP, SHAPE, 5, 6, 8))
    path = tmp_path / "twin.onnx"
    export_qonnx(q, torch.zeros(1, *SHAPE), export_path=str(path))
    model = onnx.load(str(path))
    quant_nodes = [n for n in model.graph.node if n.op_type == "Quant"]
    modes = [onnx.helper.get_attribute_value(a).decode() for n in quant_nodes for a in n.attribute
             if a.name == "rounding_mode"]  # fmt: skip
    assert modes.count("FLOOR") == 3  # input + two hidden activations
    mw = cleanup_model(ModelWrapper(str(path)))
    x = torch.randn(32, *SHAPE) * 2
    _assert_onnx_matches_brevitas(mw, q, x)


def test_load_float_weights_folds_batchnorm_and_matches_float() -> None:
    torch.manual_seed(5)
    spec = {"type": "mlp", "hidden": [32, 16], "batch_norm": True}
    f = build_model(spec, SHAPE, 5)
    f.train()
    with torch.no_grad():
        for _ in range(5):
            f(torch.randn(128, *SHAPE) * 1.5 + 0.3)
    f.eval()
    x = torch.randn(512, *SHAPE)
    q = build_quant_model(spec, SHAPE, 5, 8, 10)
    load_float_weights(q, f, calib_x=x)
    with torch.no_grad():
        ref, out = f(x), q(x)
    rel = float((out - ref).abs().max() / ref.abs().max())
    assert rel < 0.1  # 8-bit twin of the BN-folded float net
    agree = float((out.argmax(1) == ref.argmax(1)).float().mean())
    assert agree > 0.9
    q2 = build_quant_model(spec, SHAPE, 5, 8, 10)
    load_float_weights(q2, f.state_dict(), calib_x=x)
    with torch.no_grad():
        assert torch.equal(q2(x), out)


def test_load_float_weights_rejects_other_architecture() -> None:
    f = build_model({"type": "mlp", "hidden": [32]}, SHAPE, 5)
    q = build_quant_model(MLP, SHAPE, 5, 6, 8)
    with pytest.raises(InputError, match="Linear layers"):
        load_float_weights(q, f)
    f2 = build_model({"type": "mlp", "hidden": [32, 8]}, SHAPE, 5)
    with pytest.raises(InputError, match="weight shape"):
        load_float_weights(q, f2)


def test_state_dict_roundtrip_gives_identical_outputs() -> None:
    torch.manual_seed(6)
    q = build_quant_model(MLP, SHAPE, 5, 6, 8)
    opt = torch.optim.Adam(q.parameters(), 1e-2)
    q.train()
    for _ in range(5):
        loss = q(torch.randn(64, *SHAPE)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    q.eval()
    fresh = build_quant_model(MLP, SHAPE, 5, 6, 8)
    fresh.load_state_dict(q.state_dict(), strict=True)
    fresh.eval()
    x = torch.randn(128, *SHAPE)
    with torch.no_grad():
        assert torch.equal(fresh(x), q(x))


def test_calibrate_sets_scale_from_data() -> None:
    torch.manual_seed(7)
    q = build_quant_model(MLP, SHAPE, 5, 6, 8)
    x = torch.randn(512, *SHAPE) * 3.0
    calibrate(q, x)
    s = float(q[1](torch.zeros(1, 4)).scale)
    # 8-bit signed input covering ~max|x| (~3 sigma * 3): scale 2^-4 (127 * 2^-4 ~ 7.9) or 2^-3
    assert is_power_of_two(s) and 2**-5 <= s <= 2**-2
    assert not q.training


def test_deepsets_twin_trains_and_is_quantised() -> None:
    torch.manual_seed(8)
    spec = {"type": "deepsets", "phi_hidden": [16, 8], "rho_hidden": [8], "pooling": "mean"}
    q = build_quant_model(spec, SHAPE, 5, 6, 8)
    f = build_model(spec, SHAPE, 5)
    load_float_weights(q, f)
    q.train()
    out = q(torch.randn(32, *SHAPE))
    assert out.shape == (32, 5)
    out.sum().backward()
    assert all(
        layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
        for _, layer, _ in quant_layers(q)
    )
    assert [b for _, _, b in quant_layers(q)] == [6, 6, 6, 6]


def test_bad_specs_raise_input_error() -> None:
    with pytest.raises(InputError, match="activation"):
        build_quant_model({"type": "mlp", "hidden": [8], "activation": "tanh"}, SHAPE, 5, 6, 8)
    with pytest.raises(InputError, match="type"):
        build_quant_model({"type": "interaction_network"}, SHAPE, 5, 6, 8)
    with pytest.raises(InputError, match="bits"):
        build_quant_model(MLP, SHAPE, 5, 1, 8)
    with pytest.raises(InputError, match="input_bits"):
        QuantConfig(bits=6, input_bits=40).validate()


def test_is_power_of_two() -> None:
    assert is_power_of_two(0.125) and is_power_of_two(4.0)
    assert not is_power_of_two(0.1) and not is_power_of_two(0.0) and not is_power_of_two(math.inf)


def test_qat_checkpoint_rebuilds_the_twin_from_the_file_alone(tmp_path) -> None:
    from jetdistill.compress.quant import checkpoint_meta, load_quant_model
    from jetdistill.learn.training import save_checkpoint

    torch.manual_seed(7)
    q = build_quant_model(MLP, SHAPE, 5, 5, 8, bias_bits=16)
    q.train()
    q(torch.randn(64, *SHAPE))  # activation scales exist once statistics were collected
    q.eval()
    meta = checkpoint_meta(
        MLP, SHAPE, 5, bits=5, input_bits=8, bias_bits=16, sparsity=0.5, name="m"
    )
    save_checkpoint(q, tmp_path / "q.pt", meta)
    rebuilt, got = load_quant_model(tmp_path / "q.pt")
    assert (got["bits"], got["input_bits"], got["bias_bits"], got["sparsity"]) == (5, 8, 16, 0.5)
    x = torch.randn(64, *SHAPE)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), q(x))
    with pytest.raises(InputError, match="quantised"):  # a float checkpoint is not a QAT one
        from jetdistill.learn.models import checkpoint_meta as float_meta

        save_checkpoint(q, tmp_path / "f.pt", float_meta(MLP, SHAPE, 5))
        load_quant_model(tmp_path / "f.pt")


# --------------------------------------------------------------------------- the set student twin

SET = {"type": "set", "phi_hidden": [16, 16], "context_widths": [16], "rho_hidden": [16]}
POOLS = ["sum", "mean", "max"]


def _jets(n: int = 256, seed: int = 0, shape=SHAPE) -> torch.Tensor:
    """Random jets with 1..C real constituents followed by exact-zero padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g) * 1.5
    real = torch.randint(1, shape[0] + 1, (n,), generator=g)
    return x * (torch.arange(shape[0])[None, :, None] < real[:, None, None])


def _set_twin(spec: dict, bits: int = 6, shape=SHAPE, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    q = build_quant_model(spec, shape, 5, bits, 8)
    return calibrate(q, _jets(512, seed + 100, shape))


def test_set_twin_builds_from_a_float_checkpoint(tmp_path) -> None:
    from jetdistill.compress.quant import QuantSetStudent
    from jetdistill.learn.models import checkpoint_meta as float_meta
    from jetdistill.learn.models import load_model
    from jetdistill.learn.training import read_checkpoint, save_checkpoint

    torch.manual_seed(10)
    spec = SET | {"pooling": "sum", "context_pooling": "sum"}
    f = build_model(spec, SHAPE, 5)
    save_checkpoint(f, tmp_path / "f.pt", float_meta(spec, SHAPE, 5, name="set_s"))
    loaded, meta = load_model(tmp_path / "f.pt")
    x = _jets(512, 1)
    q = build_quant_model(meta["spec"], meta["input_shape"], meta["n_classes"], 8, 10)
    assert isinstance(q, QuantSetStudent)
    load_float_weights(q, loaded, calib_x=x)
    with torch.no_grad():
        ref, out = loaded(x), q(x)
    assert float((out - ref).abs().max() / ref.abs().max()) < 0.1  # 8-bit twin of the float net
    assert float((out.argmax(1) == ref.argmax(1)).float().mean()) > 0.9
    # the same from the state dict alone
    q2 = build_quant_model(meta["spec"], meta["input_shape"], meta["n_classes"], 8, 10)
    load_float_weights(q2, read_checkpoint(tmp_path / "f.pt")[0], calib_x=x)
    with torch.no_grad():
        assert torch.equal(q2(x), out)
    assert [n for n, _, _ in quant_layers(q)] == [
        "phi.0", "phi.2", "context.0.local", "context.0.context", "rho.0", "rho.2"
    ]  # fmt: skip


@pytest.mark.parametrize("pool", POOLS)
def test_set_twin_qat_forward_backward_and_checkpoint(pool: str, tmp_path) -> None:
    from jetdistill.compress.quant import checkpoint_meta, load_quant_model
    from jetdistill.learn.training import save_checkpoint

    torch.manual_seed(11)
    spec = SET | {"pooling": pool, "context_pooling": pool}
    q = build_quant_model(spec, SHAPE, 5, 5, 8)
    load_float_weights(q, build_model(spec, SHAPE, 5))
    opt = torch.optim.Adam(q.parameters(), 1e-2)
    q.train()
    for step in range(4):
        x, y = _jets(64, step), torch.randint(0, 5, (64,))
        loss = nn.functional.cross_entropy(q(x), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            assert all(layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
                       for _, layer, _ in quant_layers(q))  # fmt: skip
        opt.step()
    assert torch.isfinite(loss)
    q.eval()
    meta = checkpoint_meta(spec, SHAPE, 5, bits=5, input_bits=8, bias_bits=16, sparsity=0.0)
    save_checkpoint(q, tmp_path / "q.pt", meta)
    rebuilt, _ = load_quant_model(tmp_path / "q.pt")
    x = _jets(128, 9)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), q(x))


def _on_grid(t: torch.Tensor, scale: float) -> bool:
    return is_power_of_two(scale) and _is_integer(t / scale)


@pytest.mark.parametrize("pool", POOLS)
def test_set_twin_values_lie_on_power_of_two_grids(pool: str) -> None:
    """Every activation, every pool and the logits are integers times a power of two."""
    bits = 4
    q = _set_twin(SET | {"pooling": pool, "context_pooling": pool}, bits=bits, seed=12)
    acts: dict[str, object] = {}
    pre: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda m, a, o, n=n: acts.__setitem__(n, o))
             for n, m in q.named_modules() if isinstance(m, (QuantReLU, QuantIdentity))]  # fmt: skip
    hooks.append(q.context[0].act.register_forward_pre_hook(
        lambda m, a: pre.__setitem__("ctx_sum", a[0])))  # fmt: skip
    hooks.append(q.rho[2].register_forward_pre_hook(lambda m, a: pre.__setitem__("rho_in", a[0])))
    x = _jets(256, 13)
    with torch.no_grad():
        logits = q(x)
    for h in hooks:
        h.remove()
    assert {"quant_in", "phi.1", "phi.3", "context.0.pool_quant", "context.0.act",
            "pool_quant", "rho.1"} <= set(acts)  # fmt: skip
    for name, o in acts.items():
        width = float(o.bit_width)
        ints = o.value / o.scale
        assert _on_grid(o.value, float(o.scale)), name
        lo = -(2 ** (width - 1)) if name == "quant_in" else 0
        hi = 2 ** (width - 1) - 1 if name == "quant_in" else 2**width - 1
        assert ints.min() >= lo and ints.max() <= hi, name
        assert ints.max() > 0, name  # a used grid, not all zeros
    expect_pool_bits = bits + 4 if pool == "sum" else bits  # sum of 16: 4 more bits
    assert float(acts["pool_quant"].bit_width) == expect_pool_bits
    assert float(acts["context.0.pool_quant"].bit_width) == expect_pool_bits
    # A h_i + B p: the two accumulators are on power-of-two grids; their sum on the finer one
    ctx = q.context[0]
    s_a = float(acts["phi.3"].scale) * float(ctx.local.quant_weight().scale)
    s_b = float(acts["context.0.pool_quant"].scale) * float(ctx.context.quant_weight().scale)
    assert _on_grid(pre["ctx_sum"], min(s_a, s_b))
    # logits: the last accumulator, input scale x weight scale (bias at that scale too)
    rin = pre["rho_in"]
    assert _on_grid(logits, float(rin.scale) * float(q.rho[2].quant_weight().scale))


@pytest.mark.parametrize("pool", POOLS)
def test_set_twin_permutation_and_padding_invariant_exactly(pool: str) -> None:
    """Integer pools: permuting constituents or appending padding changes no bit."""
    spec = SET | {"pooling": pool, "context_pooling": pool}
    short = (12, 3)  # 12 and 16 slots need the same ceil(log2 C) = 4 extra sum bits
    q = _set_twin(spec, shape=short, seed=14)
    longer = build_quant_model(spec, SHAPE, 5, 6, 8)
    longer.load_state_dict(q.state_dict())
    longer.eval()
    x = _jets(256, 15, short)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    padded = torch.cat([x, torch.zeros(256, 4, 3)], dim=1)
    with torch.no_grad():
        out = q(x)
        assert torch.equal(q(x[:, perm]), out)
        assert torch.equal(longer(padded), out)


def test_set_twin_rejects_other_activations_and_counts_b_once() -> None:
    from jetdistill.compress.cost import layer_costs

    with pytest.raises(InputError, match="activation"):
        build_quant_model(SET | {"activation": "tanh"}, SHAPE, 5, 6, 8)
    q = _set_twin(SET, seed=16)
    rows = {c.name: c.applications for c in layer_costs(q, SHAPE)}
    # per-constituent layers run C times, B and the head once per jet
    assert rows == {"phi.0": 16, "phi.2": 16, "context.0.local": 16, "context.0.context": 1,
                    "rho.0": 1, "rho.2": 1}  # fmt: skip


@pytest.mark.parametrize("pool", POOLS)
def test_relu_pool_equals_masked_pool_on_relu_outputs(pool: str) -> None:
    from jetdistill.compress.quant import relu_pool
    from jetdistill.learn.models import constituent_mask, masked_pool

    g = torch.Generator().manual_seed(17)
    h = torch.relu(torch.randn(64, 16, 8, generator=g))
    x = _jets(64, 18)
    x[0] = 0.0  # a jet without constituents
    mask = constituent_mask(x)
    assert torch.equal(relu_pool(h, mask, pool), masked_pool(h, mask, pool))


#: ONNX ops of the set twin's QONNX graph as the FPGA jobs export it
#: (:func:`jetdistill.fpga.qonnx.export_clean_qonnx`): what an hls4ml or RTL converter has to
#: support for it. The mask is Equal(x, 0) -> Not -> ReduceMax over features (an OR) -> Cast;
#: pools are Mul (by the 0/1 mask) + ReduceSum/ReduceMax over the constituent axis; B's
#: output is broadcast to the constituents by Unsqueeze + Add.
SET_TWIN_OPS = {"Quant", "MatMul", "Add", "Relu", "Mul", "Equal", "Not", "Cast", "ReduceMax",
                "ReduceSum", "Unsqueeze"}  # fmt: skip


@pytest.mark.parametrize(("pool", "mask"), [("sum", True), ("max", True), ("sum", False)])
def test_set_twin_qonnx_export_matches_brevitas_exactly(pool: str, mask: bool, tmp_path) -> None:
    pytest.importorskip("onnx")

    from jetdistill.fpga.qonnx import export_clean_qonnx

    q = _set_twin(SET | {"pooling": pool, "context_pooling": pool, "mask_padding": mask}, seed=19)
    mw = export_clean_qonnx(q, SHAPE, tmp_path / "set.onnx")
    ops = {n.op_type for n in mw.graph.node}
    assert ops <= SET_TWIN_OPS, sorted(ops - SET_TWIN_OPS)
    assert {"ReduceSum" if pool == "sum" else "ReduceMax", "Unsqueeze"} <= ops
    mask_ops = {"Equal", "Not", "Cast", "Mul"}  # without masking: no mask logic at all
    assert mask_ops <= ops if mask else not (mask_ops & ops)
    x = _jets(24, 20)
    _assert_onnx_matches_brevitas(mw, q, x)


@pytest.mark.parametrize("spec", [MLP, SET | {"pooling": "sum", "context_pooling": "sum"}])
def test_activation_bits_apart_from_weight_bits(spec: dict, tmp_path) -> None:
    """``act_bits`` (``compression.activation_bits``): every hidden activation (and a set
    twin's pools, with their sum's extra bits) on its own width, the weights on ``bits``;
    the checkpoint rebuilds the same twin; a width outside 2..16 names the field."""
    from brevitas.nn import QuantLinear, QuantReLU

    from jetdistill.compress.quant import checkpoint_meta, load_quant_model
    from jetdistill.learn.training import save_checkpoint

    torch.manual_seed(0)
    q = calibrate(build_quant_model(spec, SHAPE, 5, 6, 8, act_bits=4), _jets(512, 3))
    relus = {
        n: float(m.act_quant.bit_width()) for n, m in q.named_modules() if isinstance(m, QuantReLU)
    }
    weights = {
        round(float(m.quant_weight().bit_width)) for m in q.modules() if isinstance(m, QuantLinear)
    }
    assert weights == {6}
    pools = {n for n in relus if n.endswith("pool_quant")}
    assert {relus[n] for n in set(relus) - pools} == {4.0}
    assert all(relus[n] == 4.0 + 4 for n in pools)  # sum over 16 constituents: 4 more bits
    meta = checkpoint_meta(
        spec, SHAPE, 5, bits=6, input_bits=8, bias_bits=16, sparsity=0.0, act_bits=4
    )
    assert meta["act_bits"] == 4
    save_checkpoint(q, str(tmp_path / "q.pt"), meta)
    back, _ = load_quant_model(tmp_path / "q.pt")
    x = _jets(64, 4)
    with torch.no_grad():
        assert torch.equal(back(x), q.eval()(x))
    # the same width for both is not recorded: older checkpoints and new ones read alike
    assert "act_bits" not in checkpoint_meta(spec, SHAPE, 5, bits=6, input_bits=8, bias_bits=16,
                                             sparsity=0.0, act_bits=6)  # fmt: skip
    with pytest.raises(InputError, match="activation_bits"):
        build_quant_model(spec, SHAPE, 5, 6, 8, act_bits=1)
