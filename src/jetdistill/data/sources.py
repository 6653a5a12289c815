"""One reader for every data source: generated shards, real hls4ml jet files, generic HDF5.

Why one interface: splitting and view preparation must not care where jets
come from, and the real hls4ml sample (~880k jets x 150 x 16 float64, many
files) does not fit in memory twice, so everything is read in chunks of
``data.chunk_size`` jets through :meth:`Source.iter_chunks`.

Validation happens when a source is opened, before any compute: every problem
raises :class:`~jetdistill.errors.InputError` naming the file and dataset/key.
Value checks need a pass over the data and are done chunk-wise by
:meth:`Source.check_values` (called by the split stage) and again on the
columns actually read while preparing a view: NaN/inf in the file, finite values too large for
float32 (the views are float32: 1e300 would become inf there, so it is named as an overflow,
not as NaN/inf), and, in the value scan, jets with no constituent (every row zero) or a file
whose samples are all zero. Messages list the first few bad rows with their values, never all
of them (:func:`~jetdistill.errors.first_few`).

Generic labels are checked when the source is opened: every label out of range is an error
naming the file, dataset, row and value. Without ``data.generic.class_names`` the number of
classes is the largest label + 1, at most :data:`MAX_CLASSES`: one stray label of 10**6 would
otherwise make a million empty classes (a MemoryError for 10**9).

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
from jetdistill.errors import LIST_FIRST, InputError, first_few

log = logging.getLogger(__name__)

JET_KINDS: tuple[str, ...] = ("generate", "hls4ml")
KINDS: tuple[str, ...] = (*JET_KINDS, "generic")
DEFAULT_CHUNK = 10000
#: Most classes generic labels may imply without ``data.generic.class_names`` (largest label + 1).
MAX_CLASSES = 1000
#: Largest finite float32: a larger |value| read from a float64 file becomes inf in a view.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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


def _files_brief(files: Sequence[str]) -> str:
    """The files, or the first few of many (a message must not grow with the file list)."""
    return first_few(list(files), what="files")


def _positions(bad: np.ndarray, values: np.ndarray, rows: np.ndarray) -> str:
    """``row R[ column C] = value`` for the first few True entries of ``bad`` (``rows``: the
    file row of each row of ``values``)."""
    out = []
    for idx in np.argwhere(bad)[:LIST_FIRST]:
        pos = f"row {int(rows[idx[0]])}"
        if len(idx) > 1:
            pos += f" column {int(idx[1])}" if len(idx) == 2 else f" at {[int(i) for i in idx[1:]]}"
        out.append(f"{pos} = {values[tuple(idx)].item()!r}")
    return first_few(out, int(bad.sum()), "bad values")


def _check_finite(x: np.ndarray, where: str, rows: np.ndarray) -> None:
    """NaN/inf in the file, then finite values too large for float32 (``x`` as read, before
    any cast: a float64 1e300 must be named as what it is, not as the inf it would become).
    ``rows``: the file row of each row of ``x``."""
    if x.dtype.kind != "f" or not len(x):
        return  # integers: finite, and even uint64 fits float32's range
    bad = ~np.isfinite(x)
    span = f"rows {int(rows[0])}-{int(rows[-1])}"
    if bad.any():
        first = int(rows[np.argwhere(bad)[0][0]])
        raise InputError(
            where,
            "finite values (no NaN/inf)",
            f"{int(bad.sum())} NaN/inf value(s) in the file in {span}, first at row "
            f"{first}: {_positions(bad, x, rows)}",
        )
    if x.dtype.itemsize > 4:
        with np.errstate(invalid="ignore"):
            over = (x > FLOAT32_MAX) | (x < -FLOAT32_MAX)  # no |x| temporary of the block
        if over.any():
            raise InputError(
                where,
                "values that fit float32, |x| <= 3.4e38 (the views are float32)",
                f"{int(over.sum())} value(s) in {span} that overflow float32 (|x| > 3.4e38): "
                f"{_positions(over, x, rows)}",
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
            empty = [self.class_names[k] for k in np.flatnonzero(counts == 0)]
            if empty:
                what = f"class '{empty[0]}'" + (
                    f" and {len(empty) - 1} other classes" if len(empty) > 1 else ""
                )
                if len(counts) <= 20:
                    per_class = dict(zip(self.class_names, counts.tolist(), strict=True))
                    detail = f"counts per class {per_class}"
                else:  # a listing per class would grow with the number of classes
                    detail = f"{len(empty)} of {len(counts)} classes empty: " + first_few(
                        [repr(c) for c in empty], what="empty classes"
                    )
                raise InputError(
                    f"{_files_brief(self.files)}: labels of {what}",
                    "at least one jet of every class",
                    f"0 jets ({detail})",
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
        bounded by one block whatever the number of files or jets. ``check_finite``: NaN/inf
        and float32 overflow are InputErrors naming the file, dataset, row and value.
        """
        for i, local, raw in self._raw_chunks(rows):
            if check_finite:
                _check_finite(raw, f"{self.files[i]}: dataset '{self.sample_key}'", local)
            with np.errstate(over="ignore"):  # only reached unchecked
                block = raw.astype(np.float32, copy=False)
            yield local + self.offsets[i], block

    def _raw_chunks(
        self, rows: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(file number, file rows, samples as stored) chunk by chunk (see :meth:`iter_chunks`)."""
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
                    block = _read(ds, np.s_[start:stop], f"{path}: dataset '{self.sample_key}'")
                    local = np.arange(start, stop) if sel is None else sel
                    if sel is not None:
                        block = block[sel - start]
                    yield i, local, block

    def read_rows(self, rows: np.ndarray, check_finite: bool = True) -> np.ndarray:
        """Samples of the given sorted global rows, concatenated (use for small subsets only)."""
        parts = [x for _, x in self.iter_chunks(rows, check_finite=check_finite)]
        if not parts:
            return np.zeros((0, *self.sample_shape()), np.float32)
        return np.concatenate(parts)

    def check_values(self) -> None:
        """Chunk-wise value scan of every sample; an InputError names the file, dataset, rows
        and values: NaN/inf, float32 overflow (:meth:`iter_chunks`) and empty samples
        (:meth:`_empty_rows_problem`), counted over each whole file."""
        empty: list[np.ndarray] = []
        n_empty, current = 0, 0
        for i, local, raw in self._raw_chunks(None):
            if i != current:
                self._empty_rows_problem(current, n_empty, empty)
                empty, n_empty, current = [], 0, i
            _check_finite(raw, f"{self.files[i]}: dataset '{self.sample_key}'", local)
            zero = ~np.any(raw.reshape(len(raw), -1) != 0, axis=1)
            if zero.any():
                n_empty += int(zero.sum())
                if len(empty) < LIST_FIRST:
                    empty.append(local[zero][:LIST_FIRST])
        self._empty_rows_problem(current, n_empty, empty)

    def _empty_rows_problem(self, i: int, n_empty: int, first: list[np.ndarray]) -> None:
        """Generic data: a file whose every sample is zero carries nothing to learn (a blank
        image or a zero row alone is data, so only a whole file of them is refused)."""
        if n_empty and n_empty == self.rows_per_file[i]:
            raise InputError(
                f"{self.files[i]}: dataset '{self.sample_key}'",
                "samples that are not all zero",
                f"all {n_empty} samples are zero (every value of the dataset is 0)",
            )


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

    def _empty_rows_problem(self, i: int, n_empty: int, first: list[np.ndarray]) -> None:
        """A jet whose every constituent row is zero has no constituent: all padding, nothing
        a tagger could classify (real and generated jets have at least one)."""
        if n_empty:
            rows = np.concatenate(first).tolist()
            raise InputError(
                f"{self.files[i]}: dataset '{self.sample_key}'",
                "jets with at least one constituent (a row that is not all zero)",
                f"{n_empty} of {self.rows_per_file[i]} jets with every constituent zero, rows "
                + first_few(rows, n_empty, "empty jets"),
            )

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
        return _generic_labels(raw, f"{path}: dataset '{self.labels_key}'", self.class_names)


def _brief_names(names: Sequence[str]) -> str:
    """Class names for a message: all of a few, the first 10 of many."""
    if len(names) <= 10:
        return str(list(names))
    return "[" + ", ".join(repr(n) for n in names[:10]) + f", ...] ({len(names)} classes)"


def _generic_labels(raw: np.ndarray, where: str, class_names: Sequence[str] | None) -> np.ndarray:
    """Validated int64 labels of one generic file (``raw`` as stored: (N,) integers or
    (N, K) one-hot). ``class_names`` None: the classes are not declared, so the labels must be
    in [0, MAX_CLASSES). Every bad row is counted; the message names the first few with
    their values."""
    declared = class_names is not None
    k = len(class_names) if class_names is not None else MAX_CLASSES
    how = (
        f"(classes {_brief_names(class_names)})"
        if class_names is not None
        else f"(without data.generic.class_names the number of classes is the largest label "
        f"+ 1, at most {MAX_CLASSES}; to use more, or to name them, declare "
        "data.generic.class_names)"
    )
    if raw.ndim == 2:
        if raw.shape[1] != k if declared else raw.shape[1] > MAX_CLASSES:
            raise InputError(
                where,
                f"integer labels (N,) or one-hot labels (N, {k if declared else 'K'}) {how}",
                f"shape {raw.shape}",
            )
        ok = np.isin(raw, (0, 1)).all(axis=1) & (raw.sum(axis=1) == 1)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            rows = [f"row {r}: {raw[r].tolist()}" for r in bad[:LIST_FIRST]]
            raise InputError(
                where,
                f"integer labels (N,) or one-hot labels (N, {raw.shape[1]}) with exactly one 1 "
                "per row",
                f"shape {raw.shape}, " + first_few(rows, len(bad), "bad rows"),
            )
        return raw.argmax(axis=1).astype(np.int64)
    if raw.ndim != 1:
        raise InputError(where, "integer labels of shape (N,)", f"shape {raw.shape}")
    if raw.dtype.kind not in "biuf":
        raise InputError(where, "integer labels", f"dtype {raw.dtype}")
    with np.errstate(invalid="ignore"):
        frac = ~np.isfinite(raw) | (raw != np.round(raw)) if raw.dtype.kind == "f" else None
    if frac is not None and frac.any():
        bad = np.flatnonzero(frac)
        rows = [f"{raw[r].item()!r} at row {r}" for r in bad[:LIST_FIRST]]
        raise InputError(
            where,
            "integer labels",
            f"{len(bad)} non-integer values: " + first_few(rows, len(bad), "bad rows"),
        )
    with np.errstate(invalid="ignore"):
        out = (raw < 0) | (raw >= k)
    if out.any():
        bad = np.flatnonzero(out)
        rows = [f"{raw[r].item():.15g} at row {r}" for r in bad[:LIST_FIRST]]
        raise InputError(
            where,
            f"labels in [0, {k}) {how}",
            f"{len(bad)} label(s) out of range: " + first_few(rows, len(bad), "bad rows"),
        )
    return raw.astype(np.int64)


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
    """Open generic files: shapes and labels are checked here, before any other stage runs.

    Labels are read whole (one integer per sample) and validated against the declared
    ``class_names``, or, without them, against :data:`MAX_CLASSES`, so the number of classes
    never comes from an unchecked value.
    """
    fkey = g.get("features_key", "features")
    lkey = g.get("labels_key", "labels")
    declared = list(g.get("class_names") or [])
    rows, shape, max_label = [], None, -1
    for path in files:
        with _open_h5(path) as f:
            x = _dataset(f, path, fkey)
            y = _dataset(f, path, lkey)
            if x.ndim < 2 or x.shape[0] < 1:
                raise InputError(
                    f"{path}: dataset '{fkey}'", "shape (N, D, ...) with N >= 1", str(x.shape)
                )
            if 0 in x.shape[1:]:
                want = ", ".join("D" if i == 0 else f"D{i + 1}" for i in range(x.ndim - 1))
                raise InputError(
                    f"{path}: dataset '{fkey}'",
                    f"a non-empty feature array of shape ({x.shape[0]}, {want}) with every D >= 1"
                    + (f" (as {shape} in {files[0]})" if shape is not None else ""),
                    f"shape {x.shape}: no features",
                )
            if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
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
            raw = _read(y, Ellipsis, f"{path}: dataset '{lkey}'")
            labels = _generic_labels(raw, f"{path}: dataset '{lkey}'", declared or None)
            if raw.ndim == 2:
                max_label = max(max_label, raw.shape[1] - 1)
            elif labels.size:
                max_label = max(max_label, int(labels.max()))
            rows.append(int(x.shape[0]))
    names = declared or [f"class_{k}" for k in range(max(max_label + 1, 2))]
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
        for i, local, block in self._raw_chunks(rows):
            x = block[:, self.columns]
            if check_finite and x.dtype.kind == "f":
                bad = ~np.isfinite(x)
                with np.errstate(invalid="ignore"):
                    over = (x > FLOAT32_MAX) | (x < -FLOAT32_MAX)  # no |x| temporary of the block
                if bad.any() or over.any():
                    r, c = (int(v[0]) for v in np.nonzero(bad if bad.any() else over))
                    raise InputError(
                        f"{self.files[i]}: dataset '{DS_JETS}' column '{self.names[c]}'",
                        "finite values (generated files compute the substructure columns only "
                        "with data.generate.substructure: true)"
                        if bad.any()
                        else "values that fit float32, |x| <= 3.4e38 (the views are float32)",
                        f"{x[r, c].item()!r} at row {int(local[r])}"
                        + ("" if bad.any() else " (overflows float32 (|x| > 3.4e38))"),
                    )
            with np.errstate(over="ignore"):
                yield local + starts[i], x.astype(np.float32, copy=False)

    def check_values(self) -> None:
        """NaN/inf and float32 overflow of the selected columns (the others may hold NaN)."""
        for _ in self.iter_chunks(None, check_finite=True):
            pass


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


def open_checked(
    kind: str, files: Sequence[str], cfg: Mapping[str, Any] | None = None, *, scan: bool = True
) -> Source:
    """Open a source and run every check of the data stage: structure (:func:`open_source`),
    labels (:meth:`Source.labels`) and, with ``scan``, the value scan
    (:meth:`Source.check_values`). One function so that the ``split_data`` job and the
    parse-time check (:mod:`jetdistill.plan.checks_data`) refuse a file with the same words."""
    src = open_source(kind, files, cfg)
    src.labels()
    if scan:
        src.check_values()
    return src
