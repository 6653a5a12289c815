"""Hinton's digits experiment (config/examples/digits.yaml) through the generic-data path.

The example runs as a user would run it (scikit-learn's bundled 8x8 digits, the schema's
training defaults, 3 student seeds): the teacher, trained to convergence, makes fewer test
errors than the solo student, the KD student fewer than the solo one, and with the digit 3
left out of the transfer set the workflow itself reports how many 3s each student gets right.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import copy_workflow, run_snakemake

from jetdistill.examples import write_digits


def test_write_digits_generic_layout(tmp_path: Path) -> None:
    info = write_digits(tmp_path / "d" / "digits.h5")
    assert info == {"n": 1797, "n_features": 64}
    with h5py.File(tmp_path / "d" / "digits.h5") as f:
        x, y = f["features"][...], f["labels"][...]
    assert x.shape == (1797, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 16
    assert y.dtype == np.int64 and np.bincount(y).tolist()[3] == 183 and set(y) == set(range(10))


def _figures(res: Path) -> dict:
    n_test = int(h5py.File(res / "data/views/pixels/test.h5")["y"].shape[0])
    teacher = json.loads((res / "soft_targets/mlp.metrics.json").read_text())["metrics"]
    row = pd.read_csv(res / "comparison/kd_vs_solo.csv").iloc[0]
    out = {
        "n_test": n_test,
        "teacher_errors": round((1 - teacher["test_accuracy"]) * n_test),
        "solo_errors_mean": (1 - row["solo_accuracy_mean"]) * n_test,
        "kd_errors_mean": (1 - row["kd_accuracy_mean"]) * n_test,
        "n_seeds": int(row["n_seeds"]),
    }
    if "solo_recall_3_mean" in row:
        out.update(teacher_recall_3=row["teacher_recall_3"], solo_recall_3=row["solo_recall_3_mean"],
                   kd_recall_3=row["kd_recall_3_mean"])  # fmt: skip
    return out


@pytest.mark.slow
def test_digits_example_teacher_beats_solo_and_kd_beats_solo(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    write_digits(work / "data" / "digits.h5")
    base = ("--cores", "2", "--configfile", "config/examples/digits.yaml")
    run_snakemake(work, *base)
    fig = _figures(work / "results" / "digits")
    print("digits:", json.dumps(fig))
    assert fig["n_seeds"] == 3
    assert fig["teacher_errors"] < fig["solo_errors_mean"]
    assert fig["kd_errors_mean"] < fig["solo_errors_mean"]

    run_snakemake(work, *base, "config/examples/digits_omit3.yaml")
    res = work / "results" / "digits_omit3"
    omit = _figures(res)
    print("digits, 3 omitted from transfer:", json.dumps(omit))
    assert omit["solo_recall_3"] < 0.05  # never saw a 3, hardly ever predicts one
    assert omit["kd_recall_3"] > omit["solo_recall_3"] + 0.2  # learnt from the soft targets
    md = (res / "comparison/kd_vs_solo.md").read_text()
    assert "omitted class" in md and "| 3 |" in md
    solo = json.loads(
        next((res / "students/solo/student").glob("default/seed0/metrics.json")).read_text()
    )
    assert "test_recall_3" in solo["metrics"]  # per class, in every student's record
