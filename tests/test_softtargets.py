"""Soft-target cache: ensemble averaging, jet-index alignment check, HDF5 round trip."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from jetdistill.errors import InputError
from jetdistill.learn.softtargets import (
    compute_soft_targets,
    ensemble_logits,
    load_embedding,
    load_soft_targets,
)


class CountingLinear(nn.Module):
    """A fixed linear teacher on flattened (B, C, F) inputs that counts its forward calls."""

    def __init__(self, in_features: int, n_classes: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(in_features, n_classes)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(n_classes, in_features, generator=g) * 2.0)
            self.lin.bias.copy_(torch.randn(n_classes, generator=g))
        self.rows_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows_seen += x.shape[0]
        return self.lin(x.flatten(1))


def make_splits(rng: np.random.Generator) -> dict:
    splits = {}
    offset = 0
    for name, n in (("transfer", 37), ("val", 11), ("test", 13)):
        x = rng.normal(size=(n, 4, 3)).astype(np.float32)
        y = rng.integers(0, 5, size=n)
        index = rng.permutation(np.arange(offset, offset + n))  # shuffled global indices
        offset += n
        splits[name] = (x, y, index)
    return splits


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_ensemble_probability_average(tmp_path):
    rng = np.random.default_rng(0)
    splits = make_splits(rng)
    members = [CountingLinear(12, 5, seed) for seed in (1, 2, 3)]
    out = tmp_path / "sub" / "teacher.h5"
    summary = compute_soft_targets(members, splits, out, batch_size=8)

    # each member ran exactly once over every split
    total = sum(len(v[0]) for v in splits.values())
    assert [m.rows_seen for m in members] == [total] * 3
    assert summary["n_members"] == 3 and summary["splits"]["test"]["n"] == 13

    for name, (x, y, index) in splits.items():
        with torch.no_grad():
            ref_members = np.stack([m.lin(torch.from_numpy(x).flatten(1)).numpy() for m in members])
        mean_prob = np_softmax(ref_members.astype(np.float64)).mean(axis=0)
        logits = load_soft_targets(out, name, index)
        assert logits.shape == (len(y), 5) and logits.dtype == np.float32
        # softmax of the cached logits is the mean member probability (and exp(logits) sums to 1)
        np.testing.assert_allclose(np_softmax(logits), mean_prob, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, rtol=1e-5)
        # it is NOT the mean of the logits (the distinction matters for confident members)
        assert not np.allclose(np_softmax(ref_members.mean(axis=0)), mean_prob, atol=1e-3)
        np.testing.assert_allclose(
            load_soft_targets(out, name, index, members=True), ref_members, rtol=1e-5
        )
        with h5py.File(out) as f:
            np.testing.assert_array_equal(f[name]["y"][()], y)
            np.testing.assert_array_equal(f[name]["index"][()], index)
            assert f[name]["member_logits"].shape == (3, len(y), 5)
            assert not f.attrs["temperature_applied"]


def test_single_member_round_trip_keeps_raw_logits(tmp_path):
    rng = np.random.default_rng(1)
    splits = make_splits(rng)
    member = CountingLinear(12, 5, seed=7)
    out = tmp_path / "t.h5"
    compute_soft_targets([member], splits, out, batch_size=1000)
    x, _, index = splits["val"]
    with torch.no_grad():
        expected = member.lin(torch.from_numpy(x).flatten(1)).numpy()
    np.testing.assert_allclose(load_soft_targets(out, "val", index), expected, rtol=1e-6)
    # no temporary files are left next to the output
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]


def test_ensemble_logits_is_stable_for_confident_members():
    z = np.array(
        [[[1000.0, 0.0]], [[0.0, 1000.0]]]
    )  # two members, each certain of a different class
    out = ensemble_logits(z)
    np.testing.assert_allclose(np.exp(out), [[0.5, 0.5]], rtol=1e-6)


def test_index_mismatch_fails_clearly(tmp_path):
    rng = np.random.default_rng(2)
    splits = make_splits(rng)
    out = tmp_path / "t.h5"
    compute_soft_targets([CountingLinear(12, 5, 0)], splits, out)
    _, _, index = splits["transfer"]
    swapped = index.copy()
    swapped[[3, 5]] = swapped[[5, 3]]
    with pytest.raises(InputError, match=r"first at row 3") as err:
        load_soft_targets(out, "transfer", swapped)
    assert "transfer/index" in str(err.value)
    with pytest.raises(InputError, match="do not align"):
        load_soft_targets(out, "transfer", index[:-1])
    with pytest.raises(InputError, match="missing group"):
        load_soft_targets(out, "teacher_train", index)
    with pytest.raises(InputError, match="missing file"):
        load_soft_targets(tmp_path / "nope.h5", "transfer", index)


def test_bad_inputs_and_atomicity(tmp_path):
    rng = np.random.default_rng(3)
    splits = make_splits(rng)
    x, y, index = splits["val"]
    with pytest.raises(InputError, match="equal length"):
        compute_soft_targets(
            [CountingLinear(12, 5, 0)], {"val": (x, y[:-1], index)}, tmp_path / "a.h5"
        )
    with pytest.raises(InputError, match="at least one teacher member"):
        compute_soft_targets([], splits, tmp_path / "a.h5")

    class Broken(CountingLinear):
        def forward(self, x):
            return super().forward(x) * float("nan")

    with pytest.raises(InputError, match="finite"):
        compute_soft_targets([Broken(12, 5, 0)], splits, tmp_path / "a.h5")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_members_on_different_views(tmp_path):
    """Ensemble members may read different views of the same jets: (model, view) pairs."""
    rng = np.random.default_rng(4)
    a = make_splits(rng)
    splits = {}
    for name, (x, y, index) in a.items():
        x_b = rng.normal(size=(len(y), 2, 5)).astype(np.float32)
        splits[name] = {"va": (x, y, index), "vb": (x_b, y, index)}
    m_a, m_b = CountingLinear(12, 5, 1), CountingLinear(10, 5, 2)
    out = tmp_path / "t.h5"
    compute_soft_targets([(m_a, "va"), (m_b, "vb")], splits, out)
    x_a, _, index = splits["test"]["va"]
    x_b = splits["test"]["vb"][0]
    with torch.no_grad():
        za = m_a.lin(torch.from_numpy(x_a).flatten(1)).numpy()
        zb = m_b.lin(torch.from_numpy(x_b).flatten(1)).numpy()
    mean_prob = (np_softmax(za.astype(np.float64)) + np_softmax(zb.astype(np.float64))) / 2
    np.testing.assert_allclose(
        np_softmax(load_soft_targets(out, "test", index)), mean_prob, rtol=1e-5
    )

    # views that disagree on the jet order are rejected
    x, y, index = splits["val"]["vb"]
    splits["val"]["vb"] = (x, y, index[::-1])
    with pytest.raises(InputError, match="same jets"):
        compute_soft_targets([(m_a, "va"), (m_b, "vb")], splits, tmp_path / "u.h5")
    with pytest.raises(InputError, match="view"):
        compute_soft_targets([m_a], splits, tmp_path / "u.h5")  # bare model, two views


class TwoLayer(nn.Module):
    """A teacher whose embedding (the input of its last Linear) is ``relu(W1 x)``."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU())
        self.head = nn.Linear(6, 5)
        self.rows_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows_seen += x.shape[0]
        return self.head(self.body(x))


def test_embedding_is_cached_from_the_same_forward_pass(tmp_path):
    """The cached embedding is each member's last hidden layer, members concatenated, aligned
    like the logits, at no extra teacher run."""
    rng = np.random.default_rng(1)
    splits = make_splits(rng)
    members = [TwoLayer(1), TwoLayer(2)]
    out = tmp_path / "t.h5"
    summary = compute_soft_targets(members, splits, out, batch_size=5)
    total = sum(len(v[0]) for v in splits.values())
    assert [m.rows_seen for m in members] == [total] * 2
    assert summary["embedding_dim"] == 12
    for name, (x, _y, index) in splits.items():
        with torch.no_grad():
            want = np.concatenate([m.body(torch.from_numpy(x)).numpy() for m in members], axis=1)
        emb = load_embedding(out, name, index)
        assert emb.shape == (len(x), 12) and emb.dtype == np.float32
        np.testing.assert_allclose(emb, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="index"):
        load_embedding(out, "test", splits["test"][2][::-1])
    compute_soft_targets(members, splits, tmp_path / "bare.h5", embeddings=False)
    with h5py.File(tmp_path / "bare.h5") as f:
        assert "embedding" not in f["test"] and f.attrs["embedding_dim"] == 0
    with pytest.raises(InputError, match="embedding"):
        load_embedding(tmp_path / "bare.h5", "test", splits["test"][2])
