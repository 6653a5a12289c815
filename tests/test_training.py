"""Training loop: config parsing, determinism, learning, early stopping, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from jetdistill.errors import InputError
from jetdistill.learn.models import build_model
from jetdistill.learn.training import (
    Batches,
    TrainConfig,
    TrainingDivergedError,
    cross_entropy_loss,
    fit,
    load_checkpoint,
    predict_logits,
    save_checkpoint,
)

C, F, K = 6, 3, 3


pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(n: int, seed: int, noise: float = 0.3) -> Batches:
    """Three linearly separable blobs: the class shifts the first feature of every constituent."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    x = rng.normal(scale=noise, size=(n, C, F)).astype(np.float32)
    x[:, :, 0] += (y[:, None] - 1.0) * 1.5
    return Batches.from_numpy(x, y)


def _model(spec_type: str = "deepsets", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    spec = {"type": spec_type, "phi_hidden": [8], "rho_hidden": [8]} if spec_type == "deepsets" else {
        "type": "mlp", "hidden": [16]}  # fmt: skip
    return build_model(spec, (C, F), K)


CFG = TrainConfig(batch_size=32, epochs=4, patience=0, lr=0.01, device="cpu")


def test_trainconfig_from_dict_defaults_and_errors():
    assert TrainConfig.from_dict({}) == TrainConfig()
    assert TrainConfig().lr == 0.002 and TrainConfig().schedule == "cosine"
    cfg = TrainConfig.from_dict({"epochs": 3, "optimizer": "sgd"}, where="training.student")
    assert cfg.epochs == 3 and cfg.optimizer == "sgd"
    with pytest.raises(InputError) as exc:
        TrainConfig.from_dict({"epoch": 3}, where="training.student")
    assert exc.value.where == "training.student.epoch"
    with pytest.raises(InputError, match="training.schedule"):
        TrainConfig.from_dict({"schedule": "linear"})
    with pytest.raises(InputError, match="training.lr"):
        TrainConfig.from_dict({"lr": 0})
    with pytest.raises(InputError, match="training.batch_size"):
        TrainConfig.from_dict({"batch_size": 2.5})


def test_same_seed_identical_history_and_weights():
    train, val = _toy(256, 0), _toy(64, 1)
    cfg = CFG.replace(grad_clip=0.5, schedule="step", optimizer="sgd")
    runs = []
    for _ in range(2):
        model = _model()
        res = fit(model, train, val, cfg, cross_entropy_loss(0.1), seed=5)
        runs.append((res, model.state_dict()))
    strip = lambda h: [{k: v for k, v in r.items() if k != "samples_per_s"} for r in h]
    assert strip(runs[0][0].history) == strip(runs[1][0].history)
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k])
    # a different seed gives a different batch order -> a different history
    other = fit(_model(), train, val, cfg, cross_entropy_loss(0.1), seed=6)
    assert strip(other.history) != strip(runs[0][0].history)


def test_learns_separable_toy_and_records_fields():
    train, val = _toy(512, 0), _toy(128, 1)
    seen = []
    res = fit(_model("mlp"), train, val, CFG.replace(epochs=5), cross_entropy_loss(), seed=0,
              epoch_callback=lambda e, r: seen.append((e, r)))  # fmt: skip
    h = res.history
    assert [r["epoch"] for r in h] == list(range(5)) and [e for e, _ in seen] == list(range(5))
    assert set(h[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "lr",
        "samples_per_s",
    }
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]
    assert h[-1]["val_accuracy"] > 0.95
    # cosine schedule: first epoch at the base lr, decreasing afterwards
    assert h[0]["lr"] == pytest.approx(0.01) and h[-1]["lr"] < h[1]["lr"] < h[0]["lr"]
    assert res.samples_per_s > 0 and res.train_seconds > 0


def test_early_stopping_restores_best_checkpoint():
    """Val labels are random, so val loss rises while the train set is memorised."""
    rng = np.random.default_rng(0)
    train = _toy(64, 0, noise=1.5)
    val = Batches.from_numpy(rng.normal(size=(64, C, F)).astype(np.float32), rng.integers(0, K, 64))
    snapshots = []
    model = _model("mlp")
    res = fit(model, train, val, CFG.replace(epochs=40, patience=2, lr=0.05, schedule="none", batch_size=16),
              cross_entropy_loss(), seed=0,
              epoch_callback=lambda e, r: snapshots.append({k: v.clone() for k, v in model.state_dict().items()}))  # fmt: skip
    assert res.stopped_early
    assert len(res.history) == res.best_epoch + 3  # best, then `patience` worse epochs
    assert res.best_val_loss == min(r["val_loss"] for r in res.history)
    for k, v in model.state_dict().items():  # weights are those of the best epoch, not the last
        assert torch.equal(v, snapshots[res.best_epoch][k])
    assert not torch.equal(model.state_dict()["1.weight"], snapshots[-1]["1.weight"])


def test_step_hook_and_teacher_logits_reach_the_loss():
    train, val = _toy(96, 0), _toy(32, 1)
    train.t = torch.randn(96, K)
    val.t = torch.randn(32, K)
    seen_t, steps = [], []

    def kd(s, y, t):
        seen_t.append(t is not None and t.shape == s.shape)
        return nn.functional.mse_loss(s, t)

    def hook(m):  # e.g. pruning: keep a weight at zero after every step
        steps.append(1)
        with torch.no_grad():
            m[1].weight[0, 0] = 0.0

    model = _model("mlp")
    fit(model, train, val, CFG.replace(epochs=2), kd, seed=0, step_hook=hook)
    assert all(seen_t) and len(steps) == 2 * math.ceil(96 / 32)
    assert model[1].weight[0, 0].item() == 0.0


def test_divergence_is_reported():
    train, val = _toy(32, 0), _toy(16, 1)
    with pytest.raises(TrainingDivergedError, match="lr"):
        fit(_model("mlp"), train, val, CFG, lambda s, y, t: s.sum() * float("nan"), seed=0)


def test_predict_and_checkpoint_roundtrip(tmp_path):
    model = _model("deepsets", seed=1)
    x = np.random.default_rng(0).normal(size=(10, C, F)).astype(np.float32)
    logits = predict_logits(model, x, batch_size=3)
    assert logits.shape == (10, K) and logits.dtype == np.float32
    np.testing.assert_allclose(
        logits, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-6, atol=1e-6
    )
    save_checkpoint(model, tmp_path / "m.pt")
    other = load_checkpoint(_model("deepsets", seed=2), tmp_path / "m.pt")
    np.testing.assert_array_equal(predict_logits(other, x), logits)
    with pytest.raises(InputError, match="m.pt"):
        load_checkpoint(_model("mlp"), tmp_path / "m.pt")
    with pytest.raises(InputError, match="no such file"):
        load_checkpoint(model, tmp_path / "missing.pt")


def test_batches_validation():
    with pytest.raises(InputError, match="Batches.y"):
        Batches(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))
    b = Batches.from_numpy(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    order = torch.cat(
        [xb[:, 0] for xb, _, _ in b.iter_batches(4, torch.Generator().manual_seed(0))]
    )
    assert sorted(order.tolist()) == list(range(10))  # a permutation: every sample exactly once


def test_self_describing_checkpoint_rebuilds_the_model_without_its_config(tmp_path):
    """What the FPGA and soft-target jobs rely on: the checkpoint alone rebuilds the model."""
    from jetdistill.learn.models import checkpoint_meta, load_model
    from jetdistill.learn.training import checkpoint_meta as read_meta

    spec = {"type": "deepsets", "phi_hidden": [8], "rho_hidden": [8]}
    model = _model("deepsets", seed=3)
    save_checkpoint(model, tmp_path / "m.pt", checkpoint_meta(spec, (C, F), K, name="ds"))
    rebuilt, meta = load_model(tmp_path / "m.pt")
    assert meta["name"] == "ds" and meta["spec"]["pooling"] == "mean"  # defaults filled in
    x = np.random.default_rng(1).normal(size=(6, C, F)).astype(np.float32)
    np.testing.assert_array_equal(predict_logits(rebuilt, x), predict_logits(model, x))
    save_checkpoint(model, tmp_path / "weights_only.pt")
    with pytest.raises(InputError, match="self-describing"):
        read_meta(tmp_path / "weights_only.pt")
