"""One reader for every data source: generated shards, real hls4ml jet files, generic HDF5.

Why one interface: splitting and view preparation must not care where jets
come from, and the real hls4ml sample (~880k jets x 150 x 16 float64, many
files) does not fit in memory twice, so everything is read in chunks of
``data.chunk_size`` jets through :meth:`Source.iter_chunks`.

Validation happens when a source is opened, before any compute: every problem
raises :class:`~jetdistill.errors.InputError` naming the file and dataset/key.
Value checks (NaN/inf) need a pass over the data and are done chunk-wise by
:meth:`Source.check_values` (called by the split stage) and again on the
columns actually read while preparing a view.

Constituent features are read by name, never by position: a jet file must carry the
layout's 16 ``jetConstituentList`` columns, each named by ``particleFeatureNames``
(:func:`~jetdistill.data.layout.particle_layout_problems`), or it is refused when opened.

Global jet index: files are concatenated in the given order; index = file
offset + row (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from jetdistill.data.layout import (
    CLASS_NAMES,
    COLUMNLESS_PARTICLE_NAMES,
    DS_CONSTITUENTS,
    DS_JET_NAMES,
    DS_JETS,
    DS_PARTICLE_NAMES,
    LABEL_COLUMNS,
    PARTICLE_FEATURES,
    column_names,
    particle_layout_problems,
)
from jetdistill.errors import InputError

log = logging.getLogger(__name__)

JET_KINDS: tuple[str, ...] = ("generate", "hls4ml")
KINDS: tuple[str, ...] = (*JET_KINDS, "generic")
DEFAULT_CHUNK = 10000


def _decode(names: np.ndarray) -> list[str]:
    return [
        n.decode() if isinstance(n, bytes | np.bytes_) else str(n)
        for n in np.asarray(names).reshape(-1)
    ]


def _open_h5(path: str) -> h5py.File:
    if not os.path.exists(path):
        raise InputError(str(path), "an existing HDF5 file", "missing file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(
            str(path), "a readable HDF5 file", f"{type(exc).__name__}: {exc}"
        ) from None


def _dataset(f: h5py.File, path: str, key: str) -> h5py.Dataset:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise InputError(
            f"{path}: dataset '{key}'", f"a dataset named '{key}'", f"datasets {sorted(f.keys())}"
        )
    return f[key]


def _read(ds: h5py.Dataset, sel: Any, where: str) -> np.ndarray:
    """``ds[sel]``; a corrupt chunk (bad checksum, failing filter) becomes an InputError naming
    the file and dataset instead of h5py's bare "Can't read data"."""
    try:
        return np.asarray(ds[sel])
    except OSError as exc:
        raise InputError(
            where, "readable data (an intact HDF5 file)", f"{type(exc).__name__}: {exc}"
        ) from None


def _check_finite(x: np.ndarray, where: str, row0: int) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise InputError(
            where,
            "finite values (no NaN/inf)",
            f"{int(bad.sum())} non-finite values, first at row {row0 + first}",
        )


@dataclass
class Source:
    """Common base: files, rows per file and labels; subclasses read the samples."""

    kind: str
    files: list[str]
    rows_per_file: list[int]
    class_names: list[str]
    chunk_size: int = DEFAULT_CHUNK
    _labels: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_jets(self) -> int:
        return int(sum(self.rows_per_file))

    @property
    def offsets(self) -> np.ndarray:
        """Global index of the first row of each file (length n_files + 1)."""
        return np.concatenate([[0], np.cumsum(self.rows_per_file)]).astype(np.int64)

    # ------------------------------------------------------------------ to implement
    sample_key: str = ""

    def feature_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_labels(self, i: int, f: h5py.File) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ labels
    def labels(self) -> np.ndarray:
        """Integer labels (n_jets,) int64 in global order, read file by file and validated.

        Raises InputError if a class of ``class_names`` has no jets.
        """
        if self._labels is None:
            parts = []
            for i, path in enumerate(self.files):
                with _open_h5(path) as f:
                    parts.append(self._read_labels(i, f))
            y = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
            counts = np.bincount(y, minlength=len(self.class_names))
            for k, c in enumerate(counts):
                if c == 0:
                    raise InputError(
                        f"{', '.join(self.files)}: labels of class '{self.class_names[k]}'",
                        "at least one jet of every class",
                        f"0 jets (counts per class {dict(zip(self.class_names, counts.tolist(), strict=True))})",
                    )
            self._labels = y
        return self._labels

    # ------------------------------------------------------------------ reading
    def iter_chunks(
        self, rows: np.ndarray | None = None, check_finite: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (global_rows int64, samples float32) for the requested rows, chunk by chunk.

        ``rows``: sorted global indices (None = all). Files are read in blocks of
        ``chunk_size`` rows and only the requested rows are kept, so memory is
        bounded by one block whatever the number of files or jets.
        """
        offsets = self.offsets
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= self.n_jets):
                raise ValueError(
                    "rows must be strictly increasing global indices within [0, n_jets)"
                )
        for i, path in enumerate(self.files):
            lo, hi = offsets[i], offsets[i + 1]
            if rows is None:
                wanted = None
            else:
                a, b = np.searchsorted(rows, [lo, hi])
                wanted = rows[a:b] - lo
                if wanted.size == 0:
                    continue
            with _open_h5(path) as f:
                ds = _dataset(f, path, self.sample_key)
                n = hi - lo
                for start in range(0, n, self.chunk_size):
                    stop = min(n, start + self.chunk_size)
                    if wanted is None:
                        sel = None
                    else:
                        a, b = np.searchsorted(wanted, [start, stop])
                        sel = wanted[a:b]
                        if sel.size == 0:
                            continue
                        start, stop = int(sel[0]), int(sel[-1]) + 1
                    block = _read(
                        ds, np.s_[start:stop], f"{path}: dataset '{self.sample_key}'"
                    ).astype(np.float32, copy=False)
                    local = np.arange(start, stop) if sel is None else sel
                    if sel is not None:
                        block = block[sel - start]
                    if check_finite:
                        _check_finite(block, f"{path}: dataset '{self.sample_key}'", start)
                    yield local + lo, block

    def read_rows(self, rows: np.ndarray, check_finite: bool = True) -> np.ndarray:
        """Samples of the given sorted global rows, concatenated (use for small subsets only)."""
        parts = [x for _, x in self.iter_chunks(rows, check_finite=check_finite)]
        if not parts:
            return np.zeros((0, *self.sample_shape()), np.float32)
        return np.concatenate(parts)

    def check_values(self) -> None:
        """Chunk-wise NaN/inf check of every sample; InputError names the file, dataset and row."""
        for _ in self.iter_chunks(None, check_finite=True):
            pass


@dataclass
class JetSource(Source):
    """hls4ml-layout files (generated shards or the public LHC jet files)."""

    sample_key: str = DS_CONSTITUENTS
    particle_names: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()
    label_columns: list[int] = field(default_factory=list)

    def feature_names(self) -> list[str]:
        """Names of the columns, in file order (validated against the layout when opened)."""
        return column_names(self.particle_names)

    def sample_shape(self) -> tuple[int, ...]:
        return self.shape

    def feature_columns(self, names: Sequence[str]) -> list[int]:
        """Column of each requested feature, looked up by name in ``particleFeatureNames``
        (never by position); InputError, with the nearest name, if one is not a column."""
        columns = self.feature_names()
        cols = []
        for name in names:
            if name not in columns:
                near = difflib.get_close_matches(name, columns, n=1)
                raise InputError(
                    f"{self.files[0]}: dataset '{DS_PARTICLE_NAMES}'",
                    f"feature '{name}' among {columns}",
                    "missing" + (f" (did you mean '{near[0]}'?)" if near else ""),
                )
            cols.append(columns.index(name))
        return cols

    def _read_labels(self, i: int, f: h5py.File) -> np.ndarray:
        path = self.files[i]
        jets = _dataset(f, path, DS_JETS)
        n = self.rows_per_file[i]
        out = np.empty(n, np.int64)
        cols = self.label_columns
        lo_c, hi_c = min(cols), max(cols) + 1
        for start in range(0, n, self.chunk_size):
            stop = min(n, start + self.chunk_size)
            block = _read(jets, np.s_[start:stop, lo_c:hi_c], f"{path}: dataset '{DS_JETS}'")
            block = block.astype(np.float64, copy=False)[:, [c - lo_c for c in cols]]
            where = f"{path}: dataset '{DS_JETS}' columns {list(LABEL_COLUMNS)}"
            ok = (
                np.isfinite(block).all(axis=1)
                & np.isin(block, (0.0, 1.0)).all(axis=1)
                & (block.sum(axis=1) == 1)
            )
            if not ok.all():
                r = int(np.flatnonzero(~ok)[0])
                raise InputError(
                    where,
                    "one-hot labels (exactly one 1 per jet)",
                    f"{block[r].tolist()} at row {start + r}",
                )
            k = block.argmax(axis=1)
            present = [CLASS_NAMES[j] for j in np.unique(k)]
            missing = [c for c in present if c not in self.class_names]
            if missing:
                raise InputError(
                    where,
                    f"jets only of the configured classes {self.class_names}",
                    f"jets of {missing}",
                )
            remap = np.array(
                [self.class_names.index(c) if c in self.class_names else -1 for c in CLASS_NAMES]
            )
            out[start:stop] = remap[k]
        return out


@dataclass
class GenericSource(Source):
    """Any HDF5 file with a features array (N, ...) and integer (or one-hot) labels."""

    sample_key: str = "features"
    labels_key: str = "labels"
    shape: tuple[int, ...] = ()

    def feature_names(self) -> list[str]:
        return [f"f{i}" for i in range(self.shape[-1] if self.shape else 1)]

    def sample_shape(self) -> tuple[int, ...]:
        return self.shape

    def _read_labels(self, i: int, f: h5py.File) -> np.ndarray:
        path = self.files[i]
        ds = _dataset(f, path, self.labels_key)
        raw = _read(ds, Ellipsis, f"{path}: dataset '{self.labels_key}'")
        where = f"{path}: dataset '{self.labels_key}'"
        k = len(self.class_names)
        if raw.ndim == 2:
            ok = np.isin(raw, (0, 1)).all(axis=1) & (raw.sum(axis=1) == 1)
            if raw.shape[1] != k or not ok.all():
                r = int(np.flatnonzero(~ok)[0]) if not ok.all() else 0
                raise InputError(
                    where,
                    f"integer labels (N,) or one-hot labels (N, {k})",
                    f"shape {raw.shape}, row {r}: {raw[r].tolist()}",
                )
            return raw.argmax(axis=1).astype(np.int64)
        if raw.ndim != 1:
            raise InputError(where, "integer labels of shape (N,)", f"shape {raw.shape}")
        if not np.all(np.isfinite(raw)) or not np.all(np.asarray(raw) == np.round(raw)):
            raise InputError(where, "integer labels", "non-integer values")
        y = raw.astype(np.int64)
        bad = (y < 0) | (y >= k)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise InputError(
                where, f"labels in [0, {k}) (classes {self.class_names})", f"{y[r]} at row {r}"
            )
        return y


# --------------------------------------------------------------------------- opening
def _jet_source(kind: str, files: list[str], class_names: list[str], chunk: int) -> JetSource:
    rows, shape, names = [], None, None
    for path in files:
        with _open_h5(path) as f:
            cons = _dataset(f, path, DS_CONSTITUENTS)
            jets = _dataset(f, path, DS_JETS)
            pnames = _decode(_dataset(f, path, DS_PARTICLE_NAMES)[...])
            jnames = _decode(_dataset(f, path, DS_JET_NAMES)[...])
            if cons.ndim != 3 or cons.shape[1] < 1 or cons.shape[2] < 1:
                raise InputError(
                    f"{path}: dataset '{DS_CONSTITUENTS}'",
                    "shape (N, n_constituents, n_features)",
                    str(cons.shape),
                )
            problems = particle_layout_problems(pnames, int(cons.shape[2]))
            if problems:
                raise InputError(
                    f"{path}: datasets '{DS_CONSTITUENTS}' {cons.shape} and '{DS_PARTICLE_NAMES}'",
                    f"the hls4ml layout: {len(PARTICLE_FEATURES)} columns named "
                    f"{list(PARTICLE_FEATURES)} (any order; name i names column i, then "
                    f"optionally {', '.join(COLUMNLESS_PARTICLE_NAMES)}, which has no column)",
                    "; ".join(problems),
                )
            if jets.ndim != 2 or jets.shape[0] != cons.shape[0] or jets.shape[1] != len(jnames):
                raise InputError(
                    f"{path}: dataset '{DS_JETS}'",
                    f"shape ({cons.shape[0]}, {len(jnames)}) (rows of '{DS_CONSTITUENTS}' x '{DS_JET_NAMES}')",
                    str(jets.shape),
                )
            missing = [c for c in LABEL_COLUMNS if c not in jnames]
            if missing:
                raise InputError(
                    f"{path}: dataset '{DS_JET_NAMES}'",
                    f"label columns {list(LABEL_COLUMNS)}",
                    f"missing {missing}",
                )
            if shape is None:
                shape, names, label_cols = (
                    tuple(cons.shape[1:]),
                    pnames,
                    [jnames.index(c) for c in LABEL_COLUMNS],
                )
            elif tuple(cons.shape[1:]) != shape or pnames != names:
                raise InputError(
                    f"{path}: dataset '{DS_CONSTITUENTS}'",
                    f"the same per-jet shape {shape} and feature names as {files[0]}",
                    f"{tuple(cons.shape[1:])}",
                )
            elif [jnames.index(c) for c in LABEL_COLUMNS] != label_cols:
                raise InputError(
                    f"{path}: dataset '{DS_JET_NAMES}'", f"the same column order as {files[0]}"
                )
            rows.append(int(cons.shape[0]))
    assert shape is not None and names is not None
    return JetSource(
        kind=kind, files=files, rows_per_file=rows, class_names=class_names, chunk_size=chunk,
        particle_names=names, shape=shape, label_columns=label_cols,
    )  # fmt: skip


def _generic_source(files: list[str], g: Mapping[str, Any], chunk: int) -> GenericSource:
    fkey = g.get("features_key", "features")
    lkey = g.get("labels_key", "labels")
    names = list(g.get("class_names") or [])
    rows, shape, max_label = [], None, -1
    for path in files:
        with _open_h5(path) as f:
            x = _dataset(f, path, fkey)
            y = _dataset(f, path, lkey)
            if x.ndim < 2 or x.shape[0] < 1:
                raise InputError(
                    f"{path}: dataset '{fkey}'", "shape (N, D, ...) with N >= 1", str(x.shape)
                )
            if y.shape[0] != x.shape[0] or y.ndim not in (1, 2):
                raise InputError(
                    f"{path}: dataset '{lkey}'",
                    f"shape ({x.shape[0]},) matching '{fkey}'",
                    str(y.shape),
                )
            if x.dtype.kind not in "fiu":
                raise InputError(f"{path}: dataset '{fkey}'", "a numeric array", str(x.dtype))
            if shape is None:
                shape = tuple(x.shape[1:])
            elif tuple(x.shape[1:]) != shape:
                raise InputError(
                    f"{path}: dataset '{fkey}'",
                    f"per-sample shape {shape} as in {files[0]}",
                    str(x.shape[1:]),
                )
            if y.ndim == 2:
                max_label = max(max_label, y.shape[1] - 1)
            else:
                yy = _read(y, Ellipsis, f"{path}: dataset '{lkey}'")
                if yy.size and np.all(np.isfinite(yy)):
                    max_label = max(max_label, int(np.max(yy)))
            rows.append(int(x.shape[0]))
    if not names:
        names = [f"class_{k}" for k in range(max(max_label + 1, 2))]
    assert shape is not None
    return GenericSource(
        kind="generic", files=files, rows_per_file=rows, class_names=names, chunk_size=chunk,
        sample_key=fkey, labels_key=lkey, shape=shape,
    )  # fmt: skip


@dataclass
class JetLevelSource(Source):
    """Selected columns of the jet-level dataset ``jets`` of hls4ml-layout files.

    Why a source of its own: the high-level-feature baseline (jet mass, mMDT mass,
    multiplicity, substructure) reads one row of numbers per jet, not constituents, and
    the ``jets`` dataset holds NaN in every column a generator did not compute; only the
    selected columns are checked, so a NaN there is an error that names the column.
    """

    sample_key: str = DS_JETS
    columns: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    parent: JetSource | None = field(default=None, repr=False)

    def feature_names(self) -> list[str]:
        return list(self.names)

    def sample_shape(self) -> tuple[int, ...]:
        return (len(self.columns),)

    def _read_labels(self, i: int, f: h5py.File) -> np.ndarray:
        assert self.parent is not None, "made by jet_level_source"
        return self.parent._read_labels(i, f)  # the same one-hot columns of the same files

    def iter_chunks(
        self, rows: np.ndarray | None = None, check_finite: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        starts = self.offsets
        for g, block in super().iter_chunks(rows, check_finite=False):
            x = block[:, self.columns]
            if check_finite and not np.isfinite(x).all():
                r, c = (int(v[0]) for v in np.nonzero(~np.isfinite(x)))
                i = int(np.searchsorted(starts, g[r], side="right") - 1)
                raise InputError(
                    f"{self.files[i]}: dataset '{DS_JETS}' column '{self.names[c]}'",
                    "finite values (generated files compute the substructure columns only "
                    "with data.generate.substructure: true)",
                    f"{x[r, c]} at row {int(g[r] - starts[i])}",
                )
            yield g, x


def jet_level_source(src: Source, features: Sequence[str]) -> JetLevelSource:
    """The columns ``features`` of the ``jets`` dataset of a jet source (hls4ml layout)."""
    if not isinstance(src, JetSource):
        raise InputError(
            "config: views.<view>.level", "'constituent' for generic data (no 'jets' dataset)",
            "'jet'",
        )  # fmt: skip
    with _open_h5(src.files[0]) as f:
        jnames = _decode(_dataset(f, src.files[0], DS_JET_NAMES)[...])
    missing = [n for n in features if n not in jnames]
    if missing:
        raise InputError(
            f"{src.files[0]}: dataset '{DS_JET_NAMES}'", f"jet features among {jnames}",
            f"missing {missing}",
        )  # fmt: skip
    return JetLevelSource(
        kind=src.kind, files=list(src.files), rows_per_file=list(src.rows_per_file),
        class_names=list(src.class_names), chunk_size=src.chunk_size,
        columns=[jnames.index(n) for n in features], names=list(features), parent=src,
    )  # fmt: skip


def default_class_names(kind: str, cfg: Mapping[str, Any]) -> list[str]:
    """Classes of a jet source: data.generate.classes (canonical order) or all five for hls4ml."""
    if kind == "generate":
        wanted = list((cfg.get("generate") or {}).get("classes") or CLASS_NAMES)
        return [c for c in CLASS_NAMES if c in wanted]
    return list(CLASS_NAMES)


def open_source(kind: str, files: Sequence[str], cfg: Mapping[str, Any] | None = None) -> Source:
    """Open and validate a data source (structure, shapes, names; no value scan).

    ``kind``: generate | hls4ml | generic. ``cfg``: the config ``data`` section
    (uses chunk_size, generic.*, generate.classes). Labels are validated on the
    first call to :meth:`Source.labels`; values by :meth:`Source.check_values`.
    """
    cfg = dict(cfg or {})
    if kind not in KINDS:
        raise InputError("config: data.source", f"one of {list(KINDS)}", repr(kind))
    files = [str(p) for p in files]
    if not files:
        raise InputError("config: data.source files", "at least one input file", "none")
    for p in files:
        if not os.path.exists(p):
            raise InputError(str(p), "an existing HDF5 file", "missing file")
    chunk = int(cfg.get("chunk_size") or DEFAULT_CHUNK)
    if kind == "generic":
        src: Source = _generic_source(files, cfg.get("generic") or {}, chunk)
    else:
        src = _jet_source(kind, files, default_class_names(kind, cfg), chunk)
    log.info(
        "opened %s source: %d files, %d jets, sample shape %s",
        kind,
        len(files),
        src.n_jets,
        src.sample_shape(),
    )
    return src
