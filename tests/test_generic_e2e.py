"""Any data: an HDF5 file with a features array and integer labels runs through the same DAG.

Teacher and students are MLPs; compression and FPGA stages are switched off by config.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.slow


def _write_generic(path: Path, n: int = 1200, d: int = 12, k: int = 3, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(0, 1.5, (k, d))
    x = centres[y] + rng.normal(0, 1.0, (n, d))
    with h5py.File(path, "w") as f:
        f["X"] = x.astype(np.float64)
        f["target"] = y.astype(np.int64)


def test_generic_hdf5_runs_teacher_soft_targets_and_students(tmp_path: Path):
    work = copy_workflow(tmp_path / "wf")
    _write_generic(work / "blobs.h5")
    cfg = {
        "data": {"source": "generic",
                 "generic": {"file": "blobs.h5", "features_key": "X", "labels_key": "target",
                             "class_names": ["a", "b", "c"]}},
        "views": {"flat": {"features": ["all"]}},
        "models": {"big": {"type": "mlp", "view": "flat", "hidden": [32, 32]},
                   "small": {"type": "mlp", "view": "flat", "hidden": [4]}},
        "teachers": {"t": {"members": [{"model": "big", "seed": 0}]}},
        "students": ["small"],
        "seeds": [0],
        "training": {k: {"epochs": 3, "patience": 0, "batch_size": 64}
                     for k in ("teacher", "student", "distill", "qat")},
        "distillation": {"teachers": ["t"], "temperatures": [2.0], "alphas": [0.5]},
        "compression": {"enabled": False},
        "fpga": {"enabled": False},
    }  # fmt: skip
    (work / "config" / "generic.yaml").write_text(yaml.safe_dump(cfg))
    # a standalone config: point Snakemake at it instead of merging over the jet defaults
    (work / "Snakefile").write_text(
        (work / "Snakefile").read_text().replace("config/config.yaml", "config/generic.yaml")
    )
    run_snakemake(work, "--cores", "2")
    res = work / "results"
    with h5py.File(res / "data/views/flat/test.h5") as f:
        assert f["X"].shape[1:] == (12,)
        assert json.loads(f.attrs["class_names"]) == ["a", "b", "c"]
    teacher = json.loads((res / "soft_targets/t.metrics.json").read_text())["metrics"]
    assert teacher["test_accuracy"] > 0.8  # well-separated blobs
    table = pd.read_csv(res / "comparison/kd_vs_solo.csv")
    assert len(table) == 1
    assert (res / "summary.csv").exists()
