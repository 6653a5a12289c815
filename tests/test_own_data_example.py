"""The "your own data and models" config of config/README.md runs as printed, on generic data,
without redefining any name of the default (jet) config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_workflow, run_snakemake
from conftest_data import write_generic_file

pytestmark = pytest.mark.slow


def readme_example() -> str:
    text = (REPO / "config" / "README.md").read_text()
    m = re.search(r"<!-- own-data-example -->\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert m, "config/README.md lost its own-data example block"
    return m.group(1)


def test_readme_example_parses_and_needs_no_default_names() -> None:
    cfg = yaml.safe_load(readme_example())
    assert cfg["replace"] == ["views", "models", "teachers"]
    assert set(cfg["models"]) == {"big", "small"} and cfg["students"] == ["small"]


def test_own_data_example_runs_on_generic_data(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    (work / "my.yaml").write_text(readme_example())
    # only to keep the test short: one seed, a few epochs
    fast = {"seeds": [0], "training": {r: {"epochs": 8} for r in ("teacher", "student", "distill")},
            "learning_curve": {"enabled": False}}  # fmt: skip
    (work / "fast.yaml").write_text(yaml.safe_dump(fast))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 900)
    x = (rng.normal(0, 1.5, (3, 10))[y] + rng.normal(0, 1.0, (900, 10))).astype(np.float32)
    write_generic_file(work / "data" / "my_data.h5", x, y)
    run_snakemake(work, "--cores", "2", "--configfile", "my.yaml", "fast.yaml")
    res = work / "results" / "mine"
    assert sorted(p.name for p in (res / "teachers").iterdir()) == ["big_teacher"]
    teacher = json.loads((res / "soft_targets" / "big_teacher.metrics.json").read_text())["metrics"]
    assert teacher["test_accuracy"] > 0.8
    assert {f"test_recall_{c}" for c in ("signal", "background", "other")} <= set(teacher)
    table = pd.read_csv(res / "comparison" / "kd_vs_solo.csv")
    assert table[["student", "teacher"]].values.tolist() == [["small", "big_teacher"]]
    norm = json.loads((res / "data" / "views" / "flat" / "norm.json").read_text())
    assert norm["method"] == "standard"
