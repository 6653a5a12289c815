"""The hardware-cost term of jetdistill.compress.precision: its values on hand-set weights,
its gradient's direction, and what training with it does to da4ml's cost (real Brevitas,
real da4ml, real QONNX export)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jetdistill.compress import precision as P
from jetdistill.compress.quant import build_quant_model, calibrate, quant_layers
from jetdistill.errors import InputError

#: CSD (non-adjacent form) digit counts of 0..16, by hand: 3 = 4-1, 7 = 8-1, 11 = 8+4-1,
#: 13 = 16-4+1, 15 = 16-1
CSD_0_16 = [0, 1, 1, 2, 1, 2, 2, 2, 1, 2, 2, 3, 2, 3, 2, 2, 1]


def tiny_twin(bits: int = 4) -> torch.nn.Module:
    """A 3 -> 2 -> 2 MLP twin (8-bit input, ``bits``-bit weights) with hand-set weights whose
    largest magnitude is 1.75 = 7 x 0.25 in both layers: both grid steps are 2**-2."""
    model = build_quant_model({"type": "mlp", "hidden": [2]}, (1, 3), 2, bits, 8)
    calibrate(model, torch.randn(256, 1, 3))
    (_, first, _), (_, last, _) = quant_layers(model)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.75, 0.75, 0.0], [-0.5, 0.25, 1.0]]))  # 7 3 0 / -2 1 4
        last.weight.copy_(torch.tensor([[1.75, -1.5], [0.0, 0.5]]))  # 7 -6 / 0 2
    return model.eval()


def test_csd_digit_counts_by_hand():
    assert [P.csd_digit_count(n) for n in range(17)] == CSD_0_16
    assert P.csd_digit_count(-11) == 3
    q = torch.tensor([[-7.0, 0.0, 11.0], [16.0, 5.0, -3.0]])
    assert P.csd_digits(q).tolist() == [[2, 0, 3], [1, 2, 2]]


def test_interpolated_digits_are_exact_on_the_grid_and_linear_between():
    x = torch.arange(17, dtype=torch.float32)
    assert P.csd_interp(x).tolist() == CSD_0_16
    half = P.csd_interp(torch.tensor([0.5, 1.5, 2.5, 3.25, -3.25, 6.5]))
    assert half.tolist() == pytest.approx([0.5, 1.0, 1.5, 1.75, 1.75, 2.0])


def test_penalty_value_on_a_tiny_layer():
    """Integers 7 3 0 / -2 1 4 (digits 2 2 0 1 1 1 = 7) behind 8-bit inputs, 7 -6 / 0 2
    (digits 2 2 0 1 = 5) behind 4-bit ReLU outputs: 7 x 8 + 5 x 4 = 76 digit-bits."""
    model = tiny_twin()
    (_, first, _), (_, last, _) = quant_layers(model)
    assert P.grid_step(first).item() == P.grid_step(last).item() == 0.25
    layers = P.weighted_layers(model, (1, 3))
    assert [(wl.applications, wl.input_bits) for wl in layers] == [(1, 8), (1, 4)]
    pen = P.CostPenalty(model, (1, 3), 0.5)
    assert pen.digit_bits().item() == pytest.approx(76.0)
    assert pen().item() == pytest.approx(0.5 * 76 / 1000)
    assert P.precision_metrics(model, (1, 3)) == {
        "csd_digits": 12.0, "csd_digit_bits": 76.0, "zero_weight_fraction": 0.2,
    }  # fmt: skip
    # the smooth surrogate: sum log2(1 + |q|) x input bits
    log_bits = 8 * (3 + 2 + 0 + math.log2(3) + 1 + math.log2(5)) + 4 * (
        3 + math.log2(7) + 0 + math.log2(3)
    )
    assert P.CostPenalty(model, (1, 3), 1.0, surrogate="log").digit_bits().item() == pytest.approx(
        log_bits, rel=1e-6
    )


def test_gradient_moves_each_weight_towards_fewer_digits():
    """Between 3 (2 digits) and 4 (1 digit) the gradient says "grow"; between 2 (1 digit) and 3
    it says "shrink"; below one step it pulls to zero (pruning); mirrored for negative weights."""
    model = tiny_twin()
    (_, first, _), _ = quant_layers(model)
    with torch.no_grad():  # grid units: 7 (keeps the step at 0.25), 3.4, 2.4 / 0.4, -0.4, -3.4
        first.weight.copy_(0.25 * torch.tensor([[7.0, 3.4, 2.4], [0.4, -0.4, -3.4]]))
    P.CostPenalty(model, (1, 3), 1.0)().backward()
    g = first.weight.grad
    assert g[0, 1] < 0 and g[0, 2] > 0 and g[1, 0] > 0 and g[1, 1] < 0 and g[1, 2] > 0
    # |slope| = 1 digit per step x 8 input bits / 1000, per unit of weight (1 step = 0.25)
    assert g[0, 1].item() == pytest.approx(-8 / 1000 / 0.25)
    first.weight.grad = None
    P.CostPenalty(model, (1, 3), 1.0, surrogate="log")().backward()
    assert torch.equal(torch.sign(first.weight.grad), torch.sign(first.weight.detach()))


def test_zero_strength_is_the_plain_loss_and_bad_strengths_are_refused():
    model = tiny_twin()

    def base(logits, y, t=None):
        return F.cross_entropy(logits, y)

    assert P.CostPenalty(model, (1, 3), 0.0).wrap(base) is base
    pen = P.CostPenalty(model, (1, 3), 2.0)
    x, y = torch.randn(8, 1, 3), torch.tensor([0, 1] * 4)
    logits = model(x)
    assert pen.wrap(base)(logits, y).item() == pytest.approx(
        (base(logits, y) + 2.0 * 76 / 1000).item()
    )
    for bad in (-1.0, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(InputError, match="finite number >= 0"):
            P.CostPenalty(model, (1, 3), bad)
    with pytest.raises(InputError, match="surrogate"):
        P.CostPenalty(model, (1, 3), 1.0, surrogate="bits")


def _train(strength: float) -> torch.nn.Module:
    """Fine-tune the same 12-24-12-5 twin (5-bit) a few epochs on a synthetic task."""
    from conftest_quant import INPUT_SHAPE

    from jetdistill.learn.training import Batches, TrainConfig, cross_entropy_loss, fit

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, *INPUT_SHAPE)).astype(np.float32)
    w = rng.normal(size=(12, 5))
    y = (x.reshape(len(x), -1) @ w).argmax(1)
    model = build_quant_model({"type": "mlp", "hidden": [24, 12]}, INPUT_SHAPE, 5, 5, 8)
    calibrate(model, torch.as_tensor(x[:512]))
    train, val = Batches.from_numpy(x[:1200], y[:1200]), Batches.from_numpy(x[1200:], y[1200:])
    cfg = TrainConfig(epochs=4, lr=0.005, batch_size=128, patience=0, device="cpu")
    loss = P.CostPenalty(model, INPUT_SHAPE, strength).wrap(cross_entropy_loss())
    fit(model, train, val, cfg, loss, seed=0)
    return model.eval()


def test_a_penalised_model_has_fewer_digits_a_lower_da4ml_cost_and_stays_bit_exact(tmp_path):
    from conftest_quant import INPUT_SHAPE, sample_inputs

    from jetdistill.fpga import rtl

    plain, penalised = _train(0.0), _train(20.0)
    m0 = P.precision_metrics(plain, INPUT_SHAPE)
    m1 = P.precision_metrics(penalised, INPUT_SHAPE)
    assert m1["csd_digits"] < 0.8 * m0["csd_digits"], (m0, m1)
    assert m1["zero_weight_fraction"] > m0["zero_weight_fraction"]
    x = sample_inputs(500)
    r0 = rtl.estimate_rtl(plain, INPUT_SHAPE, x, tmp_path / "plain", yosys=False, verilator=False)
    r1 = rtl.estimate_rtl(penalised, INPUT_SHAPE, x, tmp_path / "pen", yosys=False, verilator=False)
    # the exported graph is the same chain of Quant/MatMul/Add/Relu; da4ml's emulation of it is
    # bit-exact with Brevitas on all 500 inputs (estimate_rtl raises otherwise)
    assert r0["rtl_emulation_exact_fraction"] == r1["rtl_emulation_exact_fraction"] == 1.0
    assert r1["da4ml_cost_luts"] < 0.8 * r0["da4ml_cost_luts"], (
        r0["da4ml_cost_luts"],
        r1["da4ml_cost_luts"],
    )
