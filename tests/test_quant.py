"""Brevitas twins: integer grids, power-of-two scales, FLOOR rounding, QONNX export, weight loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
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
    from qonnx.core.onnx_exec import execute_onnx
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
    with torch.no_grad():
        ref = q(x).numpy()
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    got = np.concatenate(
        [execute_onnx(mw, {iname: x[i : i + 1].numpy()})[oname] for i in range(len(x))]
    )
    assert np.array_equal(got, ref)


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
