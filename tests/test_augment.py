"""Augmented views: jet symmetries on constituents, every feature recomputed (data.augment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest_data import synthetic_jets, write_hls4ml_files

from jetdistill.data.augment import (
    JetTransforms,
    ViewsConfig,
    augment_constituents,
    augmented_split,
    draw_transforms,
)
from jetdistill.data.kinematics import (
    FEATURE_INDEX,
    constituent_features,
    invariant_mass,
    jet_p4_from_constituents,
)
from jetdistill.data.prepare import load_norm, load_split, prepare_view
from jetdistill.data.splits import SPLITS, split_data
from jetdistill.errors import InputError

F = FEATURE_INDEX


def _jet(pt, eta, phi) -> np.ndarray:
    """Raw (1, n, 16) features of massless constituents; the jet is their sum."""
    pt, eta, phi = (np.asarray(a, dtype=np.float64)[None] for a in (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    return constituent_features(px, py, pz, e, jet_p4_from_constituents(px, py, pz, e))


def _t(eta=1.0, phi=1.0, angle=0.0, scale=None) -> JetTransforms:
    return JetTransforms(np.array([eta]), np.array([phi]), np.array([angle]), scale)


# a jet of two massless constituents symmetric about eta = 0, phi = 0: the axis is exactly there
TWO = _jet([100.0, 100.0], [0.1, -0.1], [0.05, -0.05])


def test_two_constituent_jet_flips_by_hand() -> None:
    out = augment_constituents(TWO, _t(eta=-1.0)).astype(np.float64)
    # eta flip: constituent 0 moves to (eta, phi) = (-0.1, 0.05), its pT and E are kept
    assert out[0, 0, F["j1_etarel"]] == pytest.approx(-0.1, abs=1e-6)
    assert out[0, 0, F["j1_phirel"]] == pytest.approx(0.05, abs=1e-6)
    assert out[0, 0, F["j1_pz"]] == pytest.approx(100 * np.sinh(-0.1), rel=1e-6)
    assert out[0, 0, F["j1_e"]] == pytest.approx(100 * np.cosh(0.1), rel=1e-6)
    assert out[0, 0, F["j1_costheta"]] == pytest.approx(np.tanh(-0.1), rel=1e-5)
    out = augment_constituents(TWO, _t(phi=-1.0)).astype(np.float64)
    assert out[0, 1, F["j1_phirel"]] == pytest.approx(0.05, abs=1e-6)
    assert out[0, 1, F["j1_py"]] == pytest.approx(100 * np.sin(0.05), rel=1e-6)
    assert out[0, 1, F["j1_etarel"]] == pytest.approx(-0.1, abs=1e-6)


def test_two_constituent_jet_rotation_by_hand() -> None:
    out = augment_constituents(TWO, _t(angle=np.pi / 2)).astype(np.float64)
    # (0.1, 0.05) rotated by 90 degrees is (-0.05, 0.1); the jet reference stays where it was
    jet_pt, jet_e = 200 * np.cos(0.05), 200 * np.cosh(0.1)
    c0 = out[0, 0]
    assert (c0[F["j1_etarel"]], c0[F["j1_phirel"]]) == pytest.approx((-0.05, 0.1), abs=1e-6)
    assert c0[F["j1_eta"]] == pytest.approx(-0.05, abs=1e-6)
    assert c0[F["j1_px"]] == pytest.approx(100 * np.cos(0.1), rel=1e-6)
    assert c0[F["j1_pz"]] == pytest.approx(100 * np.sinh(-0.05), rel=1e-6)
    assert c0[F["j1_ptrel"]] == pytest.approx(100 / jet_pt, rel=1e-6)
    assert c0[F["j1_erel"]] == pytest.approx(100 * np.cosh(0.05) / jet_e, rel=1e-6)
    assert c0[F["j1_deltaR"]] == pytest.approx(np.hypot(0.1, 0.05), rel=1e-6)
    assert out[0, 1, F["j1_etarel"]] == pytest.approx(0.05, abs=1e-6)


def _random_jets(n: int = 20, seed: int = 3) -> np.ndarray:
    cons, _ = synthetic_jets(n // 5 or 1, seed=seed, max_constituents=40)
    return cons


def _sum_p4(block: np.ndarray) -> np.ndarray:
    cols = [F[k] for k in ("j1_px", "j1_py", "j1_pz", "j1_e")]
    return block[..., cols].astype(np.float64).sum(axis=1)


@pytest.mark.parametrize("eta, phi", [(-1.0, 1.0), (1.0, -1.0), (-1.0, -1.0)])
def test_flips_are_exact_symmetries(eta: float, phi: float) -> None:
    x = _random_jets()
    n = len(x)
    t = JetTransforms(np.full(n, eta), np.full(n, phi), np.zeros(n))
    out = augment_constituents(x, t)
    real = np.any(x != 0, -1)
    assert np.array_equal(real, np.any(out != 0, -1))  # padding stays padding
    # pT of every constituent, and the jet four-momentum (so its mass, pT and axis) unchanged
    np.testing.assert_allclose(out[..., F["j1_pt"]], x[..., F["j1_pt"]], rtol=1e-6)
    np.testing.assert_allclose(_sum_p4(out), _sum_p4(x), rtol=1e-6, atol=1e-6)
    m0, m1 = (invariant_mass(*_sum_p4(b).T) for b in (x, out))
    np.testing.assert_allclose(m1, m0, rtol=1e-5)
    # the flipped coordinate changes sign about the (fixed) jet axis; massless: y == eta
    if phi < 0:
        np.testing.assert_allclose(out[..., F["j1_phirel"]], -x[..., F["j1_phirel"]], atol=1e-5)
    # the pT-weighted centroid about the jet stays where it was (0 for an E-scheme jet)
    w = out[..., F["j1_pt"]]
    for c in ("j1_etarel", "j1_phirel"):
        assert abs(np.sum(w * out[..., F[c]]) / w.sum()) < 0.05


def test_rotation_keeps_pt_and_pairwise_distances() -> None:
    x = _random_jets()
    n = len(x)
    out = augment_constituents(x, JetTransforms(np.ones(n), np.ones(n), np.full(n, 1.1)))
    np.testing.assert_allclose(out[..., F["j1_pt"]], x[..., F["j1_pt"]], rtol=1e-6)
    # the distance to the jet's rapidity axis is kept (massless: y = eta); deltaR is measured
    # from the pseudorapidity axis, which differs from it by a per-jet offset for a massive jet
    jet = _sum_p4(x)
    offset = np.arcsinh(jet[:, 2] / np.hypot(jet[:, 0], jet[:, 1])) - np.arctanh(
        jet[:, 2] / jet[:, 3]
    )

    def r_axis(b: np.ndarray) -> np.ndarray:
        return np.hypot(b[..., F["j1_etarel"]] + offset[:, None], b[..., F["j1_phirel"]])

    real = np.any(x != 0, -1)
    np.testing.assert_allclose(r_axis(out)[real], r_axis(x)[real], atol=1e-4)

    def pair_d(b: np.ndarray) -> np.ndarray:
        e, p = b[..., F["j1_etarel"]], b[..., F["j1_phirel"]]
        return np.hypot(e[:, :, None] - e[:, None, :], p[:, :, None] - p[:, None, :])

    both = real[:, :, None] & real[:, None, :]
    np.testing.assert_allclose(pair_d(out)[both], pair_d(x)[both], atol=1e-4)
    # every relative feature is recomputed: the rotated frame's principal axis follows
    assert not np.allclose(out[..., F["j1_py"]], x[..., F["j1_py"]])


def test_pt_smearing_moves_the_jet_consistently() -> None:
    x = _random_jets()
    n, c = x.shape[:2]
    scale = np.full((n, c), 1.1)
    out = augment_constituents(x, JetTransforms(np.ones(n), np.ones(n), np.zeros(n), scale))
    real = np.any(x != 0, -1)
    np.testing.assert_allclose(
        out[..., F["j1_pt"]][real], 1.1 * x[..., F["j1_pt"]][real], rtol=1e-5
    )
    # every constituent scaled by 1.1: the (whole) jet is scaled too, pT_rel unchanged
    np.testing.assert_allclose(out[..., F["j1_ptrel"]], x[..., F["j1_ptrel"]], rtol=1e-4, atol=1e-6)


def test_draws_depend_on_jet_not_on_chunking() -> None:
    cfg = ViewsConfig(k=2, transforms=("eta_flip", "phi_flip", "rotate"), pt_smear=0.1, seed=4)
    rows = np.arange(100, 160)
    whole = draw_transforms(cfg, rows, 1, 8)
    part = draw_transforms(cfg, rows[10:20], 1, 8)
    np.testing.assert_array_equal(whole.angle[10:20], part.angle)
    np.testing.assert_array_equal(whole.pt_scale[10:20], part.pt_scale)
    other = draw_transforms(cfg, rows, 0, 8)
    assert not np.array_equal(whole.angle, other.angle)
    # each flip about half of the time, angles spread over [0, 2 pi)
    big = draw_transforms(cfg, np.arange(4000), 0, 1)
    assert 0.45 < np.mean(big.eta_sign < 0) < 0.55 and 0.45 < np.mean(big.phi_sign < 0) < 0.55
    assert big.angle.min() >= 0 and big.angle.max() < 2 * np.pi
    assert np.std(big.pt_scale) == pytest.approx(0.1, rel=0.1)
    off = draw_transforms(ViewsConfig(k=1, transforms=("phi_flip",)), rows, 0, 8)
    assert np.all(off.eta_sign == 1) and np.all(off.angle == 0) and off.pt_scale is None


def test_unknown_transform_names_the_nearest() -> None:
    with pytest.raises(InputError, match="did you mean 'eta_flip'"):
        ViewsConfig.from_dict({"k": 2, "transforms": ["eta_flp"]})
    with pytest.raises(InputError, match="distillation.views.k"):
        ViewsConfig.from_dict({"k": -1})
    assert not ViewsConfig.from_dict(None).enabled


def test_augmented_split_uses_the_fitted_normalisation(tmp_path: Path) -> None:
    files = [str(p) for p in write_hls4ml_files(tmp_path / "raw", n_files=1, n_per_class=12)]
    data = {"source": "hls4ml", "splits": {"seed": 5}, "chunk_size": 7, "norm_fit_max_jets": 1000}
    split_data(files, tmp_path / "splits.h5", data)
    view = {"n_constituents": 8, "features": ["j1_ptrel", "j1_etarel", "j1_phirel"],
            "log_features": ["j1_ptrel"]}  # fmt: skip
    outs = {s: tmp_path / "v" / f"{s}.h5" for s in SPLITS}
    prepare_view(
        tmp_path / "splits.h5", view, outs, tmp_path / "v" / "norm.json", data, view_name="v"
    )
    X, _, index, _ = load_split(outs["transfer"])
    norm = load_norm(tmp_path / "v" / "norm.json")
    cfg = ViewsConfig(k=3, transforms=("phi_flip",), seed=1)
    aug, rows = augmented_split(tmp_path / "splits.h5", view, tmp_path / "v" / "norm.json",
                                "transfer", cfg, data_cfg=data, view_name="v", expected_index=index)  # fmt: skip
    assert aug.shape == (3, *X.shape) and np.array_equal(rows, index)
    real = np.any(X != 0, -1)
    for k in range(3):
        sign = draw_transforms(cfg, index, k, 150).phi_sign
        raw = X * norm["scale"] + norm["center"]
        raw_aug = aug[k] * norm["scale"] + norm["center"]
        # log pT_rel and eta_rel unchanged, phi_rel flipped where the draw says so
        np.testing.assert_allclose(raw_aug[..., :2][real], raw[..., :2][real], atol=1e-4)
        flipped = raw[..., 2] * sign[:, None]
        np.testing.assert_allclose(raw_aug[..., 2][real], flipped[real], atol=1e-4)
        assert np.all(aug[k][~real] == 0)
    with pytest.raises(InputError, match="jet order"):
        augmented_split(tmp_path / "splits.h5", view, tmp_path / "v" / "norm.json", "transfer",
                        cfg, data_cfg=data, view_name="v", expected_index=index[::-1])  # fmt: skip
