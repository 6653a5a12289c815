"""The training loop's feature path (FitNets hint): what reaches the loss, what is optimised,
and that logit losses are untouched by it. Tiny models, each fit well under a second."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from jetdistill.errors import InputError
from jetdistill.learn.losses import build_loss
from jetdistill.learn.models import build_model
from jetdistill.learn.training import (
    Batches,
    FeatureCapture,
    TrainConfig,
    evaluate,
    fit,
    make_optimizer,
    predict_features,
    representation_dim,
)
from jetdistill.seeding import seed_everything

SHAPE, K, D_T = (6, 3), 4, 5


@pytest.fixture(autouse=True)
def _quiet_single_thread():
    logging.disable(logging.INFO)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    logging.disable(logging.NOTSET)


def toy(n: int, seed: int) -> Batches:
    """Labels from a linear rule; teacher logits and a 5-wide teacher embedding that are
    fixed functions of the jet (what a cache would hold)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SHAPE)).astype(np.float32)
    flat = x.reshape(n, -1)
    proj = np.random.default_rng(99).normal(size=(flat.shape[1], K + D_T))
    z = flat @ proj
    t = 3.0 * z[:, :K]
    f = np.tanh(z[:, K:])
    return Batches.from_numpy(x, t.argmax(1), t, f)


def body(m: nn.Module) -> nn.Sequential:
    """The MLP without its logit layer (a plain Sequential of the same modules)."""
    return nn.Sequential(*list(m)[:-1])


def mlp(seed: int = 0) -> nn.Module:
    seed_everything(seed)
    return build_model({"type": "mlp", "hidden": [16, 8]}, SHAPE, K)


CFG = TrainConfig(epochs=6, patience=0, batch_size=32, device="cpu")


def test_capture_is_the_input_of_the_last_linear_for_every_model_type():
    x = torch.randn(7, *SHAPE)
    m = mlp()
    with FeatureCapture(m) as cap:
        out = m(x)
        h = cap.take()
    torch.testing.assert_close(h, body(m)(x))  # MLP: everything before its logit layer
    torch.testing.assert_close(out, m[-1](h))
    assert len(m._forward_pre_hooks) == 0 and len(m[-1]._forward_pre_hooks) == 0  # removed
    with pytest.raises(Exception, match="has not run"):
        cap.take()
    for spec, width in [
        ({"type": "mlp", "hidden": [16, 8]}, 8),
        ({"type": "deepsets", "phi_hidden": [8, 12], "rho_hidden": [10]}, 10),
        ({"type": "deepsets", "phi_hidden": [8, 12], "rho_hidden": []}, 12),  # pooled latent
        ({"type": "interaction_network", "phi_hidden": [16, 6]}, 6),
    ]:
        model = build_model(spec, SHAPE, K)
        assert representation_dim(model, SHAPE) == width, spec
        assert predict_features(model, x.numpy(), batch_size=3).shape == (7, width)


def test_predict_features_matches_capture_in_eval_mode():
    m = mlp()
    x = torch.randn(10, *SHAPE)
    got = predict_features(m, x.numpy(), batch_size=4)
    with torch.no_grad():
        np.testing.assert_allclose(got, body(m.eval())(x).numpy(), rtol=1e-6)


def test_hint_with_zero_weight_trains_exactly_like_hinton():
    """The feature path changes nothing but the hint term: at hint_weight 0 the projector's
    gradients are 0, so the student's history and weights equal Hinton KD's bit for bit."""
    train, val = toy(200, 0), toy(80, 1)
    ref = mlp()
    r_ref = fit(ref, train, val, CFG, build_loss("hinton", temperature=4.0), seed=3)
    m = mlp()
    loss = build_loss("hint", temperature=4.0, params={"hint_weight": 0.0}, feature_dims=(8, D_T))
    r = fit(m, train, val, CFG, loss, seed=3)
    strip = [{k: v for k, v in h.items() if k != "samples_per_s"} for h in r.history]
    assert strip == [{k: v for k, v in h.items() if k != "samples_per_s"} for h in r_ref.history]
    for (k, a), (_, b) in zip(ref.state_dict().items(), m.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def lstsq_mse(model: nn.Module, data: Batches) -> float:
    """How well the best affine map of the model's representation explains the teacher's
    embedding (least squares on ``data``): what a hint is meant to improve."""
    h = predict_features(model, data.x.numpy()).astype(np.float64)
    a = np.hstack([h, np.ones((len(h), 1))])
    f = data.f.numpy().astype(np.float64)
    coef, *_ = np.linalg.lstsq(a, f, rcond=None)
    return float(((a @ coef - f) ** 2).mean())


def test_hint_trains_the_projector_and_pulls_the_student_towards_the_embedding():
    train, val = toy(400, 0), toy(200, 1)
    m = mlp()
    loss = build_loss("hint", alpha=1.0, params={"hint_weight": 10.0}, feature_dims=(8, D_T))
    w0 = loss.module.linear.weight.detach().clone()
    opt = make_optimizer(m, CFG, list(loss.module.parameters()))
    assert len(opt.param_groups[0]["params"]) == len(list(m.parameters())) + 2

    def projector_mse() -> float:
        with torch.no_grad():
            h = torch.as_tensor(predict_features(m, val.x.numpy()))
            return float(((loss.module(h) - val.f) ** 2).mean())

    before = projector_mse()
    result = fit(m, train, val, CFG.replace(epochs=15), loss, seed=3)
    assert not torch.equal(loss.module.linear.weight, w0)  # the projector was optimised
    assert projector_mse() < 0.7 * before
    # the same student trained on CE alone: its representation explains the embedding worse
    plain = mlp()
    fit(plain, train, val, CFG.replace(epochs=15), build_loss("ce"), seed=3)
    assert lstsq_mse(m, val) < 0.8 * lstsq_mse(plain, val), (
        lstsq_mse(m, val),
        lstsq_mse(plain, val),
    )
    assert np.isfinite([h["val_loss"] for h in result.history]).all()
    # the validation loss is the hint loss itself, features included
    val_loss, _ = evaluate(m, val, loss)
    assert val_loss == pytest.approx(result.history[-1]["val_loss"], rel=1e-6)


def test_feature_loss_needs_teacher_embeddings():
    train, val = toy(64, 0), toy(32, 1)
    no_f = Batches(train.x, train.y, train.t)
    loss = build_loss("hint", feature_dims=(8, D_T))
    with pytest.raises(InputError, match=r"fit\(train=...\)\.f"):
        fit(mlp(), no_f, val, CFG, loss, seed=0)
    with pytest.raises(InputError, match=r"fit\(val=...\)\.f"):
        fit(mlp(), train, Batches(val.x, val.y, val.t), CFG, loss, seed=0)
    with pytest.raises(InputError, match="Batches.f"):
        Batches(train.x, train.y, train.t, train.f[:10])
    wrong = build_loss("hint", feature_dims=(7, D_T))  # the student's width is 8
    with pytest.raises(InputError, match="widths"):
        fit(mlp(), train, val, CFG, wrong, seed=0)
