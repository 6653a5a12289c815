"""A failing job writes its traceback and the one-line error to its rule's log file.

Without it Snakemake reports ``Logfile ...: empty file`` and, on SLURM, the error is only in
the job's console output. Provoked through the real Snakemake DAG: a generic data file
with a NaN feature fails the ``split_data`` job (the value check needs a pass over the data).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import copy_workflow, run_snakemake
from conftest_data import generic_arrays, write_generic_file

from jetdistill.errors import InputError
from jetdistill.runtime import error_line, log_uncaught, setup_logging


def test_uncaught_error_goes_to_the_log_file_with_traceback(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "job.log"
    setup_logging(log_path)
    try:
        assert sys.excepthook is log_uncaught
        try:
            raise InputError("data.h5: dataset 'labels'", "integer labels", "floats")
        except InputError as exc:
            log_uncaught(type(exc), exc, exc.__traceback__)
        text = log_path.read_text()
        assert "Traceback (most recent call last)" in text
        assert 'raise InputError("data.h5' in text  # the source line of the traceback
        last = text.strip().splitlines()[-1]
        assert last.endswith(
            "ERROR InputError: data.h5: dataset 'labels': expected integer labels, got floats"
        )
    finally:
        sys.excepthook = sys.__excepthook__
        logging.getLogger().handlers.clear()


def test_error_line_is_one_line() -> None:
    assert error_line(ValueError("first\nsecond")) == "ValueError: first"
    assert error_line(KeyError()) == "KeyError"


@pytest.mark.slow
def test_failing_job_traceback_is_in_its_rule_log(tmp_path: Path) -> None:
    """A job that fails at run time. Bad data is refused while the workflow is parsed
    (plan.checks_data), so the file is made bad after a dry run has checked it, keeping its
    size and modification time: the cached verdict stands and the split_data job meets it."""
    import os

    import h5py

    work = copy_workflow(tmp_path / "wf")
    x, y = generic_arrays(120, d=4, k=2)
    path = write_generic_file(work / "data" / "bad.h5", x, y)
    cfg = {
        "replace": ["views", "models", "teachers"],
        "data": {"source": "generic", "generic": {"file": "data/bad.h5"}},
        "views": {"flat": {}},
        "models": {"t": {"type": "mlp", "view": "flat", "hidden": [8]},
                   "s": {"type": "mlp", "view": "flat", "hidden": [4]}},
        "teachers": {"t": {"members": [{"model": "t"}]}},
        "students": ["s"], "seeds": [0],
        "distillation": {"teachers": ["t"], "unlabelled": {"multiple": 0}},
        "compression": {"enabled": False}, "fpga": {"enabled": False},
    }  # fmt: skip
    (work / "bad.yaml").write_text(yaml.safe_dump(cfg))
    run_snakemake(work, "-n", "--configfile", "bad.yaml")  # checked and cached as good
    st = path.stat()
    with h5py.File(path, "r+") as f:
        f["features"][17, 2] = np.nan
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    proc = run_snakemake(work, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    log = (work / "results" / "logs" / "split_data.log").read_text()
    assert "Traceback (most recent call last)" in log
    last = log.strip().splitlines()[-1]
    assert "ERROR InputError:" in last and "data/bad.h5" in last and "NaN/inf" in last
    assert "empty file" not in proc.stdout + proc.stderr
