"""KD loss registry: values against independent NumPy references, T^2 scaling, high-T limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jetdistill.errors import InputError
from jetdistill.learn.losses import LOSSES, build_loss, loss_params

# Tiny hand-picked logits: 3 samples, 4 classes, float64 for exact comparisons.
S = np.array([[1.0, -0.5, 0.2, 0.0], [0.3, 0.3, -1.0, 2.0], [-2.0, 0.5, 1.5, 0.1]])
TL = np.array([[2.0, -1.0, 0.5, 0.3], [0.0, 1.0, -0.5, 1.5], [-1.0, -0.2, 2.5, 0.0]])
Y = np.array([0, 3, 1])


# --------------------------------------------------------------------------- numpy references


def np_log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_ce(s: np.ndarray, y: np.ndarray, eps: float = 0.0) -> float:
    k = s.shape[1]
    target = np.full(s.shape, eps / k)
    target[np.arange(len(y)), y] += 1.0 - eps
    return float(-(target * np_log_softmax(s)).sum(axis=1).mean())


def np_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-sample KL(p || q) of probability rows (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def np_softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(np_log_softmax(z))


def np_soft_kl(s: np.ndarray, t: np.ndarray, T: float) -> float:
    return float(np_kl(np_softmax(t / T), np_softmax(s / T)).mean())


def np_dkd(s, t, y, T, a, b) -> float:
    """Decoupled KD following the definitions in Zhao et al. (2022), eq. (1)-(4)."""
    ps, pt = np_softmax(s / T), np_softmax(t / T)
    rows = np.arange(len(y))
    bs = np.stack([ps[rows, y], 1 - ps[rows, y]], axis=1)
    bt = np.stack([pt[rows, y], 1 - pt[rows, y]], axis=1)
    tckd = np_kl(bt, bs).mean()
    mask = np.ones_like(ps, dtype=bool)
    mask[rows, y] = False
    ns = np.where(mask, ps, 0.0) / np.where(mask, ps, 0.0).sum(1, keepdims=True)
    nt = np.where(mask, pt, 0.0) / np.where(mask, pt, 0.0).sum(1, keepdims=True)
    nckd = np_kl(nt, ns).mean()
    return float(T * T * (a * tckd + b * nckd))


def np_zscore(z: np.ndarray) -> np.ndarray:
    return (z - z.mean(axis=1, keepdims=True)) / (z.std(axis=1, ddof=1, keepdims=True) + 1e-7)


def call(name: str, s=S, y=Y, t=TL, **kw) -> float:
    fn = build_loss(name, **kw)
    st = torch.tensor(s)
    yt = None if y is None else torch.tensor(y)
    tt = None if t is None else torch.tensor(t)
    return float(fn(st, yt, tt))


# --------------------------------------------------------------------------- values


def test_ce_matches_reference_and_ignores_teacher():
    assert call("ce", t=None) == pytest.approx(np_ce(S, Y), rel=1e-12)
    assert call("ce", t=TL * 100) == pytest.approx(np_ce(S, Y), rel=1e-12)
    assert call("ce", t=None, label_smoothing=0.1) == pytest.approx(np_ce(S, Y, 0.1), rel=1e-12)


def test_ce_value_by_hand():
    # one sample, logits (0, ln 3): p = (1/4, 3/4); CE for label 1 = -ln(3/4)
    s = np.array([[0.0, np.log(3.0)]])
    assert call("ce", s=s, y=np.array([1]), t=None) == pytest.approx(-np.log(0.75), rel=1e-12)


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 20.0])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_hinton_matches_reference(T, alpha):
    expected = alpha * np_ce(S, Y) + (1 - alpha) * T * T * np_soft_kl(S, TL, T)
    assert call("hinton", temperature=T, alpha=alpha) == pytest.approx(expected, rel=1e-10)


def test_hinton_kl_by_hand():
    # two classes; student logits (0,0) -> q = (1/2,1/2); teacher (0, ln 3) at T=1 -> p = (1/4,3/4)
    # KL(p||q) = 1/4 ln(1/2) + 3/4 ln(3/2)
    s = np.array([[0.0, 0.0]])
    t = np.array([[0.0, np.log(3.0)]])
    kl = 0.25 * np.log(0.5) + 0.75 * np.log(1.5)
    assert call("hinton", s=s, y=np.array([1]), t=t, alpha=0.0) == pytest.approx(kl, rel=1e-12)
    # at T=2 the teacher logits are halved: p = softmax(0, ln 3 / 2) = (1, sqrt 3)/(1 + sqrt 3)
    p1 = np.sqrt(3) / (1 + np.sqrt(3))
    kl2 = (1 - p1) * np.log((1 - p1) / 0.5) + p1 * np.log(p1 / 0.5)
    assert call("soft", s=s, y=None, t=t, temperature=2.0) == pytest.approx(4.0 * kl2, rel=1e-12)


@pytest.mark.parametrize("T", [1.0, 3.0, 10.0])
def test_soft_works_without_labels(T):
    assert call("soft", y=None, temperature=T, alpha=0.7) == pytest.approx(
        T * T * np_soft_kl(S, TL, T), rel=1e-10
    )
    # identical student and teacher -> zero loss
    assert call("soft", s=TL, y=None, temperature=T) == pytest.approx(0.0, abs=1e-12)


def test_hinton_alpha_zero_needs_no_labels_but_alpha_positive_does():
    assert np.isfinite(call("hinton", y=None, alpha=0.0, temperature=4.0))
    with pytest.raises(InputError, match="labels"):
        call("hinton", y=None, alpha=0.1)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_mse_matches_reference(alpha):
    expected = alpha * np_ce(S, Y) + (1 - alpha) * ((S - TL) ** 2).mean()
    # temperature must not change logit matching
    for T in (1.0, 7.0):
        assert call("mse", alpha=alpha, temperature=T) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("T", [1.0, 4.0])
@pytest.mark.parametrize(("a", "b", "alpha"), [(1.0, 8.0, 0.0), (1.0, 8.0, 1.0), (0.5, 2.0, 0.3)])
def test_dkd_matches_reference(T, a, b, alpha):
    expected = alpha * np_ce(S, Y) + np_dkd(S, TL, Y, T, a, b)
    got = call("dkd", temperature=T, alpha=alpha, params={"alpha": a, "beta": b})
    assert got == pytest.approx(expected, rel=1e-10)


def test_dkd_reduces_to_kd_decomposition():
    """Zhao et al. eq. (7): KD = TCKD + (1 - p_t^target) * NCKD (per sample, at T=1).

    With one sample the batch mean is the per-sample value, so dkd with beta = 1 - p_t and
    alpha = 1 must equal the plain KL.
    """
    s, t, y = S[:1], TL[:1], Y[:1]
    pt_target = np_softmax(t)[0, y[0]]
    got = call("dkd", s=s, t=t, y=y, alpha=0.0, params={"alpha": 1.0, "beta": 1.0 - pt_target})
    assert got == pytest.approx(np_soft_kl(s, t, 1.0), rel=1e-10)


def test_dkd_is_finite_for_extreme_logits():
    s = torch.tensor([[80.0, -80.0, 0.0], [-50.0, 60.0, 1.0]], requires_grad=True)
    t = torch.tensor([[100.0, -100.0, 5.0], [-100.0, 100.0, 0.0]])
    loss = build_loss("dkd", temperature=1.0, alpha=0.1)(s, torch.tensor([0, 1]), t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()


@pytest.mark.parametrize("T", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_lsd_matches_reference(T, alpha):
    expected = alpha * np_ce(S, Y) + (1 - alpha) * T * T * np_soft_kl(
        np_zscore(S), np_zscore(TL), T
    )
    assert call("lsd", temperature=T, alpha=alpha) == pytest.approx(expected, rel=1e-8)


def test_lsd_is_invariant_to_logit_shift_and_scale():
    base = call("lsd", alpha=0.0, temperature=2.0)
    assert call(
        "lsd", s=3.0 * S + 5.0, t=0.5 * TL - 2.0, alpha=0.0, temperature=2.0
    ) == pytest.approx(base, rel=1e-6)
    # ... while plain Hinton KD is not
    assert call("hinton", s=3.0 * S + 5.0, alpha=0.0, temperature=2.0) != pytest.approx(
        call("hinton", alpha=0.0, temperature=2.0), rel=1e-3
    )


# --------------------------------------------------------------------------- registry and errors


def test_registry_names():
    assert {"ce", "hinton", "soft", "mse", "dkd", "lsd"} <= set(LOSSES)  # the built-in ones
    assert not build_loss("ce").needs_teacher
    assert all(build_loss(n).needs_teacher for n in LOSSES if n != "ce")


def test_unknown_name_lists_valid_names():
    with pytest.raises(InputError) as err:
        build_loss("hintn")
    msg = str(err.value)
    for name in LOSSES:
        assert name in msg
    assert "hintn" in msg


@pytest.mark.parametrize(
    "kw",
    [
        {"temperature": 0.0},
        {"temperature": -1.0},
        {"alpha": 1.5},
        {"label_smoothing": 1.0},
    ],
)
def test_bad_hyperparameters(kw):
    with pytest.raises(InputError):
        build_loss("hinton", **kw)


@pytest.mark.parametrize(
    ("name", "params", "where"),
    [
        ("dkd", {"beta": -1.0}, "distillation.loss_params.dkd.beta"),
        ("dkd", {"gamma": 1.0}, "distillation.loss_params.dkd"),  # not a dkd hyper-parameter
        ("hinton", {"beta": 1.0}, "distillation.loss_params.hinton"),  # hinton has none
    ],
)
def test_bad_loss_params_name_the_config_key(name, params, where):
    with pytest.raises(InputError, match=where.replace(".", r"\.")):
        build_loss(name, params=params)


def test_loss_params_are_the_registered_defaults_overridden():
    assert loss_params("dkd") == {"alpha": 1.0, "beta": 8.0}
    assert loss_params("dkd", {"beta": 2}) == {"alpha": 1.0, "beta": 2.0}
    assert loss_params("hinton") == {}
    # the defaults are the ones the loss uses: dkd with beta 8 == dkd without params
    a = call("dkd", temperature=2.0, params={"alpha": 1.0, "beta": 8.0})
    assert a == pytest.approx(call("dkd", temperature=2.0))


def test_a_registered_loss_is_usable_by_name_with_its_own_hyperparameter():
    """What adding a loss takes: one decorated function (the registry does the rest)."""
    from jetdistill.learn import losses

    @losses.register_loss("toy_scaled_ce", defaults={"scale": 2.0}, needs_teacher=False)
    def toy(s, y, t, p):
        """Cross entropy times a scale."""
        return p.params["scale"] * torch.nn.functional.cross_entropy(s, y)

    try:
        s, y = torch.tensor(S), torch.tensor(Y)
        base = build_loss("ce")(s, y)
        assert build_loss("toy_scaled_ce")(s, y) == pytest.approx(2 * float(base))
        assert build_loss("toy_scaled_ce", params={"scale": 3})(s, y) == pytest.approx(
            3 * float(base)
        )
        assert losses.LOSSES["toy_scaled_ce"].summary == "Cross entropy times a scale."
    finally:
        del losses.LOSSES["toy_scaled_ce"]


@pytest.mark.parametrize("name", ["hinton", "soft", "mse", "dkd", "lsd"])
def test_kd_losses_need_teacher_of_right_shape(name):
    with pytest.raises(InputError, match="teacher"):
        call(name, t=None)
    with pytest.raises(InputError, match="shape"):
        call(name, t=TL[:, :3])


def test_teacher_receives_no_gradient():
    s = torch.tensor(S, requires_grad=True)
    t = torch.tensor(TL, requires_grad=True)
    build_loss("hinton", temperature=4.0)(s, torch.tensor(Y), t).backward()
    assert s.grad is not None and t.grad is None


# --------------------------------------------------------------------------- gradients vs temperature


def soft_grad(s: np.ndarray, t: np.ndarray, T: float) -> np.ndarray:
    """Gradient of the scaled soft term ``T^2 * KL`` summed over samples (not batch mean)."""
    st = torch.tensor(s, requires_grad=True)
    loss = build_loss("soft", temperature=T)(st, None, torch.tensor(t)) * len(s)
    loss.backward()
    return st.grad.numpy()


def zero_mean(z: np.ndarray) -> np.ndarray:
    return z - z.mean(axis=1, keepdims=True)


def test_high_temperature_limit_matches_hinton_eq_4():
    """Hinton et al. (2015), eq. 2-4: for the *unscaled* soft cross entropy C,
    dC/dz_i = (q_i - p_i)/T, which for T >> |z| and zero-mean logits tends to
    (z_i - v_i)/(N T^2), N = number of classes. The expansion error is O(|z|/T) relative.
    """
    s, t = zero_mean(S), zero_mean(TL)
    n = s.shape[1]
    errors = []
    for T in (5.0, 20.0, 100.0):
        unscaled = soft_grad(s, t, T) / T**2
        expected = (s - t) / (n * T**2)
        errors.append(np.linalg.norm(unscaled - expected) / np.linalg.norm(expected))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02
    # the error falls roughly like 1/T
    assert errors[0] / errors[2] == pytest.approx(20.0, rel=0.5)


def test_t_squared_makes_soft_gradient_scale_free():
    """With T^2 the soft gradient tends to (z - v)/N, independent of T; without it, it
    would shrink as 1/T^2 (which is why Hinton et al. multiply by T^2)."""
    s, t = zero_mean(S), zero_mean(TL)
    norms = {T: np.linalg.norm(soft_grad(s, t, T)) for T in (4.0, 10.0, 50.0)}
    limit = np.linalg.norm((s - t) / s.shape[1])
    for T, g in norms.items():
        assert g == pytest.approx(limit, rel=0.25), T
    assert norms[50.0] / norms[4.0] == pytest.approx(1.0, rel=0.25)
    # unscaled gradient ratio would be (4/50)^2 = 0.0064
    unscaled_ratio = (norms[50.0] / 50.0**2) / (norms[4.0] / 4.0**2)
    assert unscaled_ratio < 0.01
