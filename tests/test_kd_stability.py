"""Why the KD training defaults are AdamW lr 2e-3 with grad_clip 1.0.

At high temperature ``T^2 * KL(softmax(t/T) || softmax(s/T))`` behaves like a logit MSE,
with gradient ~ (s - t)/K that does *not* saturate (cross entropy's gradient is bounded by
1 per logit). With a confident teacher (logits of +-40) the first steps are large; plain
SGD with momentum and no clipping then overshoots, kills ReLUs and ends near chance,
while the defaults train stably. Controls show the cause: the same SGD is fine at T=1 or
with clipping at T=20.

Toy problem: 5 Gaussian classes on 16 x 3 "constituents", teacher = scaled Bayes logits,
student = the project's MLP (64, 32, 32). Each fit takes well under a second.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from jetdistill.learn.losses import build_loss
from jetdistill.learn.models import build_model
from jetdistill.learn.training import (
    Batches,
    TrainConfig,
    TrainingDivergedError,
    fit,
    predict_logits,
)
from jetdistill.seeding import seed_everything

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
EPOCHS = 15
TEACHER_LOGIT_SCALE = 10.0  # std of the teacher's centred logits; max |logit| ~ 40


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 16, 3)) * 0.35

    def sample(n):
        y = rng.integers(0, 5, n)
        return (means[y] + rng.normal(size=(n, 16, 3))).astype(np.float32), y

    def teacher(x):
        z = -((x[:, None] - means[None]) ** 2).sum(axis=(2, 3)) / 2
        z = z - z.mean(axis=1, keepdims=True)
        return (TEACHER_LOGIT_SCALE * z / z.std()).astype(np.float32)

    (xtr, ytr), (xva, yva) = sample(3000), sample(1000)
    train = Batches.from_numpy(xtr, ytr, teacher(xtr))
    val = Batches.from_numpy(xva, yva, teacher(xva))
    teacher_acc = float((teacher(xva).argmax(1) == yva).mean())
    assert np.abs(teacher(xtr)).max() > 30  # a confident teacher
    return train, val, teacher_acc


def run(
    toy, cfg: TrainConfig, temperature: float, seed: int, method: str = "hinton"
) -> tuple[list[float], float]:
    train, val, _ = toy
    logging.disable(logging.INFO)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        seed_everything(seed)
        model = build_model({"type": "mlp", "hidden": [64, 32, 32]}, (16, 3), 5)
        loss = build_loss(method, temperature=temperature, alpha=0.1)
        try:
            result = fit(model, train, val, cfg, loss, seed=seed)
        except TrainingDivergedError:
            return [float("inf")], 0.2
        acc = float((predict_logits(model, val.x.numpy()).argmax(1) == val.y.numpy()).mean())
        return [h["train_loss"] for h in result.history], acc
    finally:
        logging.disable(logging.NOTSET)
        torch.set_num_threads(threads)


def sgd(**kw) -> TrainConfig:
    return TrainConfig(
        optimizer="sgd", lr=0.1, grad_clip=0.0, epochs=EPOCHS, patience=0, device="cpu"
    ).replace(**kw)


def test_defaults_are_the_ones_documented_here():
    train = yaml.safe_load(SCHEMA.read_text())["definitions"]["train"]["properties"]
    assert train["optimizer"]["default"] == TrainConfig.optimizer == "adamw"
    assert train["lr"]["default"] == TrainConfig.lr == 0.002
    assert train["grad_clip"]["default"] == TrainConfig.grad_clip == 1.0


def test_hinton_t20_defaults_stable_sgd_without_clipping_fails(toy):
    _, _, teacher_acc = toy
    defaults = TrainConfig(epochs=EPOCHS, patience=0, device="cpu")
    losses, acc = run(toy, defaults, 20.0, seed=0)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0]
    assert max(losses) == losses[0]  # never above its start
    assert acc > 0.75 and acc > teacher_acc - 0.05  # chance is 0.2

    for seed in (0, 1):
        sgd_losses, sgd_acc = run(toy, sgd(), 20.0, seed=seed)
        # diverged (NaN) or blew up: loss rose above its start, ended far above the
        # defaults', and accuracy is far lower
        assert not np.isfinite(sgd_losses[-1]) or (
            max(sgd_losses) > sgd_losses[0] and sgd_losses[-1] > 10 * losses[-1]
        ), sgd_losses
        assert sgd_acc < acc - 0.2, (seed, sgd_acc, acc)


def test_cause_is_unclipped_high_temperature_gradient(toy):
    """Same SGD: fine at T=1 (bounded CE-like gradient) and with clipping at T=20."""
    _, acc_t1 = run(toy, sgd(), 1.0, seed=1)
    _, acc_clip = run(toy, sgd(grad_clip=1.0), 20.0, seed=1)
    assert acc_t1 > 0.75 and acc_clip > 0.75


def test_dist_t20_defaults_stable_while_its_unclipped_gradient_grows_as_t_squared(toy):
    """DIST's Pearson terms are scale-free, so with the paper's T^2 factor its gradient grows
    as T^2 (tests/test_losses.py). The defaults (AdamW, clipping) absorb that at T = 20;
    unclipped SGD already fails at T = 4, where Hinton KD still trains, and collapses at 20."""
    _, _, teacher_acc = toy
    defaults = TrainConfig(epochs=EPOCHS, patience=0, device="cpu")
    losses, acc = run(toy, defaults, 20.0, seed=0, method="dist")
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.05 * losses[0] and max(losses) == losses[0]
    assert acc > 0.75 and acc > teacher_acc - 0.05
    _, acc_t4 = run(toy, sgd(), 4.0, seed=0, method="dist")
    _, acc_t4_hinton = run(toy, sgd(), 4.0, seed=0)
    assert acc_t4 < acc - 0.1 < acc_t4_hinton, (acc_t4, acc, acc_t4_hinton)
    _, acc_t20 = run(toy, sgd(), 20.0, seed=0, method="dist")
    assert acc_t20 < acc - 0.2
    _, acc_clip = run(toy, sgd(grad_clip=1.0), 20.0, seed=1, method="dist")
    assert acc_clip > 0.75  # clipping alone is enough
