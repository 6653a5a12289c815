"""Source reading (chunked, many files) and every bad-input error, one test each."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest_data import (
    generic_arrays,
    synthetic_jets,
    write_generic_file,
    write_hls4ml_file,
    write_hls4ml_files,
)

from jetdistill.data.layout import CLASS_NAMES, JET_FEATURES
from jetdistill.data.sources import JetSource, open_source
from jetdistill.errors import InputError


@pytest.fixture
def jet_files(tmp_path: Path) -> list[str]:
    return [str(p) for p in write_hls4ml_files(tmp_path, n_files=3, n_per_class=6)]


def test_reads_many_float64_files_in_chunks(jet_files: list[str]) -> None:
    src = open_source("hls4ml", jet_files, {"chunk_size": 7})
    assert isinstance(src, JetSource)
    assert src.n_jets == 3 * 5 * 6
    assert src.sample_shape() == (150, 16)
    assert list(src.offsets) == [0, 30, 60, 90]
    full = np.concatenate([h5py.File(p)["jetConstituentList"][...] for p in jet_files]).astype(
        np.float32
    )
    rows, chunks = zip(*src.iter_chunks(), strict=True)
    assert max(len(c) for c in chunks) == 7  # bounded by chunk_size
    np.testing.assert_array_equal(np.concatenate(rows), np.arange(90))
    np.testing.assert_array_equal(np.concatenate(chunks), full)
    want = np.array([0, 5, 29, 30, 31, 77, 89])
    np.testing.assert_array_equal(src.read_rows(want), full[want])
    y = src.labels()
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [18] * 5)
    np.testing.assert_array_equal(y[:6], 0)  # first file: 6 gluons first
    src.check_values()


def test_generate_source_subset_classes_are_remapped(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(4, classes=("W", "top"))
    p = write_hls4ml_file(tmp_path / "W_top.h5", cons, jets, dtype="f4", extra_datasets=False)
    src = open_source("generate", [str(p)], {"generate": {"classes": ["top", "W"]}})
    assert src.class_names == ["W", "top"]
    np.testing.assert_array_equal(src.labels(), [0] * 4 + [1] * 4)


def test_generic_source(tmp_path: Path) -> None:
    x, y = generic_arrays(50, d=4, k=3)
    p = write_generic_file(tmp_path / "g.h5", x, y, features_key="X", labels_key="target")
    src = open_source(
        "generic",
        [str(p)],
        {"generic": {"features_key": "X", "labels_key": "target"}, "chunk_size": 16},
    )
    assert src.class_names == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(src.labels(), y)
    np.testing.assert_allclose(np.concatenate([c for _, c in src.iter_chunks()]), x)


# ----------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope_150p_0.h5")
    with pytest.raises(InputError, match="nope_150p_0.h5.*missing file"):
        open_source("hls4ml", [missing], {})


def test_missing_or_renamed_dataset(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(2)
    p = write_hls4ml_file(tmp_path / "a.h5", cons, jets, skip=("jetConstituentList",))
    with h5py.File(p, "a") as f:
        f["jetConstituents"] = cons  # renamed
    with pytest.raises(InputError, match=r"a\.h5: dataset 'jetConstituentList'"):
        open_source("hls4ml", [str(p)], {})


def test_wrong_shape(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(2)
    p = write_hls4ml_file(tmp_path / "a.h5", cons, jets[:, :40], jet_names=JET_FEATURES)
    with pytest.raises(InputError, match=r"a\.h5: dataset 'jets'.*shape"):
        open_source("hls4ml", [str(p)], {})
    q = write_hls4ml_file(tmp_path / "b.h5", cons.reshape(len(cons), -1), jets)
    with pytest.raises(InputError, match=r"b\.h5: dataset 'jetConstituentList'.*shape"):
        open_source("hls4ml", [str(q)], {})


def test_nan_in_features_is_found_chunkwise(tmp_path: Path) -> None:
    files = write_hls4ml_files(tmp_path, n_files=2, n_per_class=4)
    with h5py.File(files[1], "a") as f:
        f["jetConstituentList"][13, 2, 5] = np.nan
    src = open_source("hls4ml", [str(p) for p in files], {"chunk_size": 5})
    with pytest.raises(InputError, match=r"_1_150p_.*jetConstituentList.*finite.*row 13"):
        src.check_values()


def test_inf_in_features(tmp_path: Path) -> None:
    files = write_hls4ml_files(tmp_path, n_files=1, n_per_class=3)
    with h5py.File(files[0], "a") as f:
        f["jetConstituentList"][0, 0, 0] = np.inf
    with pytest.raises(InputError, match="finite"):
        open_source("hls4ml", [str(files[0])], {}).check_values()


def test_class_with_no_jets(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(3, classes=("gluon", "light_quark", "W", "Z"))  # no top
    p = write_hls4ml_file(tmp_path / "a.h5", cons, jets)
    src = open_source("hls4ml", [str(p)], {})
    with pytest.raises(InputError, match="class 'top'.*0 jets"):
        src.labels()


def test_feature_name_not_in_particle_feature_names(jet_files: list[str]) -> None:
    src = open_source("hls4ml", jet_files, {})
    assert isinstance(src, JetSource)
    assert src.feature_columns(["j1_ptrel", "j1_phirel"]) == [6, 11]
    with pytest.raises(InputError, match="particleFeatureNames.*j1_ptrell"):
        src.feature_columns(["j1_ptrell"])


def test_labels_not_one_hot(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(2)
    jets[3, JET_FEATURES.index("j_t")] = 1.0  # a gluon that is also a top
    p = write_hls4ml_file(tmp_path / "a.h5", cons, jets)
    with pytest.raises(InputError, match=r"a\.h5: dataset 'jets'.*one-hot.*row 3"):
        open_source("hls4ml", [str(p)], {}).labels()


def test_generic_labels_out_of_range(tmp_path: Path) -> None:
    x, y = generic_arrays(30, k=3)
    y[7] = 5
    p = write_generic_file(tmp_path / "g.h5", x, y)
    # found when the file is opened (the labels are read then), before any later stage
    with pytest.raises(InputError, match=r"g\.h5: dataset 'labels'.*\[0, 3\).*5 at row 7"):
        open_source("generic", [str(p)], {"generic": {"class_names": ["a", "b", "c"]}})


def test_generic_missing_configured_key(tmp_path: Path) -> None:
    x, y = generic_arrays(10)
    p = write_generic_file(tmp_path / "g.h5", x, y)
    with pytest.raises(InputError, match=r"g\.h5: dataset 'feats'"):
        open_source("generic", [str(p)], {"generic": {"features_key": "feats"}})


def test_unknown_source_kind(jet_files: list[str]) -> None:
    with pytest.raises(InputError, match="data.source"):
        open_source("root", jet_files, {})


def test_class_names_cover_all_five_for_hls4ml(jet_files: list[str]) -> None:
    assert open_source("hls4ml", jet_files, {}).class_names == list(CLASS_NAMES)
