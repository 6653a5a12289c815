"""KD loss registry: values against independent NumPy references, T^2 scaling, high-T limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jetdistill.errors import InputError
from jetdistill.learn.losses import LOSSES, build_loss, dist_terms, loss_params

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


def np_dist_terms(s: np.ndarray, t: np.ndarray, T: float) -> tuple[float, float]:
    """DIST's (inter, intra) by Huang et al. (2022), eq. 5-6, with NumPy's Pearson (no eps)."""
    ps, pt = np_softmax(s / T), np_softmax(t / T)
    rows = [np.corrcoef(ps[i], pt[i])[0, 1] for i in range(len(ps))]
    cols = [np.corrcoef(ps[:, k], pt[:, k])[0, 1] for k in range(ps.shape[1])]
    return 1.0 - float(np.mean(rows)), 1.0 - float(np.mean(cols))


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


# --------------------------------------------------------------------------- DIST

# 3 jets x 3 classes. Teacher rows: the probability 1/2 on the jet's own class, 1/4 elsewhere;
# the student swaps jets 1 and 2. Every centred row and column is a permutation of
# (2, -1, -1)/12: the same permutation correlates 1, a different one -1/2.
P_T = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
P_S = P_T[[0, 2, 1]]


def test_dist_by_hand_3x3():
    # rows: jet 0 correlates 1, jets 1 and 2 -1/2: inter = 1 - (1 - 1/2 - 1/2)/3 = 1;
    # columns: class 0 (1/2 on jet 0 in both) 1, classes 1 and 2 -1/2: intra = 1.
    # The eps of the Pearson denominator cancels exactly here (all norms are equal).
    s, t = np.log(P_S), np.log(P_T)
    inter, intra = dist_terms(torch.tensor(s), torch.tensor(t), 1.0)
    assert float(inter) == pytest.approx(1.0, abs=1e-12)
    assert float(intra) == pytest.approx(1.0, abs=1e-12)
    kw = {"s": s, "t": t, "y": np.array([0, 1, 2]), "temperature": 1.0}
    assert call("dist", alpha=0.0, **kw) == pytest.approx(2.0, abs=1e-12)
    got = call("dist", alpha=0.0, params={"beta": 0.5, "gamma": 2.0}, **kw)
    assert got == pytest.approx(0.5 + 2.0, abs=1e-12)
    # with labels: alpha CE on top, the KD part not scaled by 1 - alpha (as in dkd)
    ce = np_ce(s, np.array([0, 1, 2]))
    assert call("dist", alpha=0.3, **kw) == pytest.approx(0.3 * ce + 2.0, abs=1e-12)


def test_dist_by_hand_two_classes_and_uniform_rows():
    """Two classes, three jets; a uniform row has no ranking: it correlates 0 (the eps).

    Teacher p(class 0) = (3/4, 1/2, 1/4), student (1/2, 3/4, 1/4).
    Rows: jet 0 student uniform -> 0, jet 1 teacher uniform -> 0, jet 2 identical -> 1:
    inter = 1 - 1/3. Columns: centred (1/4, 0, -1/4) and (0, 1/4, -1/4) correlate
    (1/16) / (1/8) = 1/2 for class 0, and the same for class 1 (its negative): intra = 1/2.
    """
    pt0, ps0 = np.array([0.75, 0.5, 0.25]), np.array([0.5, 0.75, 0.25])
    t = np.log(np.stack([pt0, 1 - pt0], axis=1))
    s = np.log(np.stack([ps0, 1 - ps0], axis=1))
    inter, intra = (float(v) for v in dist_terms(torch.tensor(s), torch.tensor(t), 1.0))
    assert inter == pytest.approx(2 / 3, abs=1e-6)
    assert intra == pytest.approx(1 / 2, abs=1e-6)
    assert call("dist", s=s, t=t, y=None, alpha=0.0) == pytest.approx(2 / 3 + 1 / 2, abs=1e-6)


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
@pytest.mark.parametrize(("beta", "gamma", "alpha"), [(1.0, 1.0, 0.0), (2.0, 0.5, 0.1)])
def test_dist_matches_reference(T, beta, gamma, alpha):
    inter, intra = np_dist_terms(S, TL, T)
    expected = alpha * np_ce(S, Y) + T * T * (beta * inter + gamma * intra)
    got = call("dist", temperature=T, alpha=alpha, params={"beta": beta, "gamma": gamma})
    assert got == pytest.approx(expected, rel=1e-5)  # NumPy's Pearson has no eps


@pytest.mark.parametrize("T", [1.0, 4.0, 20.0])
def test_dist_is_zero_for_identical_predictions(T):
    """Zero without the Pearson eps; with it, ``eps / |p - mean p|^2`` per row / column."""
    shifted = TL + np.array([[3.0], [-2.0], [0.5]])  # same probabilities as TL
    for s in (TL, shifted):
        terms = dist_terms(torch.tensor(s), torch.tensor(TL), T, eps=0.0)
        assert [float(v) for v in terms] == pytest.approx([0.0, 0.0], abs=1e-12)
        pt = np_softmax(TL / T)
        rows = ((pt - pt.mean(1, keepdims=True)) ** 2).sum(1)
        cols = ((pt - pt.mean(0, keepdims=True)) ** 2).sum(0)
        bias = np.mean(1e-8 / (rows + 1e-8)) + np.mean(1e-8 / (cols + 1e-8))
        got = call("dist", s=s, y=None, alpha=0.0, temperature=T)
        assert got == pytest.approx(T * T * bias, rel=1e-4, abs=1e-12)
    if T <= 4.0:  # the paper's temperatures: the bias is negligible
        assert got < 1e-4


def test_dist_invariance_what_holds_and_what_does_not():
    """A per-row shift of the student's logits leaves DIST unchanged (softmax is shift
    invariant); a per-row *scale* does not (softmax(a z) is not an affine map of
    softmax(z)), so DIST is not invariant to a positive affine map of the logits. Only
    in the high-T limit, where softmax(z/T) ~ (1 + (z - mean z)/T)/K, does a common scale
    drop out (the terms tend to the correlations of the centred logits)."""
    base = call("dist", alpha=0.0, temperature=2.0)
    shift = np.array([[5.0], [-1.0], [0.25]])
    assert call("dist", s=S + shift, alpha=0.0, temperature=2.0) == pytest.approx(base, rel=1e-9)
    assert call("dist", t=TL + shift, alpha=0.0, temperature=2.0) == pytest.approx(base, rel=1e-9)
    scaled = S * np.array([[3.0], [0.5], [2.0]]) + shift
    assert call("dist", s=scaled, alpha=0.0, temperature=2.0) != pytest.approx(base, rel=1e-3)
    assert call("dist", s=3.0 * S, alpha=0.0, temperature=2.0) != pytest.approx(base, rel=1e-3)
    # high-T limit: a common scale of the student's logits no longer matters (eps = 0: at
    # T = 1e4 the centred probabilities are ~1e-4 and the reference eps would dominate)
    T = 1e4
    big = [float(v) for v in dist_terms(torch.tensor(S), torch.tensor(TL), T, eps=0.0)]
    big3 = [float(v) for v in dist_terms(torch.tensor(3.0 * S), torch.tensor(TL), T, eps=0.0)]
    assert big3 == pytest.approx(big, rel=1e-3)
    zs, zt = S - S.mean(1, keepdims=True), TL - TL.mean(1, keepdims=True)
    limit_inter = 1 - np.mean([np.corrcoef(zs[i], zt[i])[0, 1] for i in range(3)])
    assert big[0] == pytest.approx(limit_inter, rel=1e-3)


def dist_grad_norm(s: np.ndarray, t: np.ndarray, T: float) -> float:
    st = torch.tensor(s, requires_grad=True)
    build_loss("dist", temperature=T, alpha=0.0)(st, None, torch.tensor(t)).backward()
    assert torch.isfinite(st.grad).all()
    return float(st.grad.norm())


def test_dist_gradient_grows_as_t_squared_unlike_hinton():
    """Pearson correlation is scale-free, so DIST's terms (and gradients) tend to a non-zero
    limit as T grows; the paper's T^2 factor then makes the gradient grow as T^2 (Hinton's
    T^2 only undoes KL's 1/T^2 shrinkage, see the tests below)."""
    g = {T: dist_grad_norm(S, TL, T) for T in (10.0, 50.0)}
    assert g[50.0] / g[10.0] == pytest.approx(25.0, rel=0.1)


def test_dist_gradients_finite_at_t20_for_extreme_and_uniform_rows():
    s = torch.tensor(
        [[80.0, -80.0, 0.0], [0.0, 0.0, 0.0], [-50.0, 60.0, 1.0], [1.0, 2.0, 3.0]],
        requires_grad=True,
    )  # row 1: a uniform student row (zero centred norm)
    t = torch.tensor(
        [[100.0, -100.0, 5.0], [-100.0, 100.0, 0.0], [3.0, 3.0, 3.0], [0.0, 1.0, 2.0]]
    )  # row 2: a uniform teacher row
    for T in (1.0, 20.0):
        s.grad = None
        loss = build_loss("dist", temperature=T, alpha=0.1)(s, torch.tensor([0, 1, 1, 2]), t)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(s.grad).all(), T
    # float32 (the training dtype) at T = 20 with the defaults' magnitudes
    s32 = (torch.randn(256, 5, generator=torch.Generator().manual_seed(0))).requires_grad_()
    t32 = 10.0 * torch.randn(256, 5, generator=torch.Generator().manual_seed(1))
    build_loss("dist", temperature=20.0, alpha=0.1)(
        s32, torch.randint(0, 5, (256,)), t32
    ).backward()
    assert torch.isfinite(s32.grad).all()


def test_dist_needs_labels_only_with_alpha():
    assert np.isfinite(call("dist", y=None, alpha=0.0))
    with pytest.raises(InputError, match="labels"):
        call("dist", y=None, alpha=0.1)


def test_dist_single_jet_batch_is_finite():
    """A batch of one jet (the last batch of an epoch can be) has no intra-class ranking:
    its columns are constant and correlate 0, so intra = 1 and carries no gradient."""
    s = torch.tensor(S[:1], requires_grad=True)
    inter, intra = dist_terms(s, torch.tensor(TL[:1]), 1.0)
    assert float(intra.detach()) == pytest.approx(1.0)
    intra.backward(retain_graph=True)
    assert torch.equal(s.grad, torch.zeros_like(s))
    inter.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


# --------------------------------------------------------------------------- feature hint

H_S = np.array([[1.0, 2.0], [0.0, -1.0]])  # 2 jets, student representation width 2
H_T = np.array([[1.0, 0.0, 2.0], [3.0, 1.0, -1.0]])  # teacher embedding width 3
W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
B = np.array([0.0, 0.5, -1.0])


def hint_loss(**kw):
    """The hint loss with the projector fixed to ``W``, ``B`` (float64)."""
    fn = build_loss("hint", feature_dims=(2, 3), **kw)
    fn.module.double()
    with torch.no_grad():
        fn.module.linear.weight.copy_(torch.tensor(W))
        fn.module.linear.bias.copy_(torch.tensor(B))
    return fn


def test_hint_by_hand_with_a_fixed_projector():
    # W h + b - h_t: jet 0 (1, 2.5, 2) - (1, 0, 2) = (0, 2.5, 0) -> 6.25;
    #                jet 1 (0, -0.5, -2) - (3, 1, -1) = (-3, -1.5, -1) -> 9 + 2.25 + 1 = 12.25
    # mean over 2 jets x 3 dims: 18.5 / 6
    mse = 18.5 / 6
    s, t, y = S[:2], TL[:2], Y[:2]
    fn = hint_loss(alpha=1.0, params={"hint_weight": 2.0})
    feats = (torch.tensor(H_S), torch.tensor(H_T))
    got = float(fn(torch.tensor(s), torch.tensor(y), torch.tensor(t), features=feats).detach())
    assert got == pytest.approx(np_ce(s, y) + 2.0 * mse, rel=1e-12)  # alpha = 1: CE + hint
    fn = hint_loss(alpha=0.2, temperature=4.0)  # default hint_weight 1
    got = float(fn(torch.tensor(s), torch.tensor(y), torch.tensor(t), features=feats).detach())
    expected = 0.2 * np_ce(s, y) + 0.8 * 16.0 * np_soft_kl(s, t, 4.0) + mse
    assert got == pytest.approx(expected, rel=1e-12)


def test_hint_gradient_reaches_the_projector_and_student_not_the_teacher():
    fn = hint_loss(alpha=1.0)
    hs = torch.tensor(H_S, requires_grad=True)
    ht = torch.tensor(H_T, requires_grad=True)
    fn(torch.tensor(S[:2]), torch.tensor(Y[:2]), torch.tensor(TL[:2]), features=(hs, ht)).backward()
    r = H_S @ W.T + B - H_T  # residuals (2, 3)
    np.testing.assert_allclose(fn.module.linear.weight.grad.numpy(), 2 / 6 * r.T @ H_S, rtol=1e-12)
    np.testing.assert_allclose(fn.module.linear.bias.grad.numpy(), 2 / 6 * r.sum(0), rtol=1e-12)
    np.testing.assert_allclose(hs.grad.numpy(), 2 / 6 * r @ W, rtol=1e-12)
    assert ht.grad is None


def test_hint_is_built_with_feature_dims_and_called_with_features():
    assert LOSSES["hint"].needs_features and build_loss("hint", feature_dims=(4, 8)).needs_features
    assert not any(LOSSES[n].needs_features for n in LOSSES if n != "hint")
    assert build_loss("hinton", feature_dims=(4, 8)).module is None  # ignored by logit losses
    with pytest.raises(InputError, match="feature_dims"):
        build_loss("hint")
    with pytest.raises(InputError, match="integer >= 1"):
        build_loss("hint", feature_dims=(0, 8))
    fn = build_loss("hint", feature_dims=(2, 3))
    st, yt, tt = torch.tensor(S[:2]).float(), torch.tensor(Y[:2]), torch.tensor(TL[:2]).float()
    with pytest.raises(InputError, match="features"):
        fn(st, yt, tt)
    with pytest.raises(InputError, match="widths"):
        fn(st, yt, tt, features=(torch.zeros(2, 3), torch.zeros(2, 3)))
    with pytest.raises(InputError, match="one batch"):
        fn(st, yt, tt, features=(torch.zeros(2, 2), torch.zeros(3, 3)))
    with pytest.raises(InputError, match="logit loss"):
        build_loss("hinton")(st, yt, tt, features=(torch.zeros(2, 2), torch.zeros(2, 3)))
    assert loss_params("hint") == {"hint_weight": 1.0}
    with pytest.raises(InputError, match=r"distillation\.loss_params\.hint\.hint_weight"):
        loss_params("hint", {"hint_weight": -1.0})


# --------------------------------------------------------------------------- registry and errors


def test_registry_names():
    assert {"ce", "hinton", "soft", "mse", "dkd", "lsd", "dist", "hint"} <= set(LOSSES)
    assert not build_loss("ce").needs_teacher
    assert all(build_loss(n, feature_dims=(2, 3)).needs_teacher for n in LOSSES if n != "ce")


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


@pytest.mark.parametrize("name", ["hinton", "soft", "mse", "dkd", "lsd", "dist"])
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


# --------------------------------------------------------------------------- unlabelled jets
def test_ce_term_ignores_unlabelled_jets_by_hand():
    """distillation.unlabelled: label -1 jets count in the teacher term only; alpha * CE is the
    mean over the labelled jets of the batch. Two jets, two classes, T = 1, alpha = 0.5:
    jet 0 labelled (class 1), logits (0, ln 3): CE = -ln(3/4); jet 1 unlabelled, logits (0, 0).
    Teacher logits (0, ln 3) for both: p = (1/4, 3/4); student q0 = p (KL 0), q1 = (1/2, 1/2)
    (KL = 1/4 ln(1/2) + 3/4 ln(3/2)). Loss = 0.5 * (-ln 3/4) + 0.5 * (0 + KL1) / 2."""
    from jetdistill.learn.losses import UNLABELLED

    s = np.array([[0.0, np.log(3.0)], [0.0, 0.0]])
    t = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    y = np.array([1, UNLABELLED])
    kl1 = 0.25 * np.log(0.5) + 0.75 * np.log(1.5)
    expected = 0.5 * -np.log(0.75) + 0.5 * kl1 / 2
    assert call("hinton", s=s, y=y, t=t, alpha=0.5) == pytest.approx(expected, rel=1e-12)
    # the unlabelled jet's label is never read: whatever its logits, CE is jet 0's alone
    s_other = s.copy()
    s_other[1] = [5.0, -5.0]
    loss_a = call("hinton", s=s_other, y=y, t=t, alpha=1.0)
    assert loss_a == pytest.approx(-np.log(0.75), rel=1e-12)
    # a batch of unlabelled jets only: the teacher term, and a finite gradient
    y_none = np.array([UNLABELLED, UNLABELLED])
    assert call("hinton", s=s, y=y_none, t=t, alpha=0.5) == pytest.approx(0.5 * kl1 / 2, rel=1e-12)
    st = torch.tensor(s, requires_grad=True)
    build_loss("hinton", alpha=0.5)(st, torch.tensor(y_none), torch.tensor(t)).backward()
    assert torch.isfinite(st.grad).all() and st.grad[0].abs().max() < 1e-12


def test_losses_that_read_labels_beyond_ce_refuse_unlabelled_jets():
    """The registry says which losses can train on unlabelled jets (plan.check_unlabelled
    refuses the others): dkd reads every jet's target class, ce is all labels."""
    assert not LOSSES["dkd"].unlabelled and not LOSSES["ce"].unlabelled
    assert all(LOSSES[n].unlabelled for n in ("hinton", "soft", "mse", "lsd", "dist", "hint"))
