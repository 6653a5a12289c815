"""Bad values in the data and a full disk: each case writes a real HDF5 file (or fills a real
file system) and calls the real loading or writing function; the error must name the file,
dataset, row and value, stay under a screen (:data:`MSG_LIMIT` characters) and come fast.

The disk-full cases write into a real 64 KiB tmpfs mounted in ``tmp_path`` (this needs root;
without it they are skipped), so the kernel itself answers ENOSPC (errno 28). One case writes
to ``/dev/full`` instead, which gives ENOSPC to anyone: it runs everywhere. Nothing is mocked.

The ids (``BV..`` bad values, ``DF..`` disk full) are the rows of the section "Data: bad values
and a full disk" of ``docs/bad_inputs.md``; ``test_docs_section_lists_every_case`` keeps them in
step.
"""

from __future__ import annotations

import errno
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import copy_workflow, run_snakemake, snakemake_env
from conftest_data import generic_arrays, synthetic_jets, write_generic_file, write_hls4ml_file

from jetdistill.data.layout import DS_CONSTITUENTS
from jetdistill.data.prepare import prepare_view
from jetdistill.data.sources import MAX_CLASSES, jet_level_source, open_source
from jetdistill.data.splits import SPLITS, read_splits, split_data
from jetdistill.errors import InputError
from jetdistill.io import OutputWriteError, atomic_path, write_json

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad_inputs.md"
#: a screen: no message may be longer, whatever the data
MSG_LIMIT = 2000
#: seconds a bad file may take to be refused (the files here are tiny; generous for a shared box)
FAST_S = 5.0
DISK_FULL = "disk full (no space left on device)"


def _generic(tmp: Path, x: np.ndarray | None = None, y: np.ndarray | None = None) -> Path:
    gx, gy = generic_arrays(n=600, d=5, k=3)
    return write_generic_file(tmp / "data.h5", gx if x is None else x, gy if y is None else y)


def _labels_with(**rows: int) -> np.ndarray:
    _, y = generic_arrays(n=600, d=5, k=3)
    for r, v in rows.items():
        y[int(r[1:])] = v
    return y


def _check_fails(kind: str, path: Path, data_cfg: dict, needles: list[str]) -> str:
    """Open, read labels and scan values the way split_data does; return the message."""
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        src = open_source(kind, [str(path)], data_cfg)
        src.labels()
        src.check_values()
    took = time.monotonic() - t0
    msg = str(info.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg}"
    assert len(msg) < MSG_LIMIT, f"{len(msg)} characters: {msg[:300]}..."
    assert took < FAST_S, f"took {took:.1f} s"
    return msg


# --------------------------------------------------------------------------- labels
def test_bv01_label_of_a_million_without_class_names_is_named_not_a_million_classes(
    tmp_path: Path,
) -> None:
    path = _generic(tmp_path, y=_labels_with(r17=10**6))
    msg = _check_fails(
        "generic", path, {},
        ["dataset 'labels'", f"[0, {MAX_CLASSES})", "1000000 at row 17",
         "data.generic.class_names"],
    )  # fmt: skip
    assert "class_4" not in msg  # no listing of (a million) classes


def test_bv02_label_of_a_billion_is_an_input_error_not_a_memory_error(tmp_path: Path) -> None:
    path = _generic(tmp_path, y=_labels_with(r17=10**9))
    _check_fails("generic", path, {}, ["dataset 'labels'", "1000000000 at row 17"])


def test_bv03_many_bad_labels_list_the_first_five_of_n(tmp_path: Path) -> None:
    y = _labels_with()
    y[100:400] = 7  # 300 bad rows; the classes are declared: 3
    path = _generic(tmp_path, y=y)
    cfg = {"generic": {"class_names": ["a", "b", "c"]}}
    _check_fails(
        "generic", path, cfg,
        ["dataset 'labels'", "[0, 3)", "300 label(s) out of range", "7 at row 100",
         "7 at row 104", "(first 5 of 300 bad rows)"],
    )  # fmt: skip


def test_bv04_negative_label_is_named(tmp_path: Path) -> None:
    path = _generic(tmp_path, y=_labels_with(r9=-1))
    _check_fails("generic", path, {}, ["dataset 'labels'", "-1 at row 9"])


def test_bv05_one_hot_labels_wider_than_the_cap_are_refused_by_shape(tmp_path: Path) -> None:
    _, y = generic_arrays(n=600, d=5, k=3)
    onehot = np.zeros((600, MAX_CLASSES + 1), np.int8)
    onehot[np.arange(600), y] = 1
    path = _generic(tmp_path, y=onehot)
    _check_fails("generic", path, {}, ["dataset 'labels'", f"shape (600, {MAX_CLASSES + 1})",
                                        "data.generic.class_names"])  # fmt: skip


def test_bv06_sparse_labels_under_the_cap_list_a_few_empty_classes(tmp_path: Path) -> None:
    """A label of 999 is allowed (1,000 classes) but leaves 996 classes without a sample:
    the message names a few of them, not a count per class."""
    path = _generic(tmp_path, y=_labels_with(r5=999))
    _check_fails(
        "generic", path, {},
        ["labels of class 'class_3' and 995 other classes", "996 of 1000 classes empty",
         "(first 5 of 996 empty classes)"],
    )  # fmt: skip


# --------------------------------------------------------------------------- features
def test_bv07_features_of_shape_n_by_0_name_the_file_and_the_shape_expected(
    tmp_path: Path,
) -> None:
    path = _generic(tmp_path, x=np.zeros((600, 0)))
    _check_fails("generic", path, {}, ["dataset 'features'", "shape (600, D) with every D >= 1",
                                        "got shape (600, 0)"])  # fmt: skip


def test_bv08_features_with_an_empty_inner_axis_are_refused(tmp_path: Path) -> None:
    path = _generic(tmp_path, x=np.zeros((600, 4, 0)))
    _check_fails("generic", path, {}, ["dataset 'features'", "shape (600, D, D2)", "(600, 4, 0)"])


def test_bv09_float64_too_large_for_float32_is_an_overflow_not_nan(tmp_path: Path) -> None:
    x, _ = generic_arrays(n=600, d=5, k=3)
    x = x.astype(np.float64)
    x[42, 3] = 1e300
    path = _generic(tmp_path, x=x)
    msg = _check_fails(
        "generic", path, {},
        ["dataset 'features'", "overflow float32 (|x| > 3.4e38)", "row 42 column 3 = 1e+300"],
    )  # fmt: skip
    assert "NaN" not in msg and "inf" not in msg.replace("infinite", "")


def test_bv10_nan_in_the_file_is_still_nan_with_row_and_value(tmp_path: Path) -> None:
    x, _ = generic_arrays(n=600, d=5, k=3)
    x = x.astype(np.float64)
    x[420, 1] = np.nan
    x[421, 1] = -1e300  # an overflow too, but NaN is what the file holds first
    path = _generic(tmp_path, x=x)
    msg = _check_fails(
        "generic", path, {}, ["NaN/inf", "first at row 420", "row 420 column 1 = nan"]
    )
    assert "overflow" not in msg


def test_bv11_row_of_a_bad_value_read_through_a_row_selection_is_the_file_row(
    tmp_path: Path,
) -> None:
    """prepare_view reads only the rows of its splits: the row named is still the file's."""
    x, _ = generic_arrays(n=600, d=5, k=3)
    x = x.astype(np.float64)
    x[421, 0] = 1e39
    src = open_source("generic", [str(_generic(tmp_path, x=x))], {})
    with pytest.raises(InputError, match=r"row 421 column 0 = 1e\+39"):
        for _ in src.iter_chunks(np.array([3, 400, 421, 500])):
            pass


def test_bv12_overflowing_constituent_of_a_jet_file_names_row_and_position(
    tmp_path: Path,
) -> None:
    cons, jets = synthetic_jets(10, max_constituents=10)
    cons[13, 2, 5] = -4e38
    path = write_hls4ml_file(tmp_path / "jets_150p_0.h5", cons, jets)
    _check_fails("hls4ml", path, {}, [f"dataset '{DS_CONSTITUENTS}'", "overflow float32",
                                       "row 13 at [2, 5] = -4e+38"])  # fmt: skip


def test_bv13_overflowing_jet_level_column_names_the_column(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(10, max_constituents=10)
    from jetdistill.data.layout import JET_FEATURES

    jets[8, JET_FEATURES.index("j_pt")] = 1e300
    path = write_hls4ml_file(tmp_path / "jets_150p_0.h5", cons, jets)
    src = jet_level_source(open_source("hls4ml", [str(path)]), ["j_pt"])
    with pytest.raises(InputError) as info:
        src.check_values()
    msg = str(info.value)
    assert str(path) in msg and "column 'j_pt'" in msg and "1e+300 at row 8" in msg, msg
    assert "overflows float32 (|x| > 3.4e38)" in msg, msg


# --------------------------------------------------------------------------- all-zero samples
def test_bv14_all_zero_jets_name_file_dataset_count_and_rows(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(10, max_constituents=10)
    cons[[3, 7, 11, 19, 23, 31, 44]] = 0.0
    path = write_hls4ml_file(tmp_path / "jets_150p_0.h5", cons, jets)
    _check_fails(
        "hls4ml", path, {},
        [f"dataset '{DS_CONSTITUENTS}'", "at least one constituent",
         "7 of 50 jets with every constituent zero", "rows 3, 7, 11, 19, 23 (first 5 of 7"],
    )  # fmt: skip


def test_bv15_generic_file_of_zeros_is_refused_a_zero_row_is_not(tmp_path: Path) -> None:
    x, y = generic_arrays(n=600, d=5, k=3)
    x[10] = 0.0  # one blank sample: data
    src = open_source("generic", [str(_generic(tmp_path, x=x, y=y))], {})
    src.labels()
    src.check_values()
    zeros = write_generic_file(tmp_path / "zeros.h5", np.zeros((600, 5)), y)
    _check_fails("generic", zeros, {}, ["dataset 'features'", "all 600 samples are zero"])


def test_bv16_min_pt_cutting_every_constituent_names_the_files(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(10, max_constituents=10)
    path = write_hls4ml_file(tmp_path / "jets_150p_0.h5", cons, jets)
    data = {"source": "hls4ml"}
    split_data([str(path)], tmp_path / "splits.h5", data)
    view = {"features": ["j1_ptrel", "j1_etarel"], "n_constituents": 4, "min_pt": 1e9}
    outs = {s: tmp_path / "view" / f"{s}.h5" for s in SPLITS}
    with pytest.raises(InputError) as info:
        prepare_view(tmp_path / "splits.h5", view, outs, tmp_path / "view" / "norm.json", data)
    msg = str(info.value)
    assert str(path) in msg and DS_CONSTITUENTS in msg and "views.min_pt = 1e+09" in msg, msg
    assert not (tmp_path / "view").exists() or not list((tmp_path / "view").iterdir())


# --------------------------------------------------------------------------- no half-written output
def test_bv17_split_data_on_a_bad_file_writes_nothing(tmp_path: Path) -> None:
    path = _generic(tmp_path, y=_labels_with(r17=10**6))
    out = tmp_path / "out" / "splits.h5"
    with pytest.raises(InputError):
        split_data([str(path)], out, {"source": "generic"})
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_bv18_prepare_view_on_a_file_spoilt_after_the_split_leaves_no_view_file(
    tmp_path: Path,
) -> None:
    """The value is found in the middle of writing the four split files: each is written to a
    temporary and renamed only when complete, so no file (and no temporary) is left."""
    x, y = generic_arrays(n=3000, d=5, k=3)
    path = write_generic_file(tmp_path / "data.h5", x.astype(np.float64), y)
    data = {"source": "generic", "chunk_size": 500}
    split_data([str(path)], tmp_path / "splits.h5", data)
    # the input changes after split_data validated it, in a jet of the test split (the
    # normalisation is fitted on teacher_train, so the value is met while writing)
    bad = int(read_splits(tmp_path / "splits.h5")[0]["test"][-1])
    assert bad > 2000
    with h5py.File(path, "r+") as f:
        f["features"][bad, 1] = 1e300
    view_dir = tmp_path / "view"
    outs = {s: view_dir / f"{s}.h5" for s in SPLITS}
    with pytest.raises(InputError, match=rf"row {bad} column 1 = 1e\+300"):
        prepare_view(tmp_path / "splits.h5", {}, outs, view_dir / "norm.json", data)
    assert list(view_dir.iterdir()) == []


@pytest.mark.slow
def test_bv19_real_snakemake_with_a_label_of_a_million_prints_a_short_error(
    tmp_path: Path,
) -> None:
    """The real workflow: the console holds the short message (the job's log and the console
    held 37.8 MB and 75.6 MB when every class was listed). The file is refused while Snakemake
    parses the workflow (jetdistill.plan.checks_data), so no job starts and no splits.h5 or
    log is written; the split_data job would say the same (test_bv17)."""
    from test_own_data_example import readme_example

    work = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load(readme_example())
    del cfg["data"]["generic"]["class_names"]
    (work / "my.yaml").write_text(yaml.safe_dump(cfg))
    x, y = generic_arrays(n=600, d=5, k=3)
    y[17] = 10**6
    write_generic_file(work / "data" / "my_data.h5", x, y)
    proc = run_snakemake(work, "results/mine/data/splits.h5", "--cores", "1",
                         "--configfile", "my.yaml", timeout=600, check=False)  # fmt: skip
    console = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1000000 at row 17" in console and "data.generic.class_names" in console, console[-3000:]
    assert len(console) < 40_000, len(console)
    assert not (work / "results" / "mine").exists()  # nothing ran, nothing written


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs: writes past its size fail in the kernel with ENOSPC (root only)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def _assert_disk_full(exc: BaseException, path: Path) -> str:
    msg = str(exc)
    assert isinstance(exc, OutputWriteError) and exc.errno == errno.ENOSPC, repr(exc)
    assert DISK_FULL in msg and str(path) in msg, msg
    assert "iostream" not in msg.split(DISK_FULL)[0], msg
    assert len(msg) < MSG_LIMIT
    return msg


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_df01_json_on_a_full_disk_names_the_path_and_leaves_nothing(small_disk: Path) -> None:
    out = small_disk / "metrics.json"
    t0 = time.monotonic()
    with pytest.raises(OutputWriteError) as info:
        write_json(out, {"x": list(range(100_000))})
    assert time.monotonic() - t0 < FAST_S
    _assert_disk_full(info.value, out)
    assert _leftovers(small_disk) == []


def test_df02_checkpoint_on_a_full_disk_says_disk_full_not_iostream_error(
    small_disk: Path,
) -> None:
    import torch

    from jetdistill.learn.training import save_checkpoint

    out = small_disk / "model.pt"
    with pytest.raises(OutputWriteError) as info:
        save_checkpoint(torch.nn.Linear(200, 200), out, {"type": "mlp"})
    _assert_disk_full(info.value, out)
    assert _leftovers(small_disk) == []


def test_df03_errno_less_library_error_on_a_full_disk_is_still_disk_full(
    small_disk: Path,
) -> None:
    """torch.save straight to a path writes through a C++ stream: the kernel's ENOSPC
    arrives as "basic_ios::clear: iostream error" without an errno; the free space of the file
    system, measured when the write failed, tells it was a full disk."""
    import torch

    out = small_disk / "raw.pt"
    with pytest.raises(OutputWriteError) as info, atomic_path(out) as tmp:
        torch.save({"w": torch.zeros(200, 200)}, tmp)
    msg = _assert_disk_full(info.value, out)
    assert "bytes free on its file system" in msg, msg
    assert _leftovers(small_disk) == []


def test_df04_npy_and_csv_outputs_of_jobs_on_a_full_disk(small_disk: Path) -> None:
    from jetdistill.jobs.context import write_history, write_npy

    for write, out in (
        (lambda p: write_npy(np.zeros(100_000, np.float32), str(p)), small_disk / "logits.npy"),
        (lambda p: write_history([{"epoch": i, "loss": 0.1 * i} for i in range(20_000)], str(p)),
         small_disk / "history.csv"),
    ):  # fmt: skip
        with pytest.raises(OutputWriteError) as info:
            write(out)
        _assert_disk_full(info.value, out)
        assert _leftovers(small_disk) == []


HDF5_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from jetdistill.runtime import setup_logging
    from jetdistill.data.splits import make_splits, SplitConfig, write_splits
    disk, log = Path(sys.argv[1]), Path(sys.argv[2])
    setup_logging(log)
    labels = np.arange(60_000) % 3
    splits = make_splits(labels, SplitConfig(), ["a", "b", "c"])
    write_splits(disk / "splits.h5", splits, labels, ["x.h5"], ["a", "b", "c"], "generic")
    print("NOT REACHED")
    """
)


def test_df05_hdf5_output_on_a_full_disk_exits_1_with_one_line(
    small_disk: Path, tmp_path: Path
) -> None:
    """The job exits 1 (not SIGSEGV: HDF5 write errors surface in destructors), its last log
    line says the disk is full and names splits.h5, and no temporary is left."""
    log = tmp_path / "job.log"
    proc = subprocess.run([sys.executable, "-c", HDF5_SCRIPT, str(small_disk), str(log)],
                          capture_output=True, text=True, timeout=120, env=snakemake_env(),
                          check=False)  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    text = log.read_text()
    assert "NOT REACHED" not in proc.stdout
    assert f"cannot write {small_disk / 'splits.h5'}: {DISK_FULL}" in text.splitlines()[-1], text
    assert "iostream" not in text and "Segmentation" not in text, text[-3000:]
    assert _leftovers(small_disk) == []


USAGE_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from jetdistill.runtime import record_usage_at_exit
    disk = Path(sys.argv[1])
    try:
        with open(disk / "filler", "wb") as fh:
            while True:
                fh.write(b"x" * 4096)
                fh.flush()
    except OSError:
        pass
    record_usage_at_exit(disk / "job.usage.json")
    """
)


def test_df06_usage_record_on_a_full_disk_leaves_no_tmp(small_disk: Path) -> None:
    """The job's resource record (written at exit) on a full disk: no record, no
    ``.job.usage.json.tmp``, and the job's own exit status is kept."""
    proc = subprocess.run([sys.executable, "-c", USAGE_SCRIPT, str(small_disk)],
                          capture_output=True, text=True, timeout=120, env=snakemake_env(),
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _leftovers(small_disk) == ["filler"]


def test_df07_dev_full_write_through_the_atomic_writer(tmp_path: Path) -> None:
    """Runs without root: /dev/full answers every write with ENOSPC."""
    out = tmp_path / "table.csv"
    with pytest.raises(OutputWriteError) as info, atomic_path(out), open("/dev/full", "wb") as fh:
        fh.write(b"x" * 65536)
        fh.flush()
    _assert_disk_full(info.value, out)
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- the docs
CASES: list[Callable[..., None]] = [f for n, f in sorted(globals().items())
                                    if re.match(r"test_(bv|df)\d\d_", n)]  # fmt: skip


def test_docs_section_lists_every_case() -> None:
    text = DOC.read_text()
    head = "## Data: bad values and a full disk"
    assert head in text
    section = text.split(head, 1)[1].split("\n## ", 1)[0]
    ids = sorted(f.__name__.split("_")[1].upper() for f in CASES)
    rows = sorted(re.findall(r"^\| (BV\d\d|DF\d\d) \|", section, flags=re.MULTILINE))
    assert rows == ids, set(rows) ^ set(ids)


def test_nested_atomic_write_error_names_the_output(tmp_path: Path) -> None:
    """A writer that writes its temporary atomically again: the error names the output, not
    the temporary, and nothing is left behind."""
    import errno

    from jetdistill.io import OutputWriteError, atomic_path

    out = tmp_path / "x.h5"
    with pytest.raises(OutputWriteError) as e, atomic_path(out) as tmp, atomic_path(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(out) in str(e.value) and ".tmp" not in str(e.value)
    assert not list(tmp_path.iterdir())
