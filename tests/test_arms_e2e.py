"""A two-arm study on the finished tiny run (config/test.yaml): adding an arm plans only that
arm's student jobs and the study's own tables, the real jobs run, and the comparison table
(under results/studies/<study>/), the job records and MLflow carry the arm, each KD arm paired
with its own solo twin."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import clone_run, run_snakemake
from test_sweeps import AGGREGATIONS, planned_jobs

pytestmark = pytest.mark.slow

#: the study's second arm: a longer budget for KD students and their solo twins alike, one
#: temperature (the arm's own KD grid)
STUDY = {
    "study": "two-arms",
    "distillation": {
        "arms": {
            "longer": {
                "training": {"student": {"epochs": 3}, "distill": {"epochs": 3}},
                "temperatures": [4.0],
            }
        }
    },
}


@pytest.fixture(scope="module")
def study(e2e_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = clone_run(e2e_workdir, tmp_path_factory.mktemp("arms") / "run")
    (work / "study.yaml").write_text(yaml.safe_dump(STUDY))
    return work


def test_adding_an_arm_plans_only_its_student_jobs(study: Path) -> None:
    jobs = planned_jobs(study, config=STUDY)
    students = [j for j in jobs if j["rule"] not in AGGREGATIONS]
    assert {j["rule"] for j in students} == {"distill_student", "train_student_solo"}
    assert all("/longer/" in j["output"][0] for j in students)
    # 2 students x 2 seeds, KD at one temperature, and their solo twins (the budget differs)
    assert sum(j["rule"] == "distill_student" for j in students) == 4
    assert sum(j["rule"] == "train_student_solo" for j in students) == 4


def test_the_study_runs_and_its_table_puts_the_arms_side_by_side(study: Path) -> None:
    run_snakemake(study, "--cores", "2", "--configfile", "config/test.yaml", "study.yaml")
    tables = study / "results" / "studies" / "two-arms"  # the run's own tables stay as they were
    table = pd.read_csv(tables / "comparison" / "kd_vs_solo.csv")
    longer = table[table["arm"] == "longer"]
    assert set(table["arm"]) == {"default", "longer"}
    assert len(longer) == 2 and (longer["solo_arm"] == "longer").all()
    assert (longer["n_seeds"] == 2).all()
    md = (tables / "comparison" / "kd_vs_solo.md").read_text()
    assert "| longer |" in md
    # the record of one job names its arm and its solo twin's; the budget reached the job
    kd_dir = study / "results/students/kd/mlp/jedi/hinton/T4_a0.1/longer/seed0"
    rec = json.loads((kd_dir / "metrics.json").read_text())
    assert rec["arm"] == "longer" and rec["solo_arm"] == "longer"
    assert len(pd.read_csv(kd_dir / "history.csv")) == 3
    # every job is an MLflow run tagged with its arm
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{study / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.arm = 'longer'")
    assert len(runs) == 8
    assert set(runs["params.arm"]) == {"longer"}
    # a finished study plans nothing more, and the run without the study nothing either
    assert [j["rule"] for j in planned_jobs(study, config=STUDY)] == []
    assert [j["rule"] for j in planned_jobs(study)] == []
