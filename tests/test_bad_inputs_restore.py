"""A bad input over a finished run loses no output, and the fix replans nothing.

Snakemake removes a job's outputs before it runs the job. A user's data file replaced by a bad
one is newer than ``splits.h5``, so before the parse-time data check
(:mod:`jetdistill.plan.checks_data`) the rerun removed the finished data stage and only then
did ``split_data`` refuse the file. Each ``slow`` case here spoils one input of a finished run
(a clone of the session's run on generic data, ``generic_workdir``), runs the real
``snakemake --cores 1`` and asserts: a nonzero exit within :data:`FAIL_WITHIN_S`, a message
naming the file, key or row, and every file under ``results/`` with its size and modification
time unchanged. Then the good input goes back and ``snakemake -n`` must say "Nothing to be
done". A fault of the tracking store only matters when a job runs: those cases force one
cheap job (``--forcerun summarize``), which must keep its outputs too (the store is opened
once, before the first job: ``onstart``). The cases sharing a clone share the final dry run.

The fast tests check the parse-time check itself: the job's words, the cached verdict, and
that generated data is not read. The ids (``KD..`` data, ``KT..`` tracking store, ``KN..``
names and repeated values, ``KF..`` a full disk) are the rows of the section "Finished
outputs kept" of ``docs/bad_inputs.md``; ``test_docs_section_lists_every_case`` keeps them in
step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import GENERIC_CONFIG, GENERIC_DATA, clone_run, snakemake_env
from conftest_data import generic_arrays, synthetic_jets, write_generic_file, write_hls4ml_file
from test_bad_inputs_config import _snapshot

from jetdistill.data.sources import open_checked
from jetdistill.errors import InputError
from jetdistill.plan import checks_data
from jetdistill.tracking import store

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad_inputs.md"
SECTION = "## Finished outputs kept"
#: the promise: every case fails within this many seconds (parsing alone takes ~5-10 s here)
FAIL_WITHIN_S = 60
#: a jet file that the data check scans (over the generic run, with data.source switched)
JETS = "data/jets_150p_0.h5"
HLS4ML = {"data": {"source": "hls4ml", "hls4ml": {"files": JETS}},
          "views": {"flat": {"features": ["j1_ptrel", "j1_etarel"], "n_constituents": 4}}}  # fmt: skip
SECRET = "pw-91b4-secret"
UNDECLARED = {"data": {"generic": {"class_names": []}}}  # classes from the largest label


def _good_arrays(work: Path) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(work / GENERIC_DATA) as f:
        return f["features"][...], f["labels"][...]


def _labels(row: int, value: int) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        x, y = _good_arrays(work)
        y[row] = value
        write_generic_file(work / GENERIC_DATA, x, y)

    return spoil


def _features(change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        x, y = _good_arrays(work)
        write_generic_file(work / GENERIC_DATA, change(x.copy()), y)

    return spoil


def _overflow(x: np.ndarray) -> np.ndarray:
    x[42, 3] = 1e300  # finite in the float64 file, inf once cast to the views' float32
    return x


def _jets(change: Callable[[np.ndarray], None]) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        cons, jets = synthetic_jets(10, max_constituents=10)
        change(cons)
        write_hls4ml_file(work / JETS, cons, jets)

    return spoil


def _zero_jets(cons: np.ndarray) -> None:
    cons[[3, 7]] = 0.0


def _huge_constituent(cons: np.ndarray) -> None:
    cons[13, 2, 5] = -4e38


#: (id, spoil the data, extra config, what the message must hold)
DATA_CASES = [
    ("KD01", _labels(17, 10**6), UNDECLARED,
     [f"{GENERIC_DATA}: dataset 'labels'", "1000000 at row 17", "data.generic.class_names"]),
    ("KD02", _labels(17, 10**9), UNDECLARED,
     [f"{GENERIC_DATA}: dataset 'labels'", "1000000000 at row 17", "at most 1000"]),
    ("KD03", _labels(4, 5), None,
     [f"{GENERIC_DATA}: dataset 'labels'", "labels in [0, 3)", "5 at row 4"]),
    ("KD04", _features(lambda x: np.zeros((len(x), 0))), None,
     [f"{GENERIC_DATA}: dataset 'features'", "every D >= 1", "got shape (600, 0)"]),
    ("KD05", _features(_overflow), None,
     [f"{GENERIC_DATA}: dataset 'features'", "overflow float32", "row 42 column 3 = 1e+300"]),
    ("KD06", _features(np.zeros_like), None,
     [f"{GENERIC_DATA}: dataset 'features'", "all 600 samples are zero"]),
    ("KD07", _jets(_zero_jets), HLS4ML,
     [f"{JETS}: dataset 'jetConstituentList'", "2 of 50 jets with every constituent zero"]),
    ("KD08", _jets(_huge_constituent), HLS4ML,
     [f"{JETS}: dataset 'jetConstituentList'", "overflow float32", "row 13 at [2, 5]"]),
]  # fmt: skip


def _snakemake(work: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """The real ``snakemake`` in ``work``: (exit status, console, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), *args], cwd=work,
                          env={**snakemake_env(), **(env or {})}, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


def _refused(work: Path, case: str, needles: list[str], *args: str, **kw: object) -> None:
    before = _snapshot(work)
    rc, out, took = _snakemake(work, "--cores", "1", "--configfile", GENERIC_CONFIG, *args, **kw)
    print(f"{case}: rc {rc} in {took:.1f} s")
    assert rc != 0, f"{case}: {out[-3000:]}"
    for needle in needles:
        assert needle in out, f"{case}: {needle!r} not in {out[-3000:]}"
    assert SECRET not in out, case
    assert took < FAIL_WITHIN_S, f"{case}: {took:.0f} s"
    assert _snapshot(work) == before, f"{case}: an output changed"


def _nothing_to_do(work: Path) -> None:
    rc, out, took = _snakemake(work, "-n", "--configfile", GENERIC_CONFIG)
    print(f"fixed: dry run in {took:.1f} s")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]


@pytest.mark.slow
def test_bad_data_over_a_finished_run_loses_nothing(generic_workdir: Path, tmp_path: Path) -> None:
    """KD01-KD08: refused while parsing; every output kept; the good file back plans nothing."""
    work = clone_run(generic_workdir, tmp_path / "run")
    good = tmp_path / "good.h5"
    shutil.copy2(work / GENERIC_DATA, good)
    before = _snapshot(work)
    assert any(p.endswith("data/splits.h5") for p in before)
    for case, spoil, extra, needles in DATA_CASES:
        spoil(work)
        args: list[str] = []
        if extra is not None:
            (work / f"{case}.yaml").write_text(yaml.safe_dump(extra))
            args = [f"{case}.yaml"]
        _refused(work, case, needles, *args)
        shutil.copy2(good, work / GENERIC_DATA)  # the good file, as it was (modification time)
    assert _snapshot(work) == before
    _nothing_to_do(work)


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_store_faults_and_bad_names_over_a_finished_run_lose_nothing(
    generic_workdir: Path, tmp_path: Path
) -> None:
    """KT01-KT02 with one job forced (the store is opened only when a job is to run); KT03,
    KT04 and KN01-KN05 refused while parsing: every output kept, the forced job's included;
    fixed, nothing planned."""
    work = clone_run(generic_workdir, tmp_path / "run")
    db = work / "mlflow.db"
    good = tmp_path / "mlflow.db.good"
    shutil.copy2(db, good)
    force = ("--forcerun", "summarize")
    # KT01: a damaged store
    db.write_bytes(np.random.default_rng(0).bytes(8192))
    _refused(work, "KT01", ["config: tracking.uri", f"{db} is not an SQLite database"], *force)
    shutil.copy2(good, db)
    # KT02: a store another process keeps locked (retried 4 s here, a minute by default)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        _refused(work, "KT02", ["config: tracking.uri", f"{db} still locked after"], *force,
                 env={store.ENV_LOCK_RETRY_S: "4"})  # fmt: skip
    finally:
        locker.kill()
        locker.wait(10)
    # KT03, KT04 and KN01-KN05: refused while parsing
    parse_cases = [
        ("KT03", {"tracking": {"experiment": ".."}}, ["config: tracking.experiment", "got '..'"]),
        ("KN01", {"data": {"generic": {"class_names": ["sig", "sig", "bkg"]}}},
         ["config: data.generic.class_names: expected each value once"]),
        ("KN02", {"seeds": [0, 0]}, ["config: seeds: expected each value once"]),
        ("KN03", {"models": {"small\n": {"type": "mlp", "view": "flat", "hidden": [4]}}},
         ["config: models ('small\\n'): expected names matching"]),
        ("KN04", {"distillation": {"temperatures": [4.0, 4.0000001]}},
         ["config: distillation.temperatures: expected each value once", "(both '4')"]),
        # KD jobs small x big_teacher and small_big x teacher: one log name
        ("KN05", {"models": {"small_big": {"type": "mlp", "view": "flat", "hidden": [4]}},
                  "teachers": {"teacher": {"members": [{"model": "big", "seed": 1}]}},
                  "students": ["small", "small_big"],
                  "distillation": {"teachers": ["big_teacher", "teacher"]}},
         ["config: names (models 'small' / 'small_big', teachers", "share the log name"]),
        ("KT04", {"tracking": {"uri": f"http://alice:{SECRET}@127.0.0.1:5998"}},
         ["config: tracking.uri: expected no credentials", "got http://***@127.0.0.1:5998"]),
    ]  # fmt: skip
    for case, extra, needles in parse_cases:
        (work / f"{case}.yaml").write_text(yaml.safe_dump(extra))
        _refused(work, case, needles, f"{case}.yaml", *force)
    _nothing_to_do(work)


#: a file-size limit (RLIMIT_FSIZE) above the store and the logs, below the soft targets of the
#: run's 1024-wide teacher: a job's write fails with EFBIG, as on a full disk
FSIZE_LIMIT = 2 << 20
FORCED = "compute_soft_targets"


def _limit_file_size() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def _planned(out: str) -> set[str]:
    """The rules of a dry run's "Job stats" table."""
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+$", table, flags=re.MULTILINE)}


@pytest.mark.slow
def test_full_disk_in_a_job_costs_that_job_only(generic_workdir: Path, tmp_path: Path) -> None:
    """KF01, what Snakemake makes impossible to keep: a job whose write fails (here a file-size
    limit, EFBIG, which the writers treat as a full disk) has lost its old outputs, removed by
    Snakemake before it started. Every other output is kept, nothing half-written is left, the
    next dry run plans nothing (the final outputs are complete) and the lost file, asked for, is
    that one job."""
    work = clone_run(generic_workdir, tmp_path / "run")
    big = next((work / "results").rglob("soft_targets/big_teacher.h5"))
    assert big.stat().st_size > FSIZE_LIMIT > (work / "mlflow.db").stat().st_size
    before = _snapshot(work)
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--configfile",
         GENERIC_CONFIG, "--forcerun", FORCED],
        cwd=work, env=snakemake_env(), capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    print(f"KF01: rc {proc.returncode} in {took:.1f} s")
    assert proc.returncode != 0 and f"Error in rule {FORCED}" in out, out[-3000:]
    assert took < FAIL_WITHIN_S, took
    log = next((work / "results").rglob(f"logs/{FORCED}/big_teacher.log")).read_text()
    # the line names the output (a temporary written atomically again is named by its output)
    wrote = r"cannot write \S*/soft_targets/\.?big_teacher\.h5\S*: File too large"
    assert re.search(wrote, log), log
    after = _snapshot(work)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed and all(FORCED in p or "soft_targets/big_teacher" in p for p in changed), changed
    assert not big.exists()  # lost: Snakemake removed it before the job ran
    left = list(big.parent.iterdir()) if big.parent.exists() else []
    assert not [p for p in left if ".tmp" in p.name], left  # nothing half-written
    # the final outputs are complete: Snakemake rebuilds a missing intermediate only for a job
    # that needs it, so nothing is planned; asked for, the lost file is that one job
    _nothing_to_do(work)
    rc, out, _ = _snakemake(work, "-n", str(big.relative_to(work)), "--configfile", GENERIC_CONFIG)
    assert rc == 0 and _planned(out) == {FORCED}, out[-3000:]


# --------------------------------------------------------------------------- the check itself
def _data_cfg(**generic: object) -> dict:
    return {"source": "generic", "generic": {"class_names": ["a", "b", "c"], **generic}}


def test_parse_time_check_says_what_the_job_says(tmp_path: Path) -> None:
    """The same function, so the same words: the label, shape, overflow and all-zero cases."""
    x, y = generic_arrays(n=600, d=5, k=3)
    bad_y, big_x = y.copy(), x.astype(np.float64)
    bad_y[4], big_x[42, 3] = 5, 1e300
    files = {
        "label": (x, bad_y), "shape": (np.zeros((600, 0)), y), "overflow": (big_x, y),
        "zeros": (np.zeros((600, 5)), y),
    }  # fmt: skip
    for name, (fx, fy) in files.items():
        path = write_generic_file(tmp_path / f"{name}.h5", fx, fy)
        with pytest.raises(InputError) as job:
            open_checked("generic", [str(path)], _data_cfg())
        t0 = time.monotonic()
        with pytest.raises(InputError) as parse:
            checks_data.check_files("generic", [str(path)], _data_cfg(), cache=tmp_path / "c.json")
        assert time.monotonic() - t0 < FAIL_WITHIN_S
        assert str(parse.value) == str(job.value) and str(path) in str(job.value), name


def test_unchanged_file_is_not_read_again_a_changed_one_is(tmp_path: Path) -> None:
    x, y = generic_arrays(n=600, d=5, k=3)
    path = str(write_generic_file(tmp_path / "data.h5", x, y))
    cache = tmp_path / ".snakemake" / "checks.json"
    assert checks_data.check_files("generic", [path], _data_cfg(), cache=cache)  # read
    assert not checks_data.check_files("generic", [path], _data_cfg(), cache=cache)  # cached
    # other settings the check reads: checked again
    assert checks_data.check_files("generic", [path], _data_cfg(class_names=["a", "b", "d"]),
                                   cache=cache)  # fmt: skip
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # touched: read again
    assert checks_data.check_files("generic", [path], _data_cfg(), cache=cache)
    y[4] = 5
    write_generic_file(path, x, y)  # spoilt: refused, and refused again (no verdict kept)
    for _ in range(2):
        with pytest.raises(InputError, match="5 at row 4"):
            checks_data.check_files("generic", [path], _data_cfg(), cache=cache)
    y[4] = 1
    write_generic_file(path, x, y)
    # a cache that cannot be written (its folder is a file) costs a re-read, never an error
    blocked = tmp_path / "afile"
    blocked.write_text("")
    assert checks_data.check_files("generic", [path], _data_cfg(), cache=blocked / "c.json")
    assert checks_data.check_files("generic", [path], _data_cfg(), cache=blocked / "c.json")


def test_jet_level_view_columns_are_scanned_as_prepare_view_scans_them(tmp_path: Path) -> None:
    """The generated columns (j_pt) pass; a NaN column the view uses (j_mass) is named."""
    cons, jets = synthetic_jets(10, max_constituents=10)
    path = str(write_hls4ml_file(tmp_path / "jets_150p_0.h5", cons, jets))
    data = {"source": "hls4ml"}
    checks_data.check_files("hls4ml", [path], data, {"hlf": ["j_pt", "j_multiplicity"]})
    with pytest.raises(InputError, match=r"dataset 'jets' column 'j_mass'.*nan at row 0"):
        checks_data.check_files("hls4ml", [path], data, {"hlf": ["j_pt", "j_mass"]})


def test_generated_data_is_not_read_and_no_cache_is_written(tmp_path: Path) -> None:
    from conftest import tiny_config_with

    checks_data.check_data_files(tiny_config_with({}), "results", root=tmp_path)
    assert not (tmp_path / ".snakemake").exists()


# --------------------------------------------------------------------------- the docs
def test_docs_section_lists_every_case() -> None:
    text = DOC.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    ids = (
        {c[0] for c in DATA_CASES}
        | {f"KT0{i}" for i in range(1, 5)}
        | {f"KN0{i}" for i in range(1, 6)}
        | {"KF01"}
    )
    rows = set(re.findall(r"^\| (K[DTNF]\d\d) \|", section, flags=re.MULTILINE))
    assert ids <= rows, ids - rows
