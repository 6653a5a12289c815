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


# --------------------------------------------------------------------------- the set student

SET_SPEC = {"type": "set", "view": "c16", "phi_hidden": [8, 6], "context_widths": [7, 6],
            "rho_hidden": [8]}  # fmt: skip
POOLS = ["sum", "mean", "max"]


def _padded_x(b=4, real=(7, 3, 5, 1), dtype=torch.float64):
    """Jets with ``real[i]`` constituents followed by exact-zero padding up to ``C``."""
    x = _x(b, dtype=dtype)
    for i, n in enumerate(real):
        x[i, n:] = 0.0
    return x


@pytest.mark.parametrize("ctx_pool", POOLS)
@pytest.mark.parametrize("pool", POOLS)
def test_set_student_permutation_invariant(pool, ctx_pool):
    torch.manual_seed(0)
    model = build_model(SET_SPEC | {"pooling": pool, "context_pooling": ctx_pool}, (C, F), K)
    model = model.double()
    x = _padded_x()
    out = model(x)
    for seed in (4, 5):
        perm = torch.randperm(C, generator=torch.Generator().manual_seed(seed))
        assert not torch.equal(perm, torch.arange(C))
        torch.testing.assert_close(model(x[:, perm]), out, rtol=0, atol=1e-6)
    assert not torch.allclose(model(x * 2.0), out)  # not trivially constant


@pytest.mark.parametrize("ctx_pool", POOLS)
@pytest.mark.parametrize("pool", POOLS)
def test_set_student_padding_invariant(pool, ctx_pool):
    """Appending zero rows changes nothing: every pool skips the padding (mean: real count)."""
    torch.manual_seed(1)
    spec = SET_SPEC | {"pooling": pool, "context_pooling": ctx_pool}
    model = build_model(spec, (C, F), K).double()
    longer = build_model(spec, (C + 9, F), K).double()
    longer.load_state_dict(model.state_dict())
    x = _padded_x()
    padded = torch.cat([x, torch.zeros(x.shape[0], 9, F, dtype=x.dtype)], dim=1)
    torch.testing.assert_close(longer(padded), model(x), rtol=0, atol=1e-6)
    # and the padding already inside x is ignored too: jet 3 has one real constituent
    one = build_model(spec, (1, F), K).double()
    one.load_state_dict(model.state_dict())
    torch.testing.assert_close(one(x[3:4, :1]), model(x[3:4]), rtol=0, atol=1e-6)


def test_set_student_without_masking_sees_the_padding():
    torch.manual_seed(2)
    spec = SET_SPEC | {"pooling": "mean", "mask_padding": False}
    model = build_model(spec, (C, F), K).double()
    longer = build_model(spec, (C + 3, F), K).double()
    longer.load_state_dict(model.state_dict())
    x = _padded_x()
    padded = torch.cat([x, torch.zeros(x.shape[0], 3, F, dtype=x.dtype)], dim=1)
    assert not torch.allclose(longer(padded), model(x))


def test_masked_pool_values():
    from jetdistill.learn.models import constituent_mask, masked_pool

    h = torch.tensor([[[1.0, -2.0], [3.0, -5.0], [9.0, 9.0]]])  # row 2 is padding
    x = torch.tensor([[[0.5, 0.0], [0.0, -1.0], [0.0, 0.0]]])
    mask = constituent_mask(x)
    assert mask.flatten().tolist() == [1.0, 1.0, 0.0]
    assert masked_pool(h, mask, "sum").tolist() == [[4.0, -7.0]]
    assert masked_pool(h, mask, "mean").tolist() == [[2.0, -3.5]]
    assert masked_pool(h, mask, "max").tolist() == [[3.0, -2.0]]
    empty = torch.zeros(1, 3, 1)  # a jet without constituents pools to 0, not -inf / nan
    for pool in POOLS:
        assert masked_pool(h, empty, pool).tolist() == [[0.0, 0.0]]


def test_set_student_default_spec_is_the_measured_4_5k_point():
    """The chip search's measured student on the default 16x3 (c16) views with 5 classes."""
    from jetdistill.learn.models import SetStudent, count_params, resolve_spec

    spec = {"type": "set", "view": "c16"}
    model = build_model(spec, (16, 3), 5)
    assert isinstance(model, SetStudent)
    resolved = resolve_spec(spec)
    assert resolved["phi_hidden"] == [32, 32] and resolved["context_widths"] == [32]
    assert (resolved["context_pooling"], resolved["pooling"]) == ("mean", "max")
    # phi 3*32+32 + 32*32+32; context A and B 32*32+32 each; rho 32*32+32 + 32*5+5
    expected = (3 * 32 + 32) + 4 * (32 * 32 + 32) + (32 * 5 + 5)
    assert count_params(model) == expected == 4517
    card = model_card(model, spec, (16, 3))
    assert card["params"] == 4517 and card["type"] == "set"
    assert [lay["name"] for lay in card["layers"]] == [
        "phi.0", "phi.2", "context.0.local", "context.0.context", "rho.0", "rho.2"
    ]  # fmt: skip
    assert model.embed(torch.zeros(2, 16, 3)).shape == (2, model.embedding_dim) == (2, 32)


@pytest.mark.parametrize("pool", POOLS)
def test_set_student_fx_trace(pool):
    torch.manual_seed(3)
    model = build_model(SET_SPEC | {"pooling": pool, "context_pooling": pool}, (C, F), K)
    x = _padded_x(dtype=torch.float32)
    traced = torch.fx.symbolic_trace(model)
    assert torch.equal(traced(x), model(x))
    targets = {str(n.target) for n in traced.graph.nodes}
    assert "context.0.context" in targets and "rho.2" in targets


def test_set_student_gradients_finite_with_empty_jet():
    torch.manual_seed(4)
    model = build_model(SET_SPEC, (C, F), K)
    x = _padded_x(dtype=torch.float32)
    x[0] = 0.0  # no real constituent at all
    model(x).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_set_student_checkpoint_roundtrip(tmp_path):
    from jetdistill.learn.models import checkpoint_meta, load_model
    from jetdistill.learn.training import save_checkpoint

    torch.manual_seed(5)
    spec = SET_SPEC | {"pooling": "sum"}
    model = build_model(spec, (C, F), K, name="set_s").eval()
    save_checkpoint(model, tmp_path / "s.pt", checkpoint_meta(spec, (C, F), K, name="set_s"))
    rebuilt, meta = load_model(tmp_path / "s.pt")
    assert meta["spec"]["type"] == "set" and meta["spec"]["pooling"] == "sum"
    x = _padded_x(dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"type": "set", "context_pooling": "median"}, "models.s.context_pooling"),
        ({"type": "set", "context_widths": [8, 0]}, "models.s.context_widths"),
        ({"type": "set", "phi_hidden": []}, "models.s.phi_hidden"),
        ({"type": "set", "mask_padding": "yes"}, "models.s.mask_padding"),
        ({"type": "set", "context_layers": 2}, "models.s.context_layers"),
    ],
)
def test_set_student_invalid_spec_names_the_key(spec, key):
    with pytest.raises(InputError) as exc:
        build_model(spec, (C, F), K, name="s")
    assert exc.value.where == key
    with pytest.raises(InputError, match="input_shape"):
        build_model({"type": "set"}, (C * F,), K)


def test_set_student_without_context_is_masked_deepsets():
    """``context_widths: []`` is Deep Sets; with masking off it is exactly :class:`DeepSets`."""
    torch.manual_seed(6)
    ds = build_model(DS_SPEC | {"pooling": "mean"}, (C, F), K).double()
    s = build_model({"type": "set", "phi_hidden": [8, 6], "context_widths": [], "rho_hidden": [8],
                     "pooling": "mean", "mask_padding": False}, (C, F), K).double()  # fmt: skip
    s.load_state_dict(ds.state_dict())
    x = _padded_x()
    torch.testing.assert_close(s(x), ds(x), rtol=0, atol=1e-12)
