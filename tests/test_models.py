"""Model shapes, exact permutation invariance, fx tracing and spec validation."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from jetdistill.errors import InputError
from jetdistill.learn.models import (
    EDGE_IMPLS,
    MLP,
    InteractionNetwork,
    build_model,
    model_card,
    receiver_sender_indices,
    relation_matrices,
)

C, F, K = 7, 4, 5
IN_SPEC = {"type": "interaction_network", "view": "teacher", "fr_hidden": [8, 6], "fr_out": 5,
           "fo_hidden": [8], "fo_out": 6, "phi_hidden": [8]}  # fmt: skip
DS_SPEC = {"type": "deepsets", "phi_hidden": [8, 6], "rho_hidden": [8], "pooling": "sum"}
MLP_SPEC = {"type": "mlp", "view": "c16", "hidden": [16, 8]}


pytestmark = pytest.mark.usefixtures("one_thread")


def _x(b=3, dtype=torch.float64):
    return torch.randn(b, C, F, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("spec", [IN_SPEC, DS_SPEC, MLP_SPEC], ids=["in", "ds", "mlp"])
def test_output_shape_and_fx_trace(spec):
    torch.manual_seed(0)
    model = build_model(spec, (C, F), K).double()
    x = _x()
    out = model(x)
    assert out.shape == (3, K)
    traced = torch.fx.symbolic_trace(model)
    assert torch.equal(traced(x), out)


def test_relation_matrices_are_the_paper_ones():
    rr, rs = relation_matrices(4)
    assert rr.shape == rs.shape == (4, 12)
    assert torch.equal(rr.sum(0), torch.ones(12)) and torch.equal(rs.sum(0), torch.ones(12))
    assert torch.equal(rr.sum(1), torch.full((4,), 3.0))  # each node receives from n-1 senders
    assert not (rr * rs).any()  # no self-edges
    recv, send = receiver_sender_indices(4)
    pairs = set(zip(recv.tolist(), send.tolist()))
    assert pairs == {(r, s) for r in range(4) for s in range(4) if r != s}


def test_edge_implementations_agree():
    torch.manual_seed(0)
    ref = build_model(IN_SPEC | {"edge_impl": "matmul"}, (C, F), K).double()
    x = _x()
    for impl in EDGE_IMPLS:
        other = build_model(IN_SPEC | {"edge_impl": impl}, (C, F), K).double()
        other.load_state_dict(ref.state_dict())
        torch.testing.assert_close(other(x), ref(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", EDGE_IMPLS)
def test_interaction_network_permutation_invariant(impl):
    torch.manual_seed(0)
    model = build_model(IN_SPEC | {"edge_impl": impl}, (C, F), K).double()
    x = _x()
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(perm, torch.arange(C))
    assert torch.allclose(model(x[:, perm]), model(x), rtol=0, atol=1e-12)
    # and it is not trivially constant in the input
    assert not torch.allclose(model(x), model(x * 2.0))


@pytest.mark.parametrize("pooling", ["sum", "mean", "max"])
def test_deepsets_permutation_invariant(pooling):
    torch.manual_seed(0)
    model = build_model(DS_SPEC | {"pooling": pooling}, (C, F), K).double()
    x = _x()
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(model(x[:, perm]), model(x), rtol=0, atol=1e-12)


def test_mlp_is_plain_sequential_and_not_permutation_invariant():
    torch.manual_seed(0)
    model = build_model(MLP_SPEC | {"batch_norm": True, "dropout": 0.1}, (C, F), K)
    assert isinstance(model, MLP) and isinstance(model, nn.Sequential)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout",
                     "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]  # fmt: skip
    assert [(lin.in_features, lin.out_features) for lin in model.linear_layers] == [
        (C * F, 16),
        (16, 8),
        (8, K),
    ]
    model.eval()
    x = _x(dtype=torch.float32)
    assert not torch.allclose(model(x.flip(1)), model(x))


def test_mlp_any_rank():
    model = build_model({"type": "mlp", "hidden": [4]}, (2, 3, 5), 3)
    assert model(torch.zeros(2, 2, 3, 5)).shape == (2, 3)
    assert build_model({"type": "mlp", "hidden": []}, (6,), 3)(torch.zeros(1, 6)).shape == (1, 3)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"type": "interaction_network", "fr_hiden": [8]}, "models.jedinet.fr_hiden"),
        ({"type": "interaction_network", "fr_out": 0}, "models.jedinet.fr_out"),
        ({"type": "deepsets", "pooling": "median"}, "models.jedinet.pooling"),
        ({"type": "deepsets", "phi_hidden": []}, "models.jedinet.phi_hidden"),
        ({"type": "mlp", "hidden": [8, "16"]}, "models.jedinet.hidden"),
        ({"type": "mlp", "dropout": 1.0}, "models.jedinet.dropout"),
        ({"type": "mlp", "activation": "swish"}, "models.jedinet.activation"),
        ({"type": "transformer"}, "models.jedinet.type"),
    ],
)
def test_invalid_spec_names_the_key(spec, key):
    with pytest.raises(InputError) as exc:
        build_model(spec, (C, F), K, name="jedinet")
    assert exc.value.where == key


def test_set_models_need_rank2_input():
    with pytest.raises(InputError, match="input_shape"):
        build_model(DS_SPEC, (C * F,), K)


def test_model_card():
    model = build_model(IN_SPEC, (C, F), K)
    card = model_card(model, IN_SPEC, (C, F))
    assert isinstance(model, InteractionNetwork)
    assert card["type"] == "interaction_network"
    assert card["params"] == sum(p.numel() for p in model.parameters())
    assert card["n_edges"] == C * (C - 1)
    assert card["layers"][0] == {"name": "f_r.0", "in": 2 * F, "out": 8, "params": 2 * F * 8 + 8}
    assert card["layers"][-1]["out"] == K
    # Rr/Rs are rebuilt from the shape: they are not stored in checkpoints
    assert set(model.state_dict()) == {n for n, _ in model.named_parameters()}
