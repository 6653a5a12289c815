"""The students' transfer set and patient KD, below the workflow:
a student job's teacher logits for a union of splits come from the soft-target cache split by
split in the union's row order, for KD and for the solo twin's fidelity alike; and a KD
student's early stopping watches its own loss on the validation jets, with the cached
validation soft targets. Real HDF5 caches written by compute_soft_targets, a real fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from jetdistill.learn.kd_data import Split, concat_splits, kd_setup
from jetdistill.learn.losses import build_loss, loss_params
from jetdistill.learn.softtargets import compute_soft_targets
from jetdistill.learn.training import Batches, TrainConfig, evaluate, fit

SIZES = {"teacher_train": 7, "transfer": 5, "val": 4, "test": 3}


def _splits() -> dict[str, Split]:
    rng = np.random.default_rng(0)
    out, start = {}, 100
    for name, n in SIZES.items():  # disjoint global jet indices, as split_data writes them
        out[name] = Split(rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n),
                          np.arange(start, start + n), {"class_names": ["a", "b", "c"]})  # fmt: skip
        start += 1000
    return out


def _teacher() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(6, 3)


@pytest.fixture
def cache(tmp_path):
    splits = _splits()
    path = tmp_path / "t.h5"
    compute_soft_targets([_teacher()], {n: (s.X, s.y, s.index) for n, s in splits.items()}, path)
    return splits, str(path)


def _logits(x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return _teacher()(torch.as_tensor(x)).numpy()


KD = {"method": "hinton", "temperature": 4.0, "alpha": 0.1, "params": loss_params("hinton", None)}


@pytest.mark.parametrize("names", [["transfer"], ["transfer", "teacher_train"], ["teacher_train"]])
def test_union_gets_each_splits_soft_targets_in_row_order(cache, names):
    splits, path = cache
    parts = {n: splits[n] for n in names}
    train = concat_splits(list(parts.values()))
    assert len(train.y) == sum(SIZES[n] for n in names)
    want = np.concatenate([_logits(splits[n].X) for n in names])
    kd = kd_setup(KD, train, splits["val"], splits["test"], targets=path, label_smoothing=0.0,
                  parts=parts)  # fmt: skip
    np.testing.assert_allclose(kd.t_train, want, atol=1e-6)
    np.testing.assert_allclose(kd.fidelity_train, want, atol=1e-6)
    np.testing.assert_allclose(kd.t_val, _logits(splits["val"].X), atol=1e-6)
    solo = kd_setup(None, train, splits["val"], splits["test"], targets=path, label_smoothing=0.0,
                    parts=parts)  # fmt: skip
    assert solo.t_train is None and solo.t_val is None  # the twin learns from labels only
    np.testing.assert_allclose(solo.fidelity_train, want, atol=1e-6)
    np.testing.assert_allclose(solo.fidelity_test, _logits(splits["test"].X), atol=1e-6)


def test_parts_out_of_step_with_the_cache_are_refused(cache):
    """Rows labelled with another split's name: the cache's jet index catches it."""
    splits, path = cache
    wrong = {"transfer": splits["teacher_train"]}
    with pytest.raises(Exception, match="jet"):
        kd_setup(KD, splits["teacher_train"], splits["val"], splits["test"], targets=path,
                 label_smoothing=0.0, parts=wrong)  # fmt: skip


def test_kd_early_stopping_watches_the_kd_loss_on_val_with_its_soft_targets(cache):
    """The restored weights are those of the lowest KD loss on val (with the cached val
    soft targets), which is not the cross entropy there."""
    splits, path = cache
    tr = concat_splits([splits["transfer"], splits["teacher_train"]])
    kd = kd_setup(KD, tr, splits["val"], splits["test"], targets=path, label_smoothing=0.0,
                  parts={"transfer": splits["transfer"], "teacher_train": splits["teacher_train"]})  # fmt: skip
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    val = Batches.from_numpy(splits["val"].X, splits["val"].y, kd.t_val)
    res = fit(model, Batches.from_numpy(tr.X, tr.y, kd.t_train), val,
              TrainConfig(epochs=30, patience=3, batch_size=4, lr=0.05), kd.loss_fn, seed=0)  # fmt: skip
    losses = [r["val_loss"] for r in res.history]
    assert res.best_val_loss == pytest.approx(min(losses))
    assert res.best_epoch == int(np.argmin(losses))
    kd_val, _ = evaluate(model, val, kd.loss_fn)
    assert kd_val == pytest.approx(res.best_val_loss, rel=1e-5)
    ce_val, _ = evaluate(model, val, build_loss("ce"))
    assert abs(ce_val - kd_val) > 1e-3
