"""Cost metrics: hand-counted BOPs (arXiv:1804.10969), pruning, Brevitas bit widths, Deep Sets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from jetdistill.compress.cost import bops_dense, cost_metrics, layer_costs
from jetdistill.compress.prune import Pruner
from jetdistill.errors import InputError


def _two_layer() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():  # no accidental zeros
        for m in (net[0], net[2]):
            m.weight.copy_(torch.rand_like(m.weight) + 0.1)
            m.bias.copy_(torch.rand_like(m.bias) + 0.1)
    return net


def test_dense_bops_hand_count() -> None:
    c = cost_metrics(_two_layer(), (4,))
    # layer 1: n=4, m=3: 12 * (32*32 + 32 + 32 + log2 4) = 12 * 1090
    # layer 2: n=3, m=2:  6 * (1024 + 64 + log2 3)
    expected = 12 * 1090 + 6 * (1088 + math.log2(3))
    assert c["bops"] == pytest.approx(expected, rel=1e-12)
    assert c["params"] == 4 * 3 + 3 + 3 * 2 + 2 == 23
    assert c["nonzero_params"] == 23
    assert c["size_bits"] == 23 * 32


def test_pruned_bops_hand_count_and_explicit_bits() -> None:
    net = _two_layer()
    with torch.no_grad():
        net[0].weight.view(-1)[:6] = 0.0  # f_p = 0.5 in layer 1
    c = cost_metrics(net, (4,), weight_bits=8, act_bits=4)
    # layer 1: 12 * (0.5*4*8 + 4 + 8 + 2) = 12 * 30 ; layer 2: 6 * (32 + 12 + log2 3)
    assert c["bops"] == pytest.approx(12 * 30 + 6 * (44 + math.log2(3)), rel=1e-12)
    assert c["nonzero_params"] == 23 - 6
    # weights at 8 bits (6 + 6 non-zero), float biases at 32 bits (5)
    assert c["size_bits"] == 12 * 8 + 5 * 32
    # input_bits only changes the first layer's activation width
    c2 = cost_metrics(net, (4,), weight_bits=8, act_bits=4, input_bits=16)
    assert c2["bops"] - c["bops"] == pytest.approx(
        bops_dense(4, 3, 8, 16, 0.5) - bops_dense(4, 3, 8, 4, 0.5)
    )


def test_pruning_lowers_bops_and_size() -> None:
    net = _two_layer()
    before = cost_metrics(net, (4,))
    Pruner(net, scope="layer").step(0.5)
    after = cost_metrics(net, (4,))
    assert after["bops"] < before["bops"]
    assert after["size_bits"] < before["size_bits"]
    assert after["params"] == before["params"]
    assert after["nonzero_params"] == before["nonzero_params"] - (6 + 3)


def test_quantised_twin_reads_bit_widths() -> None:
    from jetdistill.compress.quant import build_quant_model, quant_layers

    torch.manual_seed(1)
    q = build_quant_model({"type": "mlp", "hidden": [16, 8]}, (4, 3), 5, 6, 8)
    q.train()
    with torch.no_grad():
        q(torch.randn(32, 4, 3))
    Pruner(q, scope="layer").step(0.5)
    q.eval()
    layers = layer_costs(q, (4, 3))
    assert [(lc.n_in, lc.n_out) for lc in layers] == [(12, 16), (16, 8), (8, 5)]
    assert [lc.act_bits for lc in layers] == [8, 6, 6]  # input quantiser, then 6-bit ReLUs
    assert [lc.weight_bits for lc in layers] == [6, 6, 6]
    assert [lc.bias_bits for lc in layers] == [16, 16, 16]
    expected_bops, expected_size = 0.0, 0
    for (_, layer, bits), act in zip(quant_layers(q), [8, 6, 6], strict=True):
        w = layer.quant_weight().value
        fp = float((w == 0).sum()) / w.numel()
        assert fp >= 0.5  # pruned weights quantise to zero
        expected_bops += bops_dense(layer.in_features, layer.out_features, bits, act, fp)
        expected_size += int((w != 0).sum()) * bits + int((layer.bias != 0).sum()) * 16
    c = cost_metrics(q, (4, 3))
    assert c["bops"] == pytest.approx(expected_bops, rel=1e-12)
    assert c["size_bits"] == expected_size
    assert c["params"] == 12 * 16 + 16 + 16 * 8 + 8 + 8 * 5 + 5  # quantiser scales are not params
    # a 6-bit twin is far cheaper than its float original
    from jetdistill.learn.models import build_model

    f = build_model({"type": "mlp", "hidden": [16, 8]}, (4, 3), 5)
    assert cost_metrics(f, (4, 3))["bops"] > 10 * c["bops"]


def test_deepsets_counts_per_constituent_layers_times_constituents() -> None:
    from jetdistill.learn.models import build_model

    c_n, feat = 16, 3
    model = build_model(
        {"type": "deepsets", "phi_hidden": [8, 4], "rho_hidden": [6]}, (c_n, feat), 5
    )
    layers = layer_costs(model, (c_n, feat))
    assert [lc.applications for lc in layers] == [c_n, c_n, 1, 1]
    phi = c_n * (bops_dense(feat, 8, 32, 32) + bops_dense(8, 4, 32, 32))
    rho = bops_dense(4, 6, 32, 32) + bops_dense(6, 5, 32, 32)
    assert cost_metrics(model, (c_n, feat))["bops"] == pytest.approx(phi + rho, rel=1e-12)
    # parameters are shared across constituents: counted once
    assert (
        cost_metrics(model, (c_n, feat))["params"] == 3 * 8 + 8 + 8 * 4 + 4 + 4 * 6 + 6 + 6 * 5 + 5
    )


def test_batchnorm_params_counted_and_mode_preserved() -> None:
    from jetdistill.learn.models import build_model

    model = build_model({"type": "mlp", "hidden": [8], "batch_norm": True}, (2, 3), 5)
    model.train()
    c = cost_metrics(model, (2, 3))
    assert model.training  # cost_metrics must not leave the model in eval mode
    assert c["params"] == 6 * 8 + 8 + 2 * 8 + 8 * 5 + 5
    with pytest.raises(InputError):
        cost_metrics(model, ())
