"""Consistent augmented views of jets: symmetries applied to the constituents ("function
matching", Beyer et al. 2022, arXiv:2106.05237).

A distilled student matches its teacher better when both see the same *augmented* input: a
fixed cache of logits of fixed jets overfits. A jet's augmentation must be a symmetry of the
physics, and every feature a model reads must be recomputed from the transformed constituents
(a flipped ``etarel`` with an unflipped ``etarot`` or ``py`` would be a jet that cannot exist).

The transforms act on each constituent's position about the jet axis in (rapidity y, phi):

- ``eta_flip``: y - y_jet -> -(y - y_jet), i.e. a mirror z -> -z composed with a longitudinal
  boost by 2 y_jet: an exact Lorentz transformation (times a parity) that leaves the jet's
  four-momentum unchanged;
- ``phi_flip``: phi - phi_jet -> -(phi - phi_jet), a mirror y -> -y composed with an azimuthal
  rotation by 2 phi_jet: exact, the jet unchanged;
- ``rotate``: a rotation of (y - y_jet, phi - phi_jet) by an angle drawn uniformly in
  [0, 2 pi), the jet-image symmetry of a narrow jet (exact only in the small-angle limit;
  whether the teacher agrees is measured by benchmarks/bench_views.py);
- ``pt_smear`` (a number, 0 = off): each constituent's pT scaled by ``max(0, 1 + s N(0, 1))``.

Why rapidity and not the pseudorapidity of the ``etarel`` feature: reflecting pseudorapidity
is not a Lorentz transformation for massive constituents, and on the generated jets it moved
the jet mass by up to 12% (a soft proton far from the axis); the rapidity reflection keeps it
to float precision. Each constituent keeps its pT (unless smeared) and mass; the jet
four-momentum the relative features refer to is held fixed (the reference frame of the
transform: "the jet axis stays at 0"); with pT smearing it moves by the change of the
constituents' summed four-momentum. For a massless constituent y = eta, so distances between
constituents in (eta, phi) are kept; ``deltaR``, measured from the jet's *pseudo*rapidity,
changes by the jet's (y_jet - eta_jet) offset under a flip or rotation. Everything downstream
(constituent selection, log features, the view's fitted ``norm.json``) is the view's own code
path (:mod:`jetdistill.data.prepare`), so an augmented view is normalised with exactly the
normalisation of the view it augments (the identity transform reproduces the prepared view
file to float32 rounding).

Random draws are hashed from (seed, global jet index, view k, slot), so the teacher's and the
student's views of view k of a jet are the same transform whichever file, chunk or job
computes them: that is what makes the cached teacher logits consistent with the student's
input.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jetdistill.data.kinematics import constituent_features, wrap_phi
from jetdistill.data.layout import PARTICLE_FEATURES
from jetdistill.data.prepare import _splitmix64  # the hash that splits jets, reused for draws
from jetdistill.errors import InputError

log = logging.getLogger(__name__)

#: Names accepted in ``distillation.views.transforms``.
TRANSFORMS: tuple[str, ...] = ("eta_flip", "phi_flip", "rotate")


@dataclass(frozen=True)
class ViewsConfig:
    """Mirror of the config section ``distillation.views`` (``k = 0``: off)."""

    k: int = 0
    transforms: tuple[str, ...] = ("eta_flip", "phi_flip")
    pt_smear: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ViewsConfig:
        d = dict(d or {})
        where = "config: distillation.views"
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(where, f"keys among {sorted(cls.__dataclass_fields__)}", str(unknown))
        d["transforms"] = tuple(d.get("transforms", cls.transforms) or ())
        cfg = cls(**d)
        check_transforms(cfg.transforms, f"{where}.transforms")
        if cfg.k < 0:
            raise InputError(f"{where}.k", "an integer >= 0 (0 = no views)", str(cfg.k))
        if cfg.pt_smear < 0:
            raise InputError(
                f"{where}.pt_smear", ">= 0 (a relative pT resolution)", str(cfg.pt_smear)
            )
        if cfg.k > 0 and not cfg.transforms and cfg.pt_smear == 0:
            raise InputError(f"{where}", "at least one transform or pt_smear > 0 when k > 0",
                             "no transform")  # fmt: skip
        return cfg

    @property
    def enabled(self) -> bool:
        return self.k > 0


def check_transforms(names: Sequence[str], where: str) -> None:
    """InputError naming the nearest valid transform for an unknown name."""
    for name in names:
        if name not in TRANSFORMS:
            near = difflib.get_close_matches(str(name), TRANSFORMS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InputError(where, f"names among {list(TRANSFORMS)}", f"{name!r}{hint}")


# --------------------------------------------------------------------------- random draws
def hashed_uniform(
    seed: int, rows: np.ndarray, view: int, stream: int, slots: int = 1
) -> np.ndarray:
    """Uniform numbers in [0, 1), shape (len(rows), slots), a pure function of (seed, global
    jet index, view, stream, slot): independent of chunking and of which job asks."""
    rows = np.asarray(rows, dtype=np.uint64)
    key = (
        (np.uint64(seed & 0xFFFF) << np.uint64(48))
        ^ (np.uint64(view & 0xFF) << np.uint64(40))
        ^ (np.uint64(stream & 0xF) << np.uint64(36))
    )
    h = _splitmix64(
        key ^ (rows[:, None] << np.uint64(8)) ^ np.arange(slots, dtype=np.uint64)[None, :]
    )
    h = _splitmix64(h)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class JetTransforms:
    """Per-jet parameters of one view: eta/phi signs (+-1), rotation angle (rad), and the
    per-constituent pT scale (None: no smearing)."""

    eta_sign: np.ndarray
    phi_sign: np.ndarray
    angle: np.ndarray
    pt_scale: np.ndarray | None = None


def draw_transforms(cfg: ViewsConfig, rows: np.ndarray, view: int, n_slots: int) -> JetTransforms:
    """The transforms of view ``view`` (0-based) of the jets with global indices ``rows``.

    Each enabled flip is applied with probability 1/2, the rotation angle is uniform in
    [0, 2 pi); the pT scale is per constituent slot of the raw file (``n_slots``)."""
    rows = np.asarray(rows)
    n = len(rows)
    u = hashed_uniform(cfg.seed, rows, view, 0, 3)
    eta = np.where(u[:, 0] < 0.5, -1.0, 1.0) if "eta_flip" in cfg.transforms else np.ones(n)
    phi = np.where(u[:, 1] < 0.5, -1.0, 1.0) if "phi_flip" in cfg.transforms else np.ones(n)
    angle = 2 * np.pi * u[:, 2] if "rotate" in cfg.transforms else np.zeros(n)
    scale = None
    if cfg.pt_smear > 0:
        a = hashed_uniform(cfg.seed, rows, view, 1, n_slots)
        b = hashed_uniform(cfg.seed, rows, view, 2, n_slots)
        gauss = np.sqrt(-2.0 * np.log1p(-a)) * np.cos(2 * np.pi * b)  # Box-Muller
        scale = np.clip(1.0 + cfg.pt_smear * gauss, 0.0, None)
    return JetTransforms(eta, phi, angle, scale)


# --------------------------------------------------------------------------- the physics
def transform_relative(
    etarel: np.ndarray, phirel: np.ndarray, t: JetTransforms
) -> tuple[np.ndarray, np.ndarray]:
    """(etarel, phirel) (N, C) after the flips, then the rotation, of ``t`` (per jet)."""
    e = etarel * t.eta_sign[:, None]
    p = phirel * t.phi_sign[:, None]
    c, s = np.cos(t.angle)[:, None], np.sin(t.angle)[:, None]
    return c * e - s * p, s * e + c * p


def jet_reference(block: np.ndarray, col: Mapping[str, int]) -> np.ndarray:
    """The jet four-momentum (N, 4) the relative features of ``block`` refer to, read back
    from its leading constituent: pT / pT_rel, eta - eta_rel, phi - phi_rel, E / E_rel.
    (The stored constituents may not be the whole jet, so the jet is not their sum.)"""
    pt = block[..., col["j1_pt"]].astype(np.float64)
    lead = np.argmax(pt, axis=1)[:, None]

    def take(name: str) -> np.ndarray:
        return np.take_along_axis(block[..., col[name]].astype(np.float64), lead, axis=1)[:, 0]

    ptrel, erel = take("j1_ptrel"), take("j1_erel")
    jpt = np.divide(take("j1_pt"), ptrel, out=np.zeros(len(block)), where=ptrel > 0)
    je = np.divide(take("j1_e"), erel, out=np.zeros(len(block)), where=erel > 0)
    jeta = take("j1_eta") - take("j1_etarel")
    jphi = take("j1_phi") - take("j1_phirel")
    return np.stack([jpt * np.cos(jphi), jpt * np.sin(jphi), jpt * np.sinh(jeta), je], axis=-1)


def augment_constituents(
    block: np.ndarray, t: JetTransforms, features: Sequence[str] = PARTICLE_FEATURES
) -> np.ndarray:
    """Raw hls4ml constituents (N, C, F) of jets transformed by ``t``, every column recomputed.

    ``features`` names the columns of ``block`` (file order; all 16 layout features must be
    there). Padding (all-zero rows) stays all zero. Returns float32 in the same layout.
    """
    col = {name: i for i, name in enumerate(features)}
    missing = [f for f in PARTICLE_FEATURES if f not in col]
    if missing:
        raise InputError("augment_constituents: features", "all 16 hls4ml constituent features",
                         f"missing {missing}")  # fmt: skip
    block = np.asarray(block)
    occupied = np.flatnonzero(np.any(block != 0, axis=(0, 2)))
    width = int(occupied[-1]) + 1 if occupied.size else 1
    if width < block.shape[1]:  # all-zero trailing slots: compute on the occupied ones only
        out = np.zeros(block.shape, np.float32)
        scale = None if t.pt_scale is None else t.pt_scale[:, :width]
        out[:, :width] = augment_constituents(block[:, :width], JetTransforms(t.eta_sign, t.phi_sign,
                                              t.angle, scale), features)  # fmt: skip
        return out
    x = block.astype(np.float64)
    real = np.any(x != 0, axis=-1)
    jet = jet_reference(x, col)
    jphi = np.arctan2(jet[:, 1], jet[:, 0])

    px, py, pz, e = (x[..., col[k]] for k in ("j1_px", "j1_py", "j1_pz", "j1_e"))
    pt = x[..., col["j1_pt"]]
    mt = np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0.0, None) + pt**2)  # transverse mass
    m2 = mt**2 - pt**2
    y = np.arcsinh(np.divide(pz, mt, out=np.zeros_like(pz), where=mt > 0))
    jmt = np.sqrt(np.clip(jet[:, 3] ** 2 - jet[:, 2] ** 2, 0.0, None))
    jy = np.arcsinh(np.divide(jet[:, 2], jmt, out=np.zeros_like(jmt), where=jmt > 0))
    # flips and rotation act on (rapidity, phi) about the jet: a flip is then an exact Lorentz
    # transformation (z-mirror + boost, y-mirror + azimuthal rotation) that fixes the jet
    yrel, phirel = transform_relative(
        y - jy[:, None], wrap_phi(np.arctan2(py, px) - jphi[:, None]), t
    )
    rap = jy[:, None] + yrel
    phi = wrap_phi(jphi[:, None] + phirel)

    def p4(pt_: np.ndarray) -> tuple[np.ndarray, ...]:
        mt_ = np.sqrt(m2 + pt_**2)
        return pt_ * np.cos(phi), pt_ * np.sin(phi), mt_ * np.sinh(rap), mt_ * np.cosh(rap)

    geo = p4(pt)
    new = geo
    if t.pt_scale is not None:
        scale = t.pt_scale[:, : x.shape[1]]
        new = p4(pt * scale)
        delta = np.stack([np.sum(np.where(real, n - g, 0.0), axis=1) for n, g in zip(new, geo)], -1)
        jet = jet + delta
    npx, npy, npz, ne = (np.where(real, a, 0.0) for a in new)
    out = constituent_features(npx, npy, npz, ne, jet)  # (N, C, 16) in PARTICLE_FEATURES order
    order = [PARTICLE_FEATURES.index(name) for name in features]
    return out[..., order].astype(np.float32)


# --------------------------------------------------------------------------- views of a split
#: ``draw(rows, k, n_slots)``: the transforms of view ``k`` of the jets ``rows``.
Draw = Callable[[np.ndarray, int, int], JetTransforms]


@dataclass
class ViewReader:
    """A constituent view's code path (selection, log features, fitted normalisation) over
    the raw source, to build augmented copies of its split files."""

    source: Any
    select: Any
    center: np.ndarray
    scale: np.ndarray
    splits: dict[str, np.ndarray]
    n_constituents: int

    @classmethod
    def open(
        cls,
        splits_path: str | os.PathLike[str],
        view: Any,
        norm_path: str | os.PathLike[str],
        data_cfg: Mapping[str, Any] | None = None,
        view_name: str = "",
    ) -> ViewReader:
        from jetdistill.data.prepare import ViewConfig, _Selector, load_norm
        from jetdistill.data.sources import JetSource, open_source
        from jetdistill.data.splits import read_splits

        data_cfg = dict(data_cfg or {})
        if not isinstance(view, ViewConfig):  # a config entry, or norm.json's record of it
            view = ViewConfig.from_dict({k: v for k, v in view.items() if k != "name"}, view_name)
        if view.level != "constituent":
            raise InputError(f"config: views.{view_name}.level", "constituent (augmented views "
                             "recompute constituent features)", repr(view.level))  # fmt: skip
        splits, _, attrs = read_splits(splits_path)
        seed = int((data_cfg.get("splits") or {}).get("seed", attrs.get("seed", 0)))
        src = open_source(str(attrs["source"]), attrs["files"], data_cfg)
        if not isinstance(src, JetSource):
            raise InputError(
                "distillation.views", "a jet source (generate or hls4ml)", "generic data"
            )
        select = _Selector(src, view, seed)
        norm = load_norm(norm_path)
        if list(norm["features"]) != list(select.features):
            raise InputError(f"{norm_path}: features", f"{select.features}", str(norm["features"]))
        return cls(src, select, norm["center"], norm["scale"], splits, view.n_constituents)

    def views(self, split: str, draw: Draw, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X (k, N, n, F) float32, rows (N,))``: ``k`` transformed copies of ``split``,
        normalised with the view's fitted ``norm.json`` (never refitted on augmented jets)."""
        from jetdistill.data.prepare import normalise

        rows = np.asarray(self.splits[split])
        names = self.source.feature_names()
        out = np.zeros((k, len(rows), self.n_constituents, len(self.select.features)), np.float32)
        pos = 0
        for g, block in self.source.iter_chunks(rows):
            for v in range(k):
                aug = augment_constituents(block, draw(g, v, block.shape[1]), names)
                x, mask = self.select(aug, g)
                out[v, pos : pos + len(g)] = normalise(x, self.center, self.scale, mask)
            pos += len(g)
        if pos != len(rows):
            raise RuntimeError(f"split {split}: augmented {pos} of {len(rows)} jets")
        return out, rows


def augmented_split(
    splits_path: str | os.PathLike[str],
    view: Any,
    norm_path: str | os.PathLike[str],
    split: str,
    cfg: ViewsConfig,
    *,
    data_cfg: Mapping[str, Any] | None = None,
    view_name: str = "",
    expected_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``cfg.k`` augmented copies of one prepared split of a constituent view:
    ``(X (K, N, n, F) float32, index (N,))`` in the split file's jet order, selected,
    log-transformed and normalised exactly as rule ``prepare_view`` does with the view's
    fitted ``norm.json``.

    ``expected_index``: the split file's jet index, checked against the jets read.
    """
    reader = ViewReader.open(splits_path, view, norm_path, data_cfg, view_name)
    rows = reader.splits[split]
    if expected_index is not None and not np.array_equal(np.asarray(expected_index), rows):
        raise InputError(f"split {split!r} of view {view_name!r}", "the jets of splits.h5",
                         "a different jet order (re-run prepare_view)")  # fmt: skip
    out, rows = reader.views(split, lambda g, v, n: draw_transforms(cfg, g, v, n), cfg.k)
    log.info("augmented %s/%s: %d views x %d jets (%s)", view_name, split, cfg.k, len(rows),
             ", ".join(cfg.transforms) + (f", pt_smear {cfg.pt_smear}" if cfg.pt_smear else ""))  # fmt: skip
    return out, rows


# --------------------------------------------------------------------------- files
def _views_text(views: Mapping[str, Any]) -> str:
    return json.dumps(dict(views), sort_keys=True)


def augment_view_file(
    splits_path: str | os.PathLike[str],
    view: Any,
    norm_path: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    views: Mapping[str, Any],
    *,
    split: str = "transfer",
    data_cfg: Mapping[str, Any] | None = None,
    view_name: str = "",
) -> dict[str, Any]:
    """The ``augment_view`` rule: the ``k`` augmented copies of one prepared split file.

    File layout (``R/data/augmented/{view}/{split}.h5``)::

        /X      (K, N, n, F) float32  view k of every jet, normalised with the view's norm.json
        /index  (N,) int64            global jet index, the order of the split file
        attrs: views (JSON of distillation.views), view, split, features (JSON)
    """
    import h5py

    from jetdistill.data.prepare import load_split
    from jetdistill.io import atomic_path

    cfg = ViewsConfig.from_dict(views)
    _, _, index, attrs = load_split(split_path)
    x, rows = augmented_split(splits_path, view, norm_path, split, cfg, data_cfg=data_cfg,
                              view_name=view_name, expected_index=index)  # fmt: skip
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("X", data=x, chunks=(1, min(1024, x.shape[1]), *x.shape[2:]))
        f.create_dataset("index", data=rows.astype(np.int64))
        f.attrs["views"] = _views_text(views)
        f.attrs["view"] = view_name
        f.attrs["split"] = split
        f.attrs["features"] = json.dumps(list(attrs.get("features", [])))
    return {"views": cfg.k, "jets": len(rows)}


def load_augmented(
    path: str | os.PathLike[str], expected_index: Any, views: Mapping[str, Any]
) -> np.ndarray:
    """The augmented copies (K, N, ...) of a split, checked to be of the same jets in the
    same order (``expected_index``) and of the same ``views`` settings as the teacher's
    cached view logits, so that input and teacher logits always describe one view."""
    import h5py

    with h5py.File(path, "r") as f:
        index = f["index"][()]
        if not np.array_equal(index, np.asarray(expected_index)):
            raise InputError(f"{path}:/index", "the jets of the student's split file, in order",
                             "a different jet order (re-run augment_view)")  # fmt: skip
        recorded = json.loads(f.attrs.get("views", "{}"))
        if recorded != json.loads(_views_text(views)):
            raise InputError(
                f"{path}: attrs views", f"the job's views {dict(views)}", str(recorded)
            )
        return f["X"][()]
