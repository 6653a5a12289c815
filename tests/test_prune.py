"""Pruning: exact sparsity (global / per layer), fixed masks through training, OBD vs magnitude."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from jetdistill.compress.prune import Pruner, sparsity_schedule, weight_sparsity
from jetdistill.errors import InputError
from jetdistill.learn.losses import build_loss
from jetdistill.learn.training import Batches, TrainConfig, fit


def _net(seed: int = 0, *, skewed: bool = True) -> nn.Sequential:
    """Three layers; ``skewed``: very different weight scales, so global and per-layer pruning differ."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 3)
    )
    if skewed:
        with torch.no_grad():
            net[1].weight.mul_(4.0)
            net[5].weight.mul_(0.1)
    return net


def _zeros(layer: nn.Linear) -> int:
    return int((layer.weight == 0).sum())


def test_schedule_ramps_to_target() -> None:
    s = sparsity_schedule(0.75, 4)
    assert len(s) == 4 and s[-1] == 0.75
    assert all(a < b for a, b in itertools.pairwise(s))
    assert s[0] > 0.75 / 4  # polynomial: front-loaded compared with a linear ramp
    assert sparsity_schedule(0.5, 2, power=1.0) == [0.25, 0.5]
    with pytest.raises(InputError):
        sparsity_schedule(0.5, 0)
    with pytest.raises(InputError):
        sparsity_schedule(1.0, 3)


@pytest.mark.parametrize("target", [0.3, 0.77])
def test_global_and_layer_sparsity_exact(target: float) -> None:
    net_g, net_l = _net(), _net()
    layers = [1, 3, 5]
    sizes = [net_g[i].weight.numel() for i in layers]
    total = sum(sizes)
    biases_before = [net_g[i].bias.clone() for i in layers]

    pg = Pruner(net_g, scope="global")
    pg.step(target)
    assert sum(_zeros(net_g[i]) for i in layers) == round(target * total)
    assert abs(pg.sparsity() - target) <= 1.0 / total
    assert weight_sparsity(net_g) == pg.sparsity()
    # global magnitude pruning hits the small-scale last layer hardest, the large-scale first least
    fr = [_zeros(net_g[i]) / n for i, n in zip(layers, sizes, strict=True)]
    assert fr[2] >= fr[1] > fr[0]
    assert all(torch.equal(net_g[i].bias, b) for i, b in zip(layers, biases_before, strict=True))

    pl = Pruner(net_l, scope="layer")
    pl.step(target)
    for i, n in zip(layers, sizes, strict=True):
        assert _zeros(net_l[i]) == round(target * n)
    # pruned weights are the smallest of their layer
    for i in layers:
        w = net_l[i].weight
        kept_min = w[pl.masks[str(i)]].abs().min()
        orig = _net()[i].weight
        assert orig[~pl.masks[str(i)]].abs().max() <= kept_min


def test_masks_are_monotone_and_fixed() -> None:
    net = _net(1)
    p = Pruner(net)
    p.step(0.5)
    first = {k: m.clone() for k, m in p.masks.items()}
    p.step(0.3)  # lower target: nothing comes back
    assert all(torch.equal(first[k], p.masks[k]) for k in first)
    p.step(0.6)
    assert all(torch.all(p.masks[k] <= first[k]) for k in first)  # pruned stay pruned
    assert abs(p.sparsity() - 0.6) < 1e-2


def _toy_data(n: int, seed: int) -> Batches:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, generator=g)
    y = (x[:, 0, 0] > 0).long() + (x[:, 1, 1] > 0.5).long()
    return Batches(x, y)


def test_pruned_weights_stay_exactly_zero_through_fit() -> None:
    torch.manual_seed(0)
    net = _net(2, skewed=False)
    train, val = _toy_data(512, 0), _toy_data(128, 1)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.01, patience=0, device="cpu", weight_decay=0.0)
    p = Pruner(net, scope="global")
    loss = build_loss("ce")
    for target in sparsity_schedule(0.6, 2):
        p.step(target)
        before = {name: layer.weight.detach().clone() for name, layer in p.layers.items()}
        fit(net, train, val, cfg, loss, seed=0, step_hook=p.apply)
        for name, layer in p.layers.items():
            mask = p.masks[name]
            assert torch.all(layer.weight[~mask] == 0)
            assert not torch.equal(
                layer.weight[mask], before[name][mask]
            )  # the kept weights did train
    assert weight_sparsity(net) == pytest.approx(0.6, abs=1e-2)

    # control: without the hook the gradients revive pruned weights (so the hook matters)
    net2 = _net(2, skewed=False)
    Pruner(net2).step(0.6)
    fit(net2, train, val, cfg.replace(epochs=1), loss, seed=0)
    assert weight_sparsity(net2) < 0.1


def test_quantaware_pruning_on_brevitas_twin() -> None:
    from jetdistill.compress.quant import build_quant_model, quant_layers

    torch.manual_seed(3)
    q = build_quant_model({"type": "mlp", "hidden": [16, 8]}, (4, 3), 3, 6, 8)
    p = Pruner(q, scope="layer")
    assert list(p.layers) == [name for name, _, _ in quant_layers(q)]
    p.step(0.5)
    train, val = _toy_data(256, 2), _toy_data(64, 3)
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01, patience=0, device="cpu")
    fit(q, train, val, cfg, build_loss("ce"), seed=0, step_hook=p.apply)
    for name, layer, _ in quant_layers(q):
        qw = layer.quant_weight().value
        assert torch.all(layer.weight[~p.masks[name]] == 0)
        assert torch.all(qw[~p.masks[name]] == 0)  # the quantised weight is zero too
        assert int((~p.masks[name]).sum()) == round(0.5 * layer.weight.numel())


def test_obd_ranks_differently_from_magnitude() -> None:
    """Column 0 has small weights on a high-variance input, column 1 large weights on a ~0 input.

    Magnitude prunes column 0; OBD (0.5 * Fisher * w^2, Fisher ~ E[x_j^2]) prunes column 1,
    which is what the loss is insensitive to.
    """
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.stack(
        [torch.randn(256, generator=g) * 10.0, torch.randn(256, generator=g) * 0.01], dim=1
    )
    y = (x[:, 0] > 0).long()

    def make() -> nn.Sequential:
        lin = nn.Linear(2, 2)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[-0.1, 1.0], [0.1, -1.0]]))  # class 1 <=> x0 > 0
            lin.bias.zero_()
        return nn.Sequential(lin)

    mag_net, obd_net = make(), make()
    Pruner(mag_net, criterion="magnitude").step(0.5)
    assert torch.equal(mag_net[0].weight == 0, torch.tensor([[True, False], [True, False]]))

    p = Pruner(obd_net, criterion="obd")
    ce = build_loss("ce")  # jetdistill LossFn: (logits, y, teacher_or_None)
    p.step(0.5, saliency_batch=(x, y, None, ce))
    assert torch.equal(obd_net[0].weight == 0, torch.tensor([[False, True], [False, True]]))

    # 3-tuple form with a plain torch loss gives the same masks; .grad is left alone
    net3 = make()
    net3[0].weight.grad = torch.full((2, 2), 7.0)
    Pruner(net3, criterion="obd").step(0.5, saliency_batch=(x, y, nn.CrossEntropyLoss()))
    assert torch.equal(net3[0].weight == 0, obd_net[0].weight == 0)
    assert torch.all(net3[0].weight.grad[:, 0] == 7.0)

    # the OBD choice hurts the loss less than the magnitude choice
    with torch.no_grad():
        assert ce(obd_net(x), y, None) < ce(mag_net(x), y, None)


def test_obd_needs_batch_and_bad_args() -> None:
    with pytest.raises(InputError, match="saliency_batch"):
        Pruner(_net(), criterion="obd").step(0.5)
    with pytest.raises(InputError, match="scope"):
        Pruner(_net(), scope="channel")
    with pytest.raises(InputError, match="criterion"):
        Pruner(_net(), criterion="random")
    with pytest.raises(InputError, match="sparsity"):
        Pruner(_net()).step(1.0)
