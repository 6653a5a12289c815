"""Views: constituent selection + robust normalisation, written once per split.

A *view* is what a model sees: the first ``n_constituents`` constituents (after
an optional constituent-pT cut), a subset of the 16 features, pT-ordered or
shuffled. Preparing it once per split keeps training jobs cheap and makes every
model of a view see byte-identical inputs.

Normalisation is a choice per view (``views.NAME.normalisation``):

- ``robust``: (x - median) / inter-quantile range (default 25-75%), the default for jets,
  because constituent features have heavy tails (pT, E) that would dominate a mean/std fit;
- ``standard``: (x - mean) / std, the default for generic data (pixels, tabular features);
- ``minmax``: (x - min) / (max - min), to [0, 1] on the fit data;
- ``none``: the raw values.

Every method is ``(x - center) / scale``. A feature whose scale is ~0 (zero IQR, zero
variance, constant) is only centred (scale 1): dividing by ~0 would blow up the few values
that differ (a pixel that is blank in 3/4 of the images has zero IQR), so such a feature
keeps the spread of its raw values. "~0" is relative: scale <= 1e-6 x the feature's largest
|value| (or exactly 0). Parameters are fitted on REAL constituents of ``teacher_train`` only
(zero padding would drag the median to 0, and fitting on test data would leak), and padded
entries stay exactly 0 after normalisation so that models and the FPGA student can rely on
zero meaning "no particle".

Everything is streamed: sources are read in chunks and the four split files
are appended chunk by chunk, so the real 880k-jet sample never sits in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from jetdistill.data.sources import JetSource, Source, jet_level_source, open_source
from jetdistill.data.splits import SPLITS, read_splits
from jetdistill.errors import InputError
from jetdistill.io import atomic_path, write_json

log = logging.getLogger(__name__)

DEFAULT_QUANTILES: tuple[float, float] = (0.25, 0.75)
_MAX_FIT_ENTRIES = 4_000_000
#: ``views.NAME.normalisation`` choices; ``auto`` is ``robust`` for jets, ``standard`` for generic data.
NORMALISATIONS: tuple[str, ...] = ("auto", "robust", "standard", "minmax", "none")
#: A scale at or below this fraction of the feature's largest |value| counts as zero (only centred).
ZERO_SCALE_RTOL = 1e-6


@dataclass(frozen=True)
class ViewConfig:
    """Mirror of one entry of the config section ``views``."""

    features: tuple[str, ...]
    n_constituents: int = 16
    order: str = "pt"
    min_pt: float = 0.0
    # features replaced by their natural log before normalisation (pT-like, long-tailed ones:
    # log pT_rel is compact, which a few-bit fixed-point input quantiser needs)
    log_features: tuple[str, ...] = ()
    # "constituent": features of the first n_constituents particles (jetConstituentList);
    # "jet": columns of the jet-level dataset `jets` (j_mass, j_mass_mmdt, ...), one row per jet
    level: str = "constituent"
    normalisation: str = "auto"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "") -> ViewConfig:
        d = dict(d)
        where = f"config: views.{name}" if name else "config: view"
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(where, f"keys among {sorted(cls.__dataclass_fields__)}", str(unknown))
        # generic data ignore `features` (every column is used); jet views need them (checked
        # by plan.check_config and when the view is prepared)
        d["features"] = tuple(d.get("features") or ())
        d["log_features"] = tuple(d.get("log_features") or ())
        cfg = cls(**d)
        stray = [f for f in cfg.log_features if f not in cfg.features]
        if stray:
            raise InputError(f"{where}.log_features", f"names among features {list(cfg.features)}",
                             str(stray))  # fmt: skip
        if cfg.level not in ("constituent", "jet"):
            raise InputError(f"{where}.level", "constituent or jet", repr(cfg.level))
        if cfg.normalisation not in NORMALISATIONS:
            raise InputError(f"{where}.normalisation", f"one of {list(NORMALISATIONS)}",
                             repr(cfg.normalisation))  # fmt: skip
        if cfg.order not in ("pt", "shuffled"):
            raise InputError(f"{where}.order", "pt or shuffled", repr(cfg.order))
        if cfg.n_constituents < 1:
            raise InputError(f"{where}.n_constituents", ">= 1", str(cfg.n_constituents))
        if cfg.min_pt < 0:
            raise InputError(f"{where}.min_pt", ">= 0", str(cfg.min_pt))
        return cfg


# --------------------------------------------------------------------------- pure helpers
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorised SplitMix64 hash: deterministic per-(seed, jet, slot) random numbers that do
    not depend on how the data are chunked."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def select_constituents(
    block: np.ndarray,
    columns: Sequence[int],
    n_constituents: int,
    *,
    pt_column: int | None = None,
    min_pt: float = 0.0,
    order: str = "pt",
    seed: int = 0,
    global_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Select constituents of a block of jets (k, C, F_all) -> (X (k, n, F) float32, mask (k, n) bool).

    Real constituents are rows that are not all zero; those with pT below
    ``min_pt`` are dropped, the rest sorted by decreasing pT and the first
    ``n_constituents`` kept (zero-padded). ``order='shuffled'`` then permutes
    the kept real constituents of each jet with keys hashed from (seed, global
    row, slot), so the result does not depend on chunking; padding stays last.
    """
    block = np.asarray(block, dtype=np.float32)
    k, c, _ = block.shape
    real = np.any(block != 0, axis=-1)
    if pt_column is not None:
        pt = block[..., pt_column].astype(np.float64)
        keep = real & (pt >= min_pt)
        key = np.where(keep, -pt, np.inf)
    else:
        keep = real
        key = np.where(keep, np.arange(c)[None, :], np.inf)
    idx = np.argsort(key, axis=1, kind="stable")[:, :n_constituents]
    mask = np.take_along_axis(keep, idx, axis=1)
    if order == "shuffled":
        rows = np.arange(k) if global_rows is None else np.asarray(global_rows)
        slots = np.arange(idx.shape[1])
        h = _splitmix64((np.uint64(seed) << np.uint64(40)) ^ (rows.astype(np.uint64)[:, None] << np.uint64(8))
                        ^ slots.astype(np.uint64)[None, :])  # fmt: skip
        rkey = np.where(mask, (h >> np.uint64(11)).astype(np.float64), np.inf)
        perm = np.argsort(rkey, axis=1, kind="stable")
        idx = np.take_along_axis(idx, perm, axis=1)
        mask = np.take_along_axis(mask, perm, axis=1)
    x = np.take_along_axis(block, idx[..., None], axis=1)[..., list(columns)]
    if x.shape[1] < n_constituents:  # fewer stored constituents than requested
        pad = np.zeros((k, n_constituents - x.shape[1], x.shape[2]), np.float32)
        x = np.concatenate([x, pad], axis=1)
        mask = np.concatenate([mask, np.zeros((k, pad.shape[1]), bool)], axis=1)
    x[~mask] = 0.0
    return x.astype(np.float32), mask


def fit_robust(
    values: np.ndarray, quantiles: tuple[float, float] = DEFAULT_QUANTILES
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and inter-quantile range of ``values`` (m, F); a ~zero range becomes 1
    (such a feature is only centred, never divided by ~0; see :func:`fit_scaling`)."""
    center, scale, _ = fit_scaling(values, "robust", quantiles)
    return center, scale


def _check_fit_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise InputError(
            "teacher_train split", "at least one real constituent to fit the normalisation", "none"
        )
    return values


def zero_scale(scale: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which columns have a ~zero scale: ``scale <= ZERO_SCALE_RTOL * max|value|`` (or 0)."""
    amplitude = np.max(np.abs(values), axis=0)
    return ~(scale > ZERO_SCALE_RTOL * amplitude) | ~(scale > 0)


def fit_scaling(
    values: np.ndarray, method: str, quantiles: tuple[float, float] = DEFAULT_QUANTILES
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit ``(center, scale, stats)`` of one normalisation method on ``values`` (m, F).

    ``stats`` holds the method's own statistics for ``norm.json`` (``median``/``iqr``,
    ``mean``/``std``, ``min``/``max``), with ``iqr``/``std`` after the zero-scale fallback so
    that ``(x - median) / iqr`` is exactly what was applied, and ``centred_only``, the
    indices of the columns whose scale is ~zero (:func:`zero_scale`): they get scale 1, i.e.
    they are centred, never divided by ~0.
    """
    values = _check_fit_values(values)
    n_feat = values.shape[1]
    if method == "robust":
        center = np.median(values, axis=0)
        lo, hi = np.quantile(values, quantiles, axis=0)
        scale = hi - lo
    elif method == "standard":
        center, scale = values.mean(axis=0), values.std(axis=0)
    elif method == "minmax":
        center = values.min(axis=0)
        scale = values.max(axis=0) - center
    elif method == "none":
        center, scale = np.zeros(n_feat), np.ones(n_feat)
    else:
        raise InputError("views.normalisation", f"one of {list(NORMALISATIONS[1:])}", repr(method))
    zero = zero_scale(scale, values) if method != "none" else np.zeros(n_feat, bool)
    scale = np.where(zero, 1.0, scale)
    keys = {"robust": ("median", "iqr"), "standard": ("mean", "std"),
            "minmax": ("min", "range"), "none": ("center", "scale")}[method]  # fmt: skip
    stats: dict[str, Any] = {keys[0]: center.tolist(), keys[1]: scale.tolist(),
                             "centred_only": np.flatnonzero(zero).tolist()}  # fmt: skip
    return center, scale, stats


def resolve_normalisation(method: str, is_jet: bool) -> str:
    """``auto`` -> ``robust`` for jet views (constituent or jet level), ``standard`` for generic data."""
    if method != "auto":
        return method
    return "robust" if is_jet else "standard"


def normalise(
    x: np.ndarray, center: np.ndarray, scale: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """(x - center) / scale on the last axis (center/scale of any method, e.g. median/IQR);
    entries outside ``mask`` (padding) are exactly 0."""
    out = ((np.asarray(x, dtype=np.float64) - center) / scale).astype(np.float32)
    if mask is not None:
        out[~mask] = 0.0
    return out


def denormalise(
    x: np.ndarray, center: np.ndarray, scale: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`normalise` (padding stays 0)."""
    out = (np.asarray(x, dtype=np.float64) * scale + center).astype(np.float32)
    if mask is not None:
        out[~mask] = 0.0
    return out


def log_feature(x: np.ndarray, mask: np.ndarray, column: int, name: str) -> np.ndarray:
    """``x`` with column ``column`` replaced by its natural log on real entries (``mask``);
    padding stays 0. A non-positive real value has no log: that is an input error."""
    v = x[..., column]
    bad = mask & ~(v > 0)
    if bad.any():
        raise InputError(
            f"views.log_features: {name}",
            "positive values on every real constituent",
            f"{int(bad.sum())} values <= 0 (min {float(v[mask].min()):.3g})",
        )
    out = x.copy()
    out[..., column] = np.where(mask, np.log(np.where(mask, v, 1.0)), 0.0)
    return out


# --------------------------------------------------------------------------- view selection
@dataclass
class _Selector:
    """Turns a raw source block into (X, mask) for one view."""

    source: Source
    view: ViewConfig
    seed: int

    def __post_init__(self) -> None:
        self.is_jet = isinstance(self.source, JetSource)
        if self.is_jet:
            src = self.source
            assert isinstance(src, JetSource)
            if not self.view.features:
                raise InputError(
                    "config: views.features", "a non-empty list of constituent feature names",
                    "none (only generic data may omit them)",
                )  # fmt: skip
            self.columns = src.feature_columns(self.view.features)
            self.pt_column = (
                src.feature_columns(["j1_pt"])[0] if "j1_pt" in src.particle_names else None
            )
            if self.view.min_pt > 0 and self.pt_column is None:
                raise InputError(
                    f"{src.files[0]}: particleFeatureNames",
                    "a j1_pt column for views.min_pt > 0",
                    "missing",
                )
            self.features = list(self.view.features)
        else:
            self.features = self.source.feature_names()
        stray = [f for f in self.view.log_features if f not in self.features]
        if stray:
            raise InputError(
                "config: views.log_features", f"names among {self.features}", str(stray)
            )

    def __call__(self, block: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.is_jet:
            x, mask = block.astype(np.float32), np.ones(block.shape[:-1], bool)
        else:
            x, mask = select_constituents(
                block, self.columns, self.view.n_constituents, pt_column=self.pt_column,
                min_pt=self.view.min_pt, order=self.view.order, seed=self.seed, global_rows=rows,
            )  # fmt: skip
        for name in self.view.log_features:
            x = log_feature(x, mask, self.features.index(name), name)
        return x, mask


def fit_normalisation(
    source: Source,
    select: _Selector,
    rows: np.ndarray,
    quantiles: tuple[float, float],
    max_jets: int,
    seed: int,
    method: str = "robust",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], int]:
    """Fit ``method`` (:func:`fit_scaling`) on real entries of (a seeded subsample of up to
    ``max_jets``) ``rows``; returns ``(center, scale, stats, n_jets_used)``."""
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows)
    if max_jets and len(rows) > max_jets:
        rows = np.sort(rng.choice(rows, size=max_jets, replace=False))
    per_jet = (
        select.view.n_constituents
        if select.is_jet
        else int(np.prod(source.sample_shape()[:-1] or (1,)))
    )
    keep_p = min(1.0, _MAX_FIT_ENTRIES / max(1, len(rows) * per_jet))
    vals = []
    for g, block in source.iter_chunks(rows):
        x, mask = select(block, g)
        v = x[mask]
        if keep_p < 1.0:
            v = v[rng.random(len(v)) < keep_p]
        vals.append(v.reshape(-1, x.shape[-1]))
    values = np.concatenate(vals) if vals else np.zeros((0, len(select.features)))
    if not len(values):
        files = ", ".join(source.files[:3]) + (" ..." if len(source.files) > 3 else "")
        cut = f" with pT >= views.min_pt = {select.view.min_pt:g}" if select.view.min_pt else ""
        raise InputError(
            f"{files}: dataset '{source.sample_key}' ({len(rows)} teacher_train jets)",
            f"at least one real constituent{cut} to fit the normalisation",
            "none (every constituent of these jets is zero"
            + (" or below the cut)" if cut else ")"),
        )
    center, scale, stats = fit_scaling(values, method, quantiles)
    stats["centred_only"] = [select.features[i] for i in stats.pop("centred_only")]
    if stats["centred_only"]:
        log.warning("normalisation %s: %d feature(s) with ~zero scale are only centred: %s",
                    method, len(stats["centred_only"]), stats["centred_only"][:20])  # fmt: skip
    return center, scale, stats, len(rows)


# --------------------------------------------------------------------------- main entry
def prepare_view(
    splits_path: str | os.PathLike[str],
    view: ViewConfig | Mapping[str, Any],
    outputs: Mapping[str, str | os.PathLike[str]],
    norm_path: str | os.PathLike[str],
    data_cfg: Mapping[str, Any] | None = None,
    *,
    view_name: str = "",
    seed: int | None = None,
    quantiles: tuple[float, float] = DEFAULT_QUANTILES,
) -> dict[str, Any]:
    """The ``prepare_view`` rule: select the view, fit the normalisation on teacher_train,
    write ``norm.json`` and the four split files (format in docs/ARCHITECTURE.md).

    ``outputs``: split name -> path for teacher_train, transfer, val, test.
    ``data_cfg``: the config ``data`` section (chunk_size, norm_fit_max_jets, generic.*).
    ``seed``: for the norm subsample and shuffled order (default data.splits.seed).
    """
    data_cfg = dict(data_cfg or {})
    if not isinstance(view, ViewConfig):
        view = ViewConfig.from_dict(view, view_name)
    missing = [s for s in SPLITS if s not in outputs]
    if missing:
        raise InputError(
            "prepare_view outputs", f"a path for each split {list(SPLITS)}", f"missing {missing}"
        )
    splits, labels, attrs = read_splits(splits_path)
    if seed is None:
        seed = int((data_cfg.get("splits") or {}).get("seed", attrs.get("seed", 0)))
    src = open_source(str(attrs["source"]), attrs["files"], data_cfg)
    if view.level == "jet":
        src = jet_level_source(src, view.features)
    if src.n_jets != len(labels):
        raise InputError(
            f"{splits_path}: labels",
            f"{src.n_jets} jets as in the source files (re-run split_data)",
            str(len(labels)),
        )
    if isinstance(src, JetSource) and view.n_constituents > src.shape[0]:
        raise InputError(
            f"config: views.{view_name}.n_constituents",
            f"<= {src.shape[0]} stored constituents",
            str(view.n_constituents),
        )
    select = _Selector(src, view, seed)
    max_fit = int(data_cfg.get("norm_fit_max_jets") or 200_000)
    # jet-level columns (masses, multiplicity) are heavy-tailed physics quantities too: robust
    method = resolve_normalisation(view.normalisation, select.is_jet or view.level == "jet")
    center, scale, stats, n_fit = fit_normalisation(
        src, select, splits["teacher_train"], quantiles, max_fit, seed, method
    )
    view_attrs = {"name": view_name, **asdict(view)}
    view_attrs["features"] = list(view.features)
    norm = {
        "features": select.features, "method": method, "center": center.tolist(),
        "scale": scale.tolist(), **stats, "n_fit_jets": n_fit, "view": view_attrs,
    }  # fmt: skip
    if method == "robust":
        norm["quantiles"] = list(quantiles)
    all_rows = np.unique(np.concatenate([splits[s] for s in SPLITS]))
    class_names = list(attrs["class_names"])
    with contextlib.ExitStack() as stack:
        files: dict[str, h5py.File] = {}
        for s in SPLITS:
            tmp = stack.enter_context(atomic_path(outputs[s]))
            f = stack.enter_context(h5py.File(tmp, "w"))
            sample = (
                (view.n_constituents, len(select.features)) if select.is_jet else src.sample_shape()
            )
            chunk = (max(1, min(1024, len(splits[s]))), *sample)
            f.create_dataset(
                "X", shape=(0, *sample), maxshape=(None, *sample), dtype="f4", chunks=chunk
            )
            f.create_dataset("y", shape=(0,), maxshape=(None,), dtype="i8", chunks=(chunk[0],))
            f.create_dataset("index", shape=(0,), maxshape=(None,), dtype="i8", chunks=(chunk[0],))
            f.attrs["features"] = json.dumps(select.features)
            f.attrs["class_names"] = json.dumps(class_names)
            f.attrs["view"] = json.dumps(view_attrs)
            f.attrs["split"] = s
            files[s] = f
        for g, block in src.iter_chunks(all_rows):
            x, mask = select(block, g)
            xn = normalise(x, center, scale, mask)
            for s in SPLITS:
                pos = np.searchsorted(splits[s], g)
                pos = np.minimum(pos, max(len(splits[s]) - 1, 0))
                inside = splits[s][pos] == g if len(splits[s]) else np.zeros(len(g), bool)
                if not inside.any():
                    continue
                f = files[s]
                n0, k = f["y"].shape[0], int(inside.sum())
                for key, val in (("X", xn[inside]), ("y", labels[g[inside]]), ("index", g[inside])):
                    f[key].resize(n0 + k, axis=0)
                    f[key][n0 : n0 + k] = val
        for s in SPLITS:
            if files[s]["y"].shape[0] != len(splits[s]):
                raise RuntimeError(
                    f"split {s}: wrote {files[s]['y'].shape[0]} of {len(splits[s])} jets"
                )
        write_json(norm_path, norm)
    sizes = {s: len(splits[s]) for s in SPLITS}
    log.info(
        "view %s: %s x %s, norm fitted on %d jets; splits %s",
        view_name,
        select.features,
        view.n_constituents,
        n_fit,
        sizes,
    )
    return {
        "sizes": sizes,
        "features": select.features,
        "n_fit_jets": n_fit,
        "norm_path": str(Path(norm_path)),
    }


def load_split(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """(X float32, y int64, index int64, attrs) of a prepared split file; JSON attrs decoded."""
    if not os.path.exists(path):
        raise InputError(
            str(path), "an existing prepared split file (rule prepare_view)", "missing file"
        )
    with h5py.File(path, "r") as f:
        for key in ("X", "y", "index"):
            if key not in f:
                raise InputError(
                    f"{path}: dataset '{key}'", "datasets X, y, index", f"{sorted(f.keys())}"
                )
        x = f["X"][...].astype(np.float32)
        y = f["y"][...].astype(np.int64)
        index = f["index"][...].astype(np.int64)
        attrs: dict[str, Any] = {}
        for k, v in f.attrs.items():
            if isinstance(v, bytes):
                v = v.decode()
            if k in ("features", "class_names", "view") and isinstance(v, str):
                v = json.loads(v)
            attrs[k] = v
    return x, y, index, attrs


def load_norm(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The norm.json of a view, with its numeric lists (``center``/``scale`` and the method's
    own ``median``/``iqr``, ``mean``/``std`` or ``min``/``range``) as float64 arrays.

    A norm.json written before the normalisation became a choice (robust only, no
    ``center``/``scale``) reads as ``method: robust``.
    """
    d = json.loads(Path(path).read_text())
    if "center" not in d:
        d.update(method="robust", center=d["median"], scale=d["iqr"])
    for key in ("center", "scale", "median", "iqr", "mean", "std", "min", "range"):
        if key in d:
            d[key] = np.asarray(d[key], dtype=np.float64)
    return d


# --------------------------------------------------------------------------- unlabelled jets
def unlabelled_rows(
    labels: np.ndarray,
    transfer_labels: np.ndarray,
    multiple: float,
    n_classes: int,
    *,
    per_class: bool,
    seed: int,
) -> np.ndarray:
    """Sorted rows of the unlabelled source the students get: ``multiple`` x the transfer set.

    ``per_class`` (generated shards, one class each): of class ``k`` the first
    ``multiple * n_transfer_k`` (rounded half up) rows in file order, i.e. the transfer set's class
    mix, as the generator makes it; no label of a chosen jet is read to choose it beyond
    its shard's class. Otherwise (files the user gives, whose labels a real unlabelled set
    would not have): ``multiple * n_transfer`` rows of a permutation seeded by
    ``seed``, whatever their labels. Either way a larger ``multiple`` keeps the rows of a
    smaller one (the sets are nested), and too few jets is an InputError.
    """
    counts = np.bincount(np.asarray(transfer_labels, np.int64), minlength=n_classes)
    if per_class:
        rows = []
        for k in range(n_classes):
            want = math.floor(multiple * counts[k] + 0.5)  # half up
            have = np.flatnonzero(labels == k)
            if want > len(have):
                raise InputError(
                    "distillation.unlabelled.multiple",
                    f"at most the {len(have)} unlabelled jets of class {k} generated",
                    f"{multiple:g} x {counts[k]} transfer jets = {want}",
                )
            rows.append(have[:want])
        return np.sort(np.concatenate(rows)).astype(np.int64)
    want = math.floor(multiple * counts.sum() + 0.5)
    if want > len(labels):
        raise InputError(
            "distillation.unlabelled.files",
            f"at least {want} jets ({multiple:g} x {counts.sum()} transfer jets)",
            f"{len(labels)} jets in the files",
        )
    perm = np.random.default_rng(seed).permutation(len(labels))
    return np.sort(perm[:want]).astype(np.int64)


def prepare_unlabelled_view(
    splits_path: str | os.PathLike[str],
    files: Sequence[str],
    view: ViewConfig | Mapping[str, Any],
    norm_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    data_cfg: Mapping[str, Any],
    *,
    multiple: float,
    view_name: str = "",
    seed: int | None = None,
) -> dict[str, Any]:
    """The ``prepare_unlabelled_view`` rule: the students' unlabelled transfer jets in one view.

    Why a rule of its own: the jets come from their own files (generated shards of another
    seed stream, or files the user gives), so the labelled splits, their views and every job
    built on them stay as they are. The view's selection is the same and its normalisation
    is the one ``prepare_view`` fitted on teacher_train (``norm_path``, read, never refitted):
    a student must see its unlabelled jets on the scale of its labelled ones.

    The file has the layout of a split file (``X``, ``y``, ``index``; ``split`` attr
    ``unlabelled``). ``y`` holds the files' truth labels, which only the solo-on-all upper
    reference reads; ``index`` continues the labelled jets' global index (``n_labelled +
    row``), so no unlabelled jet can be mistaken for a labelled one.
    """
    data_cfg = dict(data_cfg or {})
    if not isinstance(view, ViewConfig):
        view = ViewConfig.from_dict(view, view_name)
    splits, labels, attrs = read_splits(splits_path)
    if seed is None:
        seed = int((data_cfg.get("splits") or {}).get("seed", attrs.get("seed", 0)))
    kind = str(attrs["source"])
    src = open_source(kind, files, data_cfg)
    if list(src.class_names) != list(attrs["class_names"]):
        raise InputError(
            "distillation.unlabelled files: class names",
            f"the labelled data's {list(attrs['class_names'])}",
            str(list(src.class_names)),
        )
    overlap = sorted(
        {os.path.realpath(f) for f in files} & {os.path.realpath(f) for f in attrs["files"]}
    )
    if overlap:
        raise InputError(
            "distillation.unlabelled files", "files that are not the labelled data's", str(overlap)
        )
    y_all = src.labels()
    rows = unlabelled_rows(
        y_all, labels[splits["transfer"]], multiple, len(src.class_names),
        per_class=kind == "generate", seed=seed,
    )  # fmt: skip
    if view.level == "jet":
        src = jet_level_source(src, view.features)
    select = _Selector(src, view, seed)
    norm = load_norm(norm_path)
    if list(norm["features"]) != list(select.features):
        raise InputError(
            f"{norm_path}: features",
            f"the view's features {select.features}",
            str(norm["features"]),
        )
    offset = len(labels)
    sample = (view.n_constituents, len(select.features)) if select.is_jet else src.sample_shape()
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        n = len(rows)
        chunk = (max(1, min(1024, n)), *sample)
        ds_x = f.create_dataset("X", shape=(n, *sample), dtype="f4", chunks=chunk)
        f.create_dataset("y", data=y_all[rows].astype(np.int64))
        f.create_dataset("index", data=(rows + offset).astype(np.int64))
        f.attrs["features"] = json.dumps(select.features)
        f.attrs["class_names"] = json.dumps(list(attrs["class_names"]))
        f.attrs["view"] = json.dumps({"name": view_name, **asdict(view)})
        f.attrs["split"] = "unlabelled"
        f.attrs["multiple"] = float(multiple)
        f.attrs["n_labelled_jets"] = offset
        pos = 0
        for g, block in src.iter_chunks(rows):
            x, mask = select(block, g + offset)
            ds_x[pos : pos + len(g)] = normalise(x, norm["center"], norm["scale"], mask)
            pos += len(g)
        if pos != n:
            raise RuntimeError(f"unlabelled view {view_name}: wrote {pos} of {n} jets")
    log.info("unlabelled view %s: %d jets (%g x %d transfer jets), index from %d",
             view_name, len(rows), multiple, len(splits["transfer"]), offset)  # fmt: skip
    return {"n": len(rows), "offset": offset}
