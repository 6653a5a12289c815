"""Constituent and jet features of the hls4ml LHC jet layout, in pure NumPy.

Generated jets must carry exactly the 16 per-constituent features of the public
hls4ml files (Zenodo 3602260) so that every later stage reads generated and real
data through one code path. All functions broadcast over leading axes, so a
whole batch of zero-padded jets is processed in one call: constituents of shape
``(..., n)`` and jets of shape ``(..., 4)``. Padded constituents (E == 0 and
|p| == 0) produce all-zero feature rows, like the padding in the real files.

Conventions (documented because the public files do not spell them out):

- ``eta`` is the pseudorapidity, ``phi`` in [-pi, pi) from atan2.
- ``phirel`` is phi - phi_jet wrapped to [-pi, pi).
- ``etarot`` / ``phirot``: (etarel, phirel) rotated by the angle of the jet's
  principal axis, i.e. the major eigenvector of the pT-weighted second-moment
  matrix of (etarel, phirel) about the jet axis, so the principal axis becomes
  the etarot axis. The 180-degree ambiguity is fixed by requiring a
  non-negative pT-weighted third moment (skewness) along etarot.
- ``costheta`` = pz / |p|; ``costhetarel`` = cosine of the opening angle between
  the constituent and the jet 3-momentum.
"""

from __future__ import annotations

import numpy as np

from jetdistill.data.layout import PARTICLE_FEATURES

#: Column index of each constituent feature in the (.., 16) output.
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(PARTICLE_FEATURES)}

#: Jet-level features returned by :func:`jet_features`, in order.
JET_LEVEL_FEATURES: tuple[str, ...] = ("j_pt", "j_eta", "j_mass", "j_multiplicity", "j_ptfrac")


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi) (the convention of ``j1_phirel``)."""
    return (np.asarray(dphi) + np.pi) % (2.0 * np.pi) - np.pi


def pt_eta_phi(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transverse momentum, pseudorapidity and azimuth; eta = 0 where pt == 0 (padding)."""
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(
            pt > 0, np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0)), 0.0
        )
    phi = np.arctan2(py, px)
    phi = np.where(phi >= np.pi, phi - 2 * np.pi, phi)
    return pt, eta, phi


def invariant_mass(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> np.ndarray:
    """sqrt(max(E^2 - p^2, 0)); tiny negative m^2 from rounding is clipped to 0."""
    m2 = np.asarray(e) ** 2 - np.asarray(px) ** 2 - np.asarray(py) ** 2 - np.asarray(pz) ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def principal_angle(etarel: np.ndarray, phirel: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Angle of the jet's principal axis in the (etarel, phirel) plane, shape (...,).

    Major axis of the weighted second-moment tensor about the jet axis; the sign
    is chosen so the weighted third moment along the axis is >= 0, which makes
    the rotated image unique (needed for reproducible ``etarot``/``phirot``).
    """
    sxx = np.sum(weight * etarel * etarel, axis=-1)
    syy = np.sum(weight * phirel * phirel, axis=-1)
    sxy = np.sum(weight * etarel * phirel, axis=-1)
    theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    proj = np.cos(theta)[..., None] * etarel + np.sin(theta)[..., None] * phirel
    skew = np.sum(weight * proj**3, axis=-1)
    return np.where(skew < 0, theta + np.pi, theta)


def constituent_features(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, jet_p4: np.ndarray
) -> np.ndarray:
    """The 16 hls4ml constituent features, shape (..., n, 16), float64.

    ``px, py, pz, e``: constituent four-momenta, shape (..., n), zero-padded.
    ``jet_p4``: (px, py, pz, E) of the jet, shape (..., 4); it is the full jet
    (all constituents), not only the stored ones, as in the hls4ml files.
    """
    px, py, pz, e = (np.asarray(a, dtype=np.float64) for a in (px, py, pz, e))
    jet = np.asarray(jet_p4, dtype=np.float64)
    if jet.shape[-1] != 4:
        raise ValueError(f"jet_p4 must have last axis 4 (px, py, pz, E), got shape {jet.shape}")
    jpx, jpy, jpz, je = (jet[..., k][..., None] for k in range(4))
    real = (e != 0) | (px != 0) | (py != 0) | (pz != 0)

    pt, eta, phi = pt_eta_phi(px, py, pz)
    jpt, jeta, jphi = pt_eta_phi(jpx, jpy, jpz)
    p = np.sqrt(px**2 + py**2 + pz**2)
    jp = np.sqrt(jpx**2 + jpy**2 + jpz**2)

    def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.broadcast_arrays(a, b)
        return np.divide(a, b, out=np.zeros(a.shape), where=b != 0)

    erel = safe_div(e, je)
    ptrel = safe_div(pt, jpt)
    etarel = np.where(real, eta - jeta, 0.0)
    phirel = np.where(real, wrap_phi(phi - jphi), 0.0)
    theta = principal_angle(etarel, phirel, np.where(real, pt, 0.0))[..., None]
    c, s = np.cos(theta), np.sin(theta)
    etarot = c * etarel + s * phirel
    phirot = -s * etarel + c * phirel
    delta_r = np.hypot(etarel, phirel)
    costheta = safe_div(pz, p)
    costhetarel = safe_div(px * jpx + py * jpy + pz * jpz, p * jp)

    cols = {
        "j1_px": px, "j1_py": py, "j1_pz": pz, "j1_e": e, "j1_erel": erel, "j1_pt": pt,
        "j1_ptrel": ptrel, "j1_eta": eta, "j1_etarel": etarel, "j1_etarot": etarot,
        "j1_phi": phi, "j1_phirel": phirel, "j1_phirot": phirot, "j1_deltaR": delta_r,
        "j1_costheta": costheta, "j1_costhetarel": costhetarel,
    }  # fmt: skip
    out = np.stack([np.broadcast_to(cols[name], px.shape) for name in PARTICLE_FEATURES], axis=-1)
    return np.where(real[..., None], out, 0.0)


def jet_p4_from_constituents(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """E-scheme jet four-momentum (sum of constituents), shape (..., 4)."""
    return np.stack(
        [np.sum(np.asarray(a, dtype=np.float64), axis=-1) for a in (px, py, pz, e)], axis=-1
    )


def jet_features(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    e: np.ndarray,
    ref_pt: np.ndarray | float | None = None,
) -> dict[str, np.ndarray]:
    """Jet-level features from zero-padded constituents (..., n): j_pt, j_eta, j_mass,
    j_multiplicity, j_ptfrac.

    ``j_ptfrac`` follows the hls4ml production code: pT of the jet built from
    the given particle content divided by the pT of the reference jet
    (``ref_pt``); for jets built from all particles (our case) it is 1.
    """
    px, py, pz, e = (np.asarray(a, dtype=np.float64) for a in (px, py, pz, e))
    jet = jet_p4_from_constituents(px, py, pz, e)
    pt, eta, _ = pt_eta_phi(jet[..., 0], jet[..., 1], jet[..., 2])
    mass = invariant_mass(jet[..., 0], jet[..., 1], jet[..., 2], jet[..., 3])
    mult = np.sum((e != 0) | (px != 0) | (py != 0) | (pz != 0), axis=-1).astype(np.float64)
    ref = pt if ref_pt is None else np.asarray(ref_pt, dtype=np.float64)
    ptfrac = np.divide(
        pt, ref, out=np.zeros(np.broadcast(pt, ref).shape), where=np.asarray(ref) != 0
    )
    return {"j_pt": pt, "j_eta": eta, "j_mass": mass, "j_multiplicity": mult, "j_ptfrac": ptfrac}
