"""Disjoint, stratified, seeded splits and the splits.h5 layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest_data import write_hls4ml_files

from jetdistill.data.layout import CLASS_NAMES
from jetdistill.data.splits import SPLITS, SplitConfig, make_splits, read_splits, split_data
from jetdistill.errors import InputError

LABELS = np.repeat(np.arange(5), [400, 300, 200, 200, 100])
rng_perm = np.random.default_rng(3).permutation(len(LABELS))
LABELS = LABELS[rng_perm]


def test_disjoint_stratified_and_sorted() -> None:
    cfg = SplitConfig()
    s = make_splits(LABELS, cfg, CLASS_NAMES)
    for a in SPLITS:
        assert s[a].dtype == np.int64
        assert np.all(np.diff(s[a]) > 0)
        for b in SPLITS:
            if a < b:
                assert np.intersect1d(s[a], s[b]).size == 0, (a, b)
    counts = np.bincount(LABELS)
    for name in SPLITS:
        got = np.bincount(LABELS[s[name]], minlength=5)
        assert np.all(np.abs(got - getattr(cfg, name) * counts) < 1), name
    assert sum(len(v) for v in s.values()) == len(LABELS)


def test_seeded() -> None:
    a = make_splits(LABELS, SplitConfig(seed=1), CLASS_NAMES)
    b = make_splits(LABELS, SplitConfig(seed=1), CLASS_NAMES)
    c = make_splits(LABELS, SplitConfig(seed=2), CLASS_NAMES)
    for k in SPLITS:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["test"], c["test"])


def test_overlap_only_when_configured() -> None:
    cfg = SplitConfig(
        teacher_train=0.5, transfer=0.6, val=0.1, test=0.2, overlap_transfer_with_teacher=True
    )
    s = make_splits(LABELS, cfg, CLASS_NAMES)
    assert np.intersect1d(s["transfer"], s["teacher_train"]).size > 0
    for held_out in ("val", "test"):
        assert np.intersect1d(s["transfer"], s[held_out]).size == 0
        assert np.intersect1d(s["teacher_train"], s[held_out]).size == 0
    with pytest.raises(InputError, match="summing to <= 1"):
        SplitConfig(teacher_train=0.5, transfer=0.6, val=0.1, test=0.2).validate()


def test_exclude_from_transfer_and_max_jets() -> None:
    cfg = SplitConfig(exclude_from_transfer=("top",), max_jets=600)
    s = make_splits(LABELS, cfg, CLASS_NAMES)
    assert not np.any(LABELS[s["transfer"]] == 4)
    assert np.any(LABELS[s["teacher_train"]] == 4)
    used = np.concatenate(list(s.values()))
    assert len(used) <= 600
    # max_jets keeps the class mix: 600 of 1200 -> half of every class before splitting
    np.testing.assert_allclose(
        np.bincount(LABELS[s["test"]], minlength=5),
        np.floor(0.15 * np.bincount(LABELS) / 2),
        atol=1,
    )
    with pytest.raises(InputError, match="exclude_from_transfer"):
        make_splits(LABELS, SplitConfig(exclude_from_transfer=("higgs",)), CLASS_NAMES)


def test_too_few_jets_for_a_split() -> None:
    with pytest.raises(InputError, match="data.splits.val"):
        make_splits(np.repeat([0, 1], 10), SplitConfig(val=0.01), ["a", "b"])


def test_split_data_writes_layout(tmp_path: Path) -> None:
    files = [str(p) for p in write_hls4ml_files(tmp_path / "raw", n_files=2, n_per_class=20)]
    out = tmp_path / "data" / "splits.h5"
    sizes = split_data(files, out, {"source": "hls4ml", "splits": {"seed": 3}, "chunk_size": 13})
    assert sizes == {"teacher_train": 80, "transfer": 70, "val": 20, "test": 30}
    with h5py.File(out) as f:
        assert set(f.keys()) == {*SPLITS, "labels"}
        assert f["labels"].shape == (200,) and f["labels"].dtype == np.int64
        assert json.loads(f.attrs["files"]) == files
        assert json.loads(f.attrs["class_names"]) == list(CLASS_NAMES)
        assert f.attrs["source"] == "hls4ml"
    _, labels, attrs = read_splits(out)
    assert attrs["files"] == files
    np.testing.assert_array_equal(np.bincount(labels), [40] * 5)
    assert not list(out.parent.glob(".*tmp*"))  # atomic: no temporary left behind
