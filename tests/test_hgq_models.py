"""HGQ twins (src/jetdistill/compress/hgq_models.py, hgq_train.py): same function as the float
student, the project's KD loss, EBOPs that answer to beta, files that reload, and da4ml
conversion that reproduces Keras bit for bit (what makes a twin a chip design)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")

from jetdistill.compress import hgq_models as hm
from jetdistill.compress.hgq_train import HGQSettings, fit_hgq, kd_loss_terms, pack_targets
from jetdistill.errors import InputError
from jetdistill.learn.losses import LossParams, loss_hinton
from jetdistill.learn.models import build_hgq_model, build_model, hgq_model_types

#: Keras 3.15 on NumPy 2 warns on every array conversion; nothing here to act on
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

C, F, K = 8, 3, 5
SET = {"type": "set", "phi_hidden": [8, 8], "context_widths": [8], "context_pooling": "sum",
       "pooling": "max", "rho_hidden": [8]}  # fmt: skip
MLP_BN = {"type": "mlp", "hidden": [16, 8], "batch_norm": True, "dropout": 0.1}
SPECS = {
    "mlp_bn": MLP_BN,
    "set_masked_sum_max": SET,
    "set_masked_max_sum": {**SET, "context_pooling": "max", "pooling": "sum"},
    "set_unmasked_mean": {**SET, "context_pooling": "mean", "pooling": "mean", "mask_padding": False},
    "set_no_context": {**SET, "context_widths": []},
}  # fmt: skip


def jets(n: int, seed: int = 0) -> np.ndarray:
    """Random (n, C, F) jets with zero-padded trailing constituents (2..C real ones)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, C, F)).astype(np.float32)
    real = rng.integers(2, C + 1, size=n)
    x[np.arange(C)[None, :] >= real[:, None]] = 0.0
    return x


def float_student(spec: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(spec, (C, F), K).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so folding is tested
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
    return model


def test_hgq_model_types_are_the_chip_students():
    assert {"mlp", "set"} <= set(hgq_model_types())
    assert "interaction_network" not in hgq_model_types()


@pytest.mark.parametrize("name", list(SPECS))
def test_float_weights_give_the_float_function(name):
    """At 16 bits the twin loaded from the float student reproduces its logits."""
    spec, x = SPECS[name], jets(256)
    fmodel = float_student(spec)
    kmodel = build_hgq_model(spec, (C, F), K, init_bits=16)
    hm.load_float_weights(kmodel, fmodel)
    hm.calibrate(kmodel, x)  # activation integer bits from data, as training would set them
    want = fmodel(torch.from_numpy(x)).detach().numpy()
    got = kmodel.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-2)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({**SET, "context_pooling": "mean"}, "context_pooling"),  # masked mean: a divider
        ({**SET, "pooling": "mean"}, "pooling"),
        ({**SET, "activation": "tanh"}, "activation"),
        ({**MLP_BN, "activation": "gelu"}, "activation"),
        ({"type": "deepsets"}, "type"),
    ],
)
def test_unsupported_settings_are_refused_by_name(spec, key):
    with pytest.raises(InputError, match=key):
        build_hgq_model(spec, (C, F), K, init_bits=7)


def test_limits_name_the_key_and_what_is_supported():
    unmasked = {**SET, "pooling": "mean", "mask_padding": False}
    assert hm.set_limits(unmasked, 8) is None  # a mean over 8 slots is a shift
    key, expected, got = hm.set_limits(unmasked, 6)
    assert key == "pooling" and "power-of-two" in expected and got == "'mean'"
    key, expected, _ = hm.hgq_limits({**SET, "context_pooling": "mean"}, 8)
    assert key == "context_pooling" and "mask_padding: false" in expected
    assert hm.hgq_limits({"type": "interaction_network"}, 8)[0] == "type"
    with pytest.raises(InputError, match="context_pooling"):
        hm.build_hgq_set((C, F), K, context_pooling="mean")  # the builder itself refuses


def test_kd_loss_is_the_projects_hinton_loss():
    """3 jets, one unlabelled: alpha * mean_labelled CE + (1 - alpha) T^2 mean_all KL."""
    s = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1], [-0.3, 2.0, 0.0]], np.float32)
    t = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]], np.float32)
    y = np.array([0, -1, 2])
    T, alpha = 2.0, 0.3

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    ce = -(log_softmax(s)[0, 0] + log_softmax(s)[2, 2]) / 2
    lp, lq = log_softmax(t / T), log_softmax(s / T)
    kl = np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1))
    want = alpha * ce + (1 - alpha) * T * T * kl

    settings = HGQSettings(beta=0.0, epochs=1, temperature=T, alpha=alpha)
    got = float(kd_loss_terms(torch.from_numpy(pack_targets(y, t, 3)), torch.from_numpy(s), settings).mean())  # fmt: skip
    assert got == pytest.approx(want, rel=1e-5)
    ref = loss_hinton(torch.from_numpy(s), torch.from_numpy(y), torch.from_numpy(t),
                      LossParams(temperature=T, alpha=alpha))  # fmt: skip
    assert got == pytest.approx(float(ref), rel=1e-5)
    solo = HGQSettings(beta=0.0, epochs=1)
    got = float(kd_loss_terms(torch.from_numpy(pack_targets(y, None, 3)), torch.from_numpy(s), solo).mean())  # fmt: skip
    assert got == pytest.approx(ce, rel=1e-5)


def _fit(spec: dict, beta: float, *, epochs: int = 2, lr: float = 3e-3, kd: bool = True):
    """A tiny twin trained on 300 random jets (50 unlabelled) with a random teacher."""
    import keras

    keras.utils.set_random_seed(0)
    x, rng = jets(300, seed=1), np.random.default_rng(1)
    y = rng.integers(0, K, size=300)
    y[:50] = -1
    teacher = rng.normal(size=(300, K)).astype(np.float32)
    kmodel = build_hgq_model(spec, (C, F), K, init_bits=6)
    settings = HGQSettings(beta=beta, epochs=epochs, lr=lr, batch_size=32,
                           temperature=2.0 if kd else None, alpha=0.5 if kd else None)  # fmt: skip
    fit = fit_hgq(kmodel, x, y, teacher_logits=teacher if kd else None, x_val=x[50:150],
                  y_val=y[50:150], settings=settings, seed=0)  # fmt: skip
    return kmodel, fit, x


TRAINED = {"beta": 1e-3, "lr": 0.05}


@pytest.fixture(scope="module")
def trained():
    """One trained mlp and one trained set twin, shared by the tests below; beta and lr high
    enough that the weights' bit widths differ after 20 steps (what conversion must keep)."""
    return {name: _fit(SPECS[name], **TRAINED) for name in ("mlp_bn", "set_masked_sum_max")}


def test_fit_returns_a_history_and_keeps_a_full_beta_epoch(trained):
    _, fit, _ = trained["set_masked_sum_max"]
    assert [r["epoch"] for r in fit.history] == [0, 1]
    assert set(fit.history[0]) == {
        "epoch",
        "loss",
        "accuracy",
        "val_accuracy",
        "ebops",
        "beta",
        "lr",
    }
    assert fit.history[0]["beta"] == pytest.approx(1e-5) and fit.history[1]["beta"] == 1e-3
    assert fit.history[0]["lr"] == 0.05 and fit.history[1]["lr"] == pytest.approx(0.025)
    assert fit.best_epoch == 1  # the only epoch at full beta
    assert fit.best_val_accuracy == fit.history[1]["val_accuracy"]
    assert fit.ebops == fit.history[1]["ebops"] > 0
    assert fit.train_wall_s > 0 and fit.train_cpu_s > 0
    assert all(np.isfinite(r["loss"]) for r in fit.history)


def test_fit_is_deterministic(trained):
    """The same seed gives the same history and the same weights (the workflow's reruns)."""
    first, fit, x = trained["mlp_bn"]
    again, fit_again, _ = _fit(SPECS["mlp_bn"], **TRAINED)
    assert fit_again.history == fit.history
    np.testing.assert_array_equal(again.predict(x, verbose=0), first.predict(x, verbose=0))


def test_ebops_fall_when_beta_is_large():
    """Same seed, solo, beta 0 vs large: the penalty sheds bits (lr high enough that Adam's
    ~lr-per-step moves of the bit widths cross a rounding step within 20 steps)."""
    _, f0, _ = _fit(SPECS["mlp_bn"], beta=0.0, lr=0.1, kd=False)
    _, f1, _ = _fit(SPECS["mlp_bn"], beta=1e-3, lr=0.1, kd=False)
    assert f1.ebops < 0.8 * f0.ebops
    assert f0.history[-1]["beta"] == 0.0 and f1.history[-1]["beta"] == 1e-3


def test_save_load_round_trip(trained, tmp_path):
    """Saved through the workflow's atomic rename: the meta travels inside the one file."""
    from jetdistill.io import atomic_path

    kmodel, fit, x = trained["set_masked_sum_max"]
    meta = {"spec": SET, "init_bits": 6, "ebops": fit.ebops, "n": np.int64(3)}
    final = tmp_path / "twin.keras"
    with atomic_path(final) as tmp:
        hm.save_hgq_model(kmodel, tmp, meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin.keras"]
    loaded, got_meta = hm.load_hgq_model(final)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), kmodel.predict(x, verbose=0))
    assert got_meta == {**meta, "n": 3} == hm.read_hgq_meta(final)
    assert hm.ebops(loaded) == hm.ebops(kmodel) == fit.ebops
    with pytest.raises(InputError, match=r"\.keras"):
        hm.save_hgq_model(kmodel, tmp_path / "twin.h5", meta)
    with pytest.raises(InputError, match="save_hgq_model"):
        hm.load_hgq_model(tmp_path / "missing.keras")


@pytest.mark.parametrize("name", ["mlp_bn", "set_masked_sum_max"])
def test_da4ml_conversion_is_bit_exact(trained, name):
    """trace_minmax, da4ml trace, integer emulation == Keras on 200 jets, bit for bit."""
    from da4ml.converter import trace_model
    from da4ml.trace import HWConfig, comb_trace
    from hgq.utils import trace_minmax

    kmodel, _, x = trained[name]
    bits = np.concatenate([ly.kq.quantizer.b.detach().numpy().ravel() for ly in hm.dense_layers(kmodel)])  # fmt: skip
    assert len(np.unique(np.round(bits))) > 1  # per-weight bit widths, not one per tensor
    trace_minmax(kmodel, x, batch_size=4096)
    inp, out = trace_model(kmodel, hwconf=HWConfig(1, -1, -1))
    comb = comb_trace(inp, out)
    xt = jets(200, seed=7)
    want = kmodel.predict(xt, verbose=0)
    got = np.asarray(comb.predict(xt.reshape(200, -1), n_threads=1)).reshape(want.shape)
    np.testing.assert_array_equal(got, want)
    assert np.ptp(want) > 0  # a live model, not constant logits
