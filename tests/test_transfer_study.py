"""The knowledge-transfer study config (issue 21 item 7) is a config Snakemake accepts, and it
plans what it says: every student type solo and distilled, the KD students and their solo
twins on the same transfer set under the same budget, no compression or FPGA jobs. A real
``snakemake -n`` (parse-time checks, schema, DAG) in a copy of the workflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import copy_workflow, run_snakemake

from jetdistill import plan

REPO = Path(__file__).resolve().parents[1]
STUDY = "config/studies/transfer.yaml"


def _merged() -> dict:
    """config.yaml <- the study, merged as Snakemake merges --configfile (dicts key by key)."""

    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return merge(base, yaml.safe_load((REPO / STUDY).read_text()))


def test_study_gives_kd_and_solo_the_same_budget_and_jets() -> None:
    cfg = _merged()
    tr = cfg["training"]
    for key in plan.BUDGET_KEYS:
        assert tr["student"][key] == tr["distill"][key], key
    assert tr["distill"]["epochs"] > 40  # patient: longer than the default run's cap
    for student in cfg["students"]:  # per-student budgets too: every student the same here
        assert plan.student_training(cfg, "distill", student)["epochs"] == tr["distill"]["epochs"]
    assert plan.transfer_splits(cfg) == ["transfer", "teacher_train"]


def test_snakemake_dry_run_accepts_the_study_and_plans_its_grid(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", STUDY, timeout=600)
    text = proc.stdout + proc.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    cfg = _merged()
    students, seeds = cfg["students"], cfg["seeds"]
    d = cfg["distillation"]
    n_kd = len(students) * len(d["methods"]) * len(d["temperatures"]) * len(d["alphas"])
    assert counts["distill_student"] == n_kd * len(d["teachers"]) * len(seeds) == 96
    assert counts["train_specialist"] == 2 and counts["combine_specialists"] == 1
    assert counts["train_student_solo"] == (len(students) + 1) * len(seeds)  # + hlf_mlp
    assert counts["train_teacher"] == 1 and counts["compute_soft_targets"] == 1
    for rule in ("train_qat", "convert_hls", "estimate_rtl", "distill_student_fraction"):
        assert rule not in counts, rule
    assert "results/studies/transfer/students/kd/set16/" in text
