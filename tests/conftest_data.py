"""Helpers that write tiny hls4ml-layout and generic HDF5 files for tests.

The synthetic jets are physically consistent (constituent features computed by
``jetdistill.data.kinematics`` from random four-momenta around a jet axis) but carry
a class-dependent multiplicity and pT spread, so a class signal exists. They
are imported by ``tests/conftest.py`` (fixtures) and by the data-layer tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from jetdistill.data.kinematics import constituent_features, jet_p4_from_constituents
from jetdistill.data.layout import (
    CLASS_NAMES,
    DS_CONSTITUENTS,
    DS_JET_NAMES,
    DS_JETS,
    DS_PARTICLE_NAMES,
    JET_FEATURES,
    LABEL_COLUMNS,
    MAX_CONSTITUENTS,
    PARTICLE_FEATURE_NAMES,
)


def synthetic_jets(
    n_per_class: int,
    classes: Sequence[str] = CLASS_NAMES,
    *,
    max_constituents: int = MAX_CONSTITUENTS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(constituents (N, C, 16) float64 zero-padded pT-ordered, jets (N, 59) float64 with one-hot labels)."""
    rng = np.random.default_rng(seed)
    cons_all, jets_all = [], []
    for cls in classes:
        k = CLASS_NAMES.index(cls)
        for _ in range(n_per_class):
            m = int(np.clip(rng.poisson(8 + 4 * k), 2, max_constituents))
            pt = np.sort(rng.exponential(50.0 + 20 * k, m))[::-1] + 1.0
            eta0, phi0 = rng.uniform(-1.5, 1.5), rng.uniform(-np.pi, np.pi)
            eta = eta0 + rng.normal(0, 0.1 + 0.05 * k, m)
            phi = phi0 + rng.normal(0, 0.1 + 0.05 * k, m)
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            e = np.sqrt(px**2 + py**2 + pz**2)
            pad = np.zeros((4, max_constituents))
            pad[:, :m] = px, py, pz, e
            jet = jet_p4_from_constituents(px, py, pz, e)
            cons_all.append(constituent_features(*pad, jet))
            row = np.full(len(JET_FEATURES), np.nan)
            for c in (*LABEL_COLUMNS, "j_undef"):
                row[JET_FEATURES.index(c)] = 0.0
            row[JET_FEATURES.index(LABEL_COLUMNS[k])] = 1.0
            row[JET_FEATURES.index("j_pt")] = np.hypot(jet[0], jet[1])
            row[JET_FEATURES.index("j_multiplicity")] = m
            jets_all.append(row)
    return np.stack(cons_all), np.stack(jets_all)


def write_hls4ml_file(
    path: str | Path,
    constituents: np.ndarray,
    jets: np.ndarray,
    *,
    dtype: str = "f8",
    extra_datasets: bool = True,
    particle_names: Sequence[str] = PARTICLE_FEATURE_NAMES,
    jet_names: Sequence[str] = JET_FEATURES,
    skip: Sequence[str] = (),
) -> Path:
    """Write one file in the public hls4ml layout (float64 like the real files, plus a jetImage)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        if DS_CONSTITUENTS not in skip:
            f.create_dataset(DS_CONSTITUENTS, data=np.asarray(constituents, dtype=dtype))
        if DS_JETS not in skip:
            f.create_dataset(DS_JETS, data=np.asarray(jets, dtype=dtype))
        if DS_PARTICLE_NAMES not in skip:
            f.create_dataset(DS_PARTICLE_NAMES, data=np.array(list(particle_names), dtype="S"))
        if DS_JET_NAMES not in skip:
            f.create_dataset(DS_JET_NAMES, data=np.array(list(jet_names), dtype="S"))
        if extra_datasets:
            f.create_dataset("jetImage", data=np.zeros((len(jets), 4, 4), dtype=dtype))
    return path


def write_hls4ml_files(
    directory: str | Path, n_files: int = 2, n_per_class: int = 20, *, seed: int = 0, **kw: object
) -> list[Path]:
    """Several ``*_150p_*.h5`` files, each holding every class (like the real sample)."""
    out = []
    for i in range(n_files):
        cons, jets = synthetic_jets(n_per_class, seed=seed + i)
        out.append(
            write_hls4ml_file(Path(directory) / f"jetImage_{i}_150p_0_10000.h5", cons, jets, **kw)
        )  # type: ignore[arg-type]
    return out


def write_generic_file(
    path: str | Path,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    features_key: str = "features",
    labels_key: str = "labels",
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset(features_key, data=features)
        f.create_dataset(labels_key, data=labels)
    return path


def generic_arrays(
    n: int = 200, d: int = 6, k: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: features (n, d) float32, integer labels (n,) covering every class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.normal(size=(n, d)).astype(np.float32) + y[:, None].astype(np.float32)
    return x, y.astype(np.int64)
