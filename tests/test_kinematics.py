"""Constituent and jet features against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from jetdistill.data.kinematics import (
    FEATURE_INDEX,
    constituent_features,
    invariant_mass,
    jet_features,
    jet_p4_from_constituents,
    wrap_phi,
)
from jetdistill.data.layout import PARTICLE_FEATURES


def p4(pt: float, eta: float, phi: float, m: float = 0.0) -> np.ndarray:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.array([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)])


def feats(cons: np.ndarray, jet: np.ndarray) -> dict[str, np.ndarray]:
    out = constituent_features(cons[:, 0], cons[:, 1], cons[:, 2], cons[:, 3], jet)
    assert out.shape == (len(cons), 16)
    return {name: out[:, i] for i, name in enumerate(PARTICLE_FEATURES)}


def test_feature_order_is_the_hls4ml_order() -> None:
    assert list(FEATURE_INDEX) == [
        "j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta", "j1_etarel",
        "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR", "j1_costheta", "j1_costhetarel",
    ]  # fmt: skip


def test_single_constituent_hand_computed() -> None:
    # constituent (px, py, pz, E) = (1, 0, 1, sqrt 2); jet along +y at eta 0 with E = 1
    cons = np.array([[1.0, 0.0, 1.0, np.sqrt(2.0)], [0, 0, 0, 0]])
    jet = np.array([0.0, 1.0, 0.0, 1.0])
    f = feats(cons, jet)
    eta = np.arcsinh(1.0)  # 0.881373...
    assert f["j1_px"][0] == 1.0 and f["j1_pz"][0] == 1.0
    assert f["j1_pt"][0] == pytest.approx(1.0)
    assert f["j1_e"][0] == pytest.approx(np.sqrt(2))
    assert f["j1_erel"][0] == pytest.approx(np.sqrt(2))
    assert f["j1_ptrel"][0] == pytest.approx(1.0)
    assert f["j1_eta"][0] == pytest.approx(0.881373587)
    assert f["j1_etarel"][0] == pytest.approx(eta)
    assert f["j1_phi"][0] == pytest.approx(0.0)
    assert f["j1_phirel"][0] == pytest.approx(-np.pi / 2)
    assert f["j1_deltaR"][0] == pytest.approx(np.hypot(eta, np.pi / 2))
    assert f["j1_costheta"][0] == pytest.approx(1 / np.sqrt(2))
    assert f["j1_costhetarel"][0] == pytest.approx(0.0, abs=1e-12)
    # a single constituent defines the principal axis: it lies on +etarot
    assert f["j1_etarot"][0] == pytest.approx(np.hypot(eta, np.pi / 2))
    assert f["j1_phirot"][0] == pytest.approx(0.0, abs=1e-12)
    # padding row stays exactly zero
    assert np.all([f[n][1] == 0.0 for n in PARTICLE_FEATURES])


def test_phirel_wraps_across_pi() -> None:
    cons = p4(10.0, 0.0, 3.0)[None]
    jet = p4(100.0, 0.0, -3.0)
    f = feats(cons, jet)
    assert f["j1_phirel"][0] == pytest.approx(6.0 - 2 * np.pi)  # -0.2832, not +6
    assert wrap_phi(np.pi) == pytest.approx(-np.pi)
    assert wrap_phi(-np.pi) == pytest.approx(-np.pi)
    assert wrap_phi(np.array([7.0]))[0] == pytest.approx(7.0 - 2 * np.pi)


def test_rotation_aligns_principal_axis() -> None:
    # constituents on the 45-degree diagonal of (etarel, phirel) around a jet at (0, 0)
    d = 0.1
    cons = np.stack([p4(100, d, d), p4(100, -d, -d), p4(10, 2 * d, 2 * d)])
    jet = p4(500.0, 0.0, 0.0)
    f = feats(cons, jet)
    # etarel uses pseudorapidity, exact here; phirel exact
    np.testing.assert_allclose(f["j1_etarel"], [d, -d, 2 * d], atol=1e-12)
    np.testing.assert_allclose(f["j1_phirel"], [d, -d, 2 * d], atol=1e-12)
    s2 = np.sqrt(2.0)
    # the principal axis is the diagonal, oriented towards the (skewing) soft third particle
    np.testing.assert_allclose(f["j1_etarot"], [s2 * d, -s2 * d, 2 * s2 * d], atol=1e-12)
    np.testing.assert_allclose(f["j1_phirot"], [0.0, 0.0, 0.0], atol=1e-12)


def test_rotation_preserves_distance_and_broadcasts_over_jets() -> None:
    rng = np.random.default_rng(1)
    n_jets, n = 4, 10
    pt = rng.exponential(30, (n_jets, n)) + 1
    eta = rng.normal(0, 0.3, (n_jets, n))
    phi = rng.normal(0, 0.3, (n_jets, n))
    cons = np.stack(
        [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1
    )
    cons[:, 7:] = 0.0  # padding
    jets = jet_p4_from_constituents(*np.moveaxis(cons, -1, 0))
    out = constituent_features(*np.moveaxis(cons, -1, 0), jets)
    assert out.shape == (n_jets, n, 16)
    i = FEATURE_INDEX
    r2 = out[..., i["j1_etarot"]] ** 2 + out[..., i["j1_phirot"]] ** 2
    np.testing.assert_allclose(r2, out[..., i["j1_deltaR"]] ** 2, atol=1e-12)
    assert np.all(out[:, 7:] == 0.0)
    # pT fractions of all constituents sum to ~1 for a jet made of them (collinear-ish)
    assert np.all(np.abs(out[..., i["j1_ptrel"]].sum(axis=1) - 1.0) < 0.1)
    np.testing.assert_allclose(out[..., i["j1_erel"]].sum(axis=1), 1.0, rtol=1e-12)
    # the axis is rotated so that the pT-weighted mixed moment vanishes
    w = out[..., i["j1_pt"]]
    mixed = np.sum(w * out[..., i["j1_etarot"]] * out[..., i["j1_phirot"]], axis=1)
    np.testing.assert_allclose(mixed, 0.0, atol=1e-9)


def test_jet_features_two_particles() -> None:
    c = np.stack([p4(100, 0.0, 0.0), p4(100, 0.0, 0.1), np.zeros(4)])
    f = jet_features(c[:, 0], c[:, 1], c[:, 2], c[:, 3])
    assert f["j_mass"] == pytest.approx(np.sqrt(2 * 100 * 100 * (1 - np.cos(0.1))))  # 9.9958
    assert f["j_pt"] == pytest.approx(200 * np.cos(0.05))
    assert f["j_eta"] == pytest.approx(0.0, abs=1e-12)
    assert f["j_multiplicity"] == 2
    assert f["j_ptfrac"] == pytest.approx(1.0)
    g = jet_features(c[:, 0], c[:, 1], c[:, 2], c[:, 3], ref_pt=400.0)
    assert g["j_ptfrac"] == pytest.approx(200 * np.cos(0.05) / 400)


def test_invariant_mass_of_massive_vector() -> None:
    v = p4(300.0, 1.2, -2.0, m=80.4)
    assert invariant_mass(*v) == pytest.approx(80.4, rel=1e-9)
