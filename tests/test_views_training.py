"""Consistent views in training: the teacher's logits per view in the soft-target cache and
students drawing (input, teacher logits) of one view per jet per epoch."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from jetdistill.errors import InputError
from jetdistill.learn.softtargets import compute_soft_targets, load_soft_targets, load_view_logits
from jetdistill.learn.training import Batches, ViewBatches


class Sum(nn.Module):
    """logits = (sum of inputs, -sum, 0): hand-checkable teacher."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.reshape(len(x), -1).sum(1)
        return torch.stack([s, -s, torch.zeros_like(s)], 1)


def test_view_logits_are_cached_beside_the_plain_ones(tmp_path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y, idx = np.array([0, 1, 2, 0]), np.array([3, 5, 8, 9])
    views = np.stack([x, -x, 2 * x])  # (V=3, N, 3)
    out = tmp_path / "st.h5"
    cfg = {"k": 3, "transforms": ["phi_flip"], "pt_smear": 0.0, "seed": 1}
    summary = compute_soft_targets([Sum()], {"transfer": (x, y, idx), "test": (x, y, idx)}, out,
                                   views={"transfer": views}, views_attrs=cfg, embeddings=False)  # fmt: skip
    # the plain layout is untouched: readers of logits see what they always saw
    plain = load_soft_targets(out, "transfer", idx)
    np.testing.assert_allclose(plain[:, 0], x.sum(1))
    vl = load_view_logits(out, "transfer", idx, cfg)
    assert vl.shape == (3, 4, 3)
    np.testing.assert_allclose(vl[1, :, 0], -x.sum(1))
    np.testing.assert_allclose(vl[2, :, 1], -2 * x.sum(1))
    # view 1 flips every sum: the teacher is right exactly where it was wrong on class 0 / 1
    assert (
        summary["splits"]["transfer"]["view_accuracy"][0]
        == summary["splits"]["transfer"]["accuracy"]
    )
    with h5py.File(out) as f:
        assert "view_logits" not in f["test"]
    with pytest.raises(InputError, match="student's views"):
        load_view_logits(out, "transfer", idx, {**cfg, "seed": 2})
    with pytest.raises(InputError, match="view_logits"):
        load_view_logits(out, "test", idx, cfg)
    with pytest.raises(InputError, match="jet order|index"):
        load_view_logits(out, "transfer", idx[::-1], cfg)


def test_each_epoch_draws_one_consistent_view_per_jet() -> None:
    n = 400
    x = np.zeros((n, 2), np.float32)
    t = np.zeros((n, 3), np.float32)
    # view v of every jet: inputs filled with v + 1 and teacher logit 0 equal to v + 1
    xv = np.stack([np.full((n, 2), v + 1, np.float32) for v in range(3)])
    tv = np.zeros((3, n, 3), np.float32)
    for v in range(3):
        tv[v, :, 0] = v + 1
    b = ViewBatches.from_views(Batches.from_numpy(x, np.zeros(n), t), xv, tv)
    gen = torch.Generator().manual_seed(0)
    seen = []
    for _ in range(2):
        xs, ts = [], []
        for xb, _, tb in b.iter_batches(64, gen):
            xs.append(xb[:, 0])
            ts.append(tb[:, 0])
        xs_, ts_ = torch.cat(xs), torch.cat(ts)
        assert torch.equal(xs_, ts_)  # input and teacher logits of the same view, always
        counts = torch.bincount(xs_.long(), minlength=4)
        assert counts.min() > n / 4 * 0.6  # the original and the 3 views all drawn
        seen.append(xs_)
    assert not torch.equal(seen[0], seen[1])  # a fresh draw each epoch
    # in order (evaluation): the originals
    xb, _, tb = next(b.iter_batches(n))
    assert torch.all(xb == 0) and torch.all(tb == 0)
    # a solo student: views of the inputs, no teacher logits
    solo = ViewBatches.from_views(Batches.from_numpy(x, np.zeros(n)), xv)
    xb, _, tb = next(solo.iter_batches(n, torch.Generator().manual_seed(1)))
    assert tb is None and xb.max() > 0
    with pytest.raises(InputError, match="ViewBatches.tv"):
        ViewBatches.from_views(Batches.from_numpy(x, np.zeros(n), t), xv)
    with pytest.raises(InputError, match="ViewBatches.xv"):
        ViewBatches.from_views(Batches.from_numpy(x, np.zeros(n)), xv[:, :10])
