"""Disjoint, stratified, seeded splits: teacher_train / transfer / val / test.

Why four splits: the teacher is trained on ``teacher_train``; students learn
from the teacher's soft targets on ``transfer`` (by default disjoint from
``teacher_train``, so the teacher's outputs there are not over-confident
memorisation); ``val`` drives early stopping; ``test`` is only for metrics.
Every split is stratified per class so that small samples keep the class mix.

Indices are stored sorted, which lets later stages stream the sources in file
order and write every split chunk by chunk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from jetdistill.errors import InputError
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("teacher_train", "transfer", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """Mirror of the config section ``data.splits``."""

    teacher_train: float = 0.4
    transfer: float = 0.35
    val: float = 0.1
    test: float = 0.15
    overlap_transfer_with_teacher: bool = False
    exclude_from_transfer: tuple[str, ...] = field(default_factory=tuple)
    max_jets: int = 0
    seed: int = 7

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SplitConfig:
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError("config: data.splits", f"keys among {sorted(known)}", str(unknown))
        if "exclude_from_transfer" in d:
            d["exclude_from_transfer"] = tuple(d["exclude_from_transfer"])
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for s in SPLITS:
            v = getattr(self, s)
            if not 0 < v <= 1:
                raise InputError(f"config: data.splits.{s}", "a fraction in (0, 1]", str(v))
        total = sum(getattr(self, s) for s in SPLITS)
        if self.overlap_transfer_with_teacher:
            total -= self.transfer
            if self.transfer > 1 - self.val - self.test + 1e-9:
                raise InputError(
                    "config: data.splits.transfer",
                    "<= 1 - val - test with overlap",
                    str(self.transfer),
                )
        if total > 1 + 1e-9:
            raise InputError("config: data.splits", "fractions summing to <= 1", f"{total:g}")
        if self.max_jets < 0:
            raise InputError("config: data.splits.max_jets", ">= 0", str(self.max_jets))


def _stratified_subsample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ~n jets keeping the class proportions (largest-remainder rounding)."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    rest = n - take.sum()
    take[np.argsort(-(quota - take), kind="stable")[:rest]] += 1
    out = [
        rng.choice(np.flatnonzero(labels == c), size=t, replace=False)
        for c, t in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(out))


def _apportion(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer sizes for ``fractions`` of ``n`` items (largest-remainder rounding).

    The unassigned rest (1 - sum) takes part in the rounding, so sizes never
    exceed ``n`` and each is within one jet of fraction x n.
    """
    quotas = np.array([*fractions, max(0.0, 1.0 - float(sum(fractions)))]) * n
    take = np.floor(quotas + 1e-9).astype(int)
    rest = n - int(take.sum())
    order = np.argsort(-(quotas - take), kind="stable")
    take[order[: max(rest, 0)]] += 1
    return [int(t) for t in take[:-1]]


def make_splits(
    labels: np.ndarray, cfg: SplitConfig, class_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Split jet indices per class; returns sorted int64 global indices per split.

    Per class (stratification): a seeded permutation is cut into test, val,
    teacher_train and transfer (fraction x class size, largest-remainder rounding). With
    ``overlap_transfer_with_teacher`` the transfer set is drawn from every jet
    not in val/test, so it may share jets with teacher_train; otherwise all
    four are disjoint. Classes in ``exclude_from_transfer`` get no transfer jets.
    """
    labels = np.asarray(labels, dtype=np.int64)
    for name in cfg.exclude_from_transfer:
        if name not in class_names:
            raise InputError(
                "config: data.splits.exclude_from_transfer",
                f"class names among {list(class_names)}",
                repr(name),
            )
    rng = np.random.default_rng(cfg.seed)
    pool = np.arange(len(labels))
    if cfg.max_jets and cfg.max_jets < len(labels):
        pool = _stratified_subsample(labels, cfg.max_jets, rng)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for k, name in enumerate(class_names):
        idx = pool[labels[pool] == k]
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        f_tr = 0.0 if name in cfg.exclude_from_transfer else cfg.transfer
        fracs = [
            cfg.test,
            cfg.val,
            cfg.teacher_train,
            0.0 if cfg.overlap_transfer_with_teacher else f_tr,
        ]
        n_test, n_val, n_tt, n_tr = _apportion(n, fracs)
        if cfg.overlap_transfer_with_teacher:
            n_tr = round(f_tr * n)
        test, val = idx[:n_test], idx[n_test : n_test + n_val]
        rest = idx[n_test + n_val :]
        tt = rest[:n_tt]
        if cfg.overlap_transfer_with_teacher:
            tr = rng.choice(rest, size=min(n_tr, len(rest)), replace=False)
        else:
            tr = rest[n_tt : n_tt + n_tr]
        for s, v in zip(SPLITS, (tt, tr, val, test), strict=True):
            parts[s].append(v)
    out = {s: np.sort(np.concatenate(parts[s])).astype(np.int64) for s in SPLITS}
    for s in SPLITS:
        if len(out[s]) == 0:
            raise InputError(
                f"config: data.splits.{s}",
                "a fraction giving at least one jet",
                f"0 of {len(pool)} jets",
            )
    return out


def write_splits(
    path: str | os.PathLike[str],
    splits: Mapping[str, np.ndarray],
    labels: np.ndarray,
    files: Sequence[str],
    class_names: Sequence[str],
    source: str,
    extra_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write ``splits.h5`` (layout in docs/ARCHITECTURE.md), atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for s in SPLITS:
            f.create_dataset(s, data=np.asarray(splits[s], dtype=np.int64))
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        f.attrs["files"] = json.dumps([str(p) for p in files])
        f.attrs["class_names"] = json.dumps(list(class_names))
        f.attrs["source"] = source
        for k, v in (extra_attrs or {}).items():
            f.attrs[k] = v if isinstance(v, str | int | float) else json.dumps(v)


def read_splits(
    path: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """(splits, labels, attrs) of a ``splits.h5``; attrs files/class_names are decoded from JSON."""
    if not os.path.exists(path):
        raise InputError(str(path), "an existing splits.h5 (rule split_data)", "missing file")
    with h5py.File(path, "r") as f:
        for key in (*SPLITS, "labels"):
            if key not in f:
                raise InputError(
                    f"{path}: dataset '{key}'",
                    "the datasets written by split_data",
                    f"{sorted(f.keys())}",
                )
        splits = {s: f[s][...].astype(np.int64) for s in SPLITS}
        labels = f["labels"][...].astype(np.int64)
        attrs = dict(f.attrs)
    for k in ("files", "class_names"):
        attrs[k] = json.loads(attrs[k])
    return splits, labels, attrs


def split_data(
    files: Sequence[str], out_path: str | os.PathLike[str], data_cfg: Mapping[str, Any]
) -> dict[str, int]:
    """The ``split_data`` rule: open + validate the sources (structure, labels, NaN/inf),
    make the splits and write ``splits.h5``. Returns the size of each split."""
    from jetdistill.data.sources import open_checked

    kind = str(data_cfg.get("source", "generate"))
    cfg = SplitConfig.from_dict(data_cfg.get("splits"))
    src = open_checked(kind, files, data_cfg)
    labels = src.labels()
    splits = make_splits(labels, cfg, src.class_names)
    write_splits(out_path, splits, labels, src.files, src.class_names, kind, {"seed": cfg.seed})
    sizes = {s: len(v) for s, v in splits.items()}
    log.info(
        "splits of %d jets (%s): %s -> %s", len(labels), ", ".join(src.class_names), sizes, out_path
    )
    return sizes


def subsample_rows(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted row positions of a stratified, seeded ``fraction`` of a split (learning curves).

    Each class is permuted once per seed and a prefix taken, so the subsets are nested
    (12.5% is inside 25% is inside 50%): points of a learning curve differ by the added
    jets only, not by a fresh draw, which keeps the curve smooth at a few seeds.
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError("learning_curve.fractions", "fractions in (0, 1]", repr(fraction))
    if fraction == 1.0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        keep.append(rng.permutation(rows)[: max(1, round(fraction * len(rows)))])
    return np.sort(np.concatenate(keep))
