"""The knowledge-transfer study config is a config Snakemake accepts, and it plans what it
says: every arm's KD students, solo twins only where an arm changes what a solo student
reads, the study's own table, no compression or FPGA jobs. A real ``snakemake -n``
(parse-time checks, schema, DAG) in a copy of the workflow."""

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


def test_each_arm_changes_one_thing_and_twins_share_budgets() -> None:
    cfg = _merged()
    arms = plan.arm_names(cfg)
    assert arms[0] == "default" and {"patient", "teacher-train", "unlabelled3"} <= set(arms)
    for arm in arms:
        c = plan.arm_config(cfg, arm)
        for student in cfg["students"]:  # KD and solo twin: one budget in every arm
            kd = plan.student_training(c, "distill", student)
            solo = plan.student_training(c, "student", student)
            assert [kd[k] for k in plan.BUDGET_KEYS] == [solo[k] for k in plan.BUDGET_KEYS]
    assert plan.transfer_splits(plan.arm_config(cfg, "teacher-train")) == [
        "transfer", "teacher_train",
    ]  # fmt: skip
    # an arm of the KD side only is paired with the default arm's solo students
    assert plan.solo_arm(cfg, "unlabelled3", "mlp16") == "default"
    assert plan.solo_arm(cfg, "patient", "mlp16") == "patient"
    assert plan.solo_arm(cfg, "patient", "set16") == "default"  # set16's own 120-epoch budget


def test_snakemake_dry_run_accepts_the_study_and_plans_its_grid(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", STUDY, timeout=600)
    text = proc.stdout + proc.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    cfg = _merged()
    assert counts["distill_student"] == len(plan.kd_jobs(cfg)) == 11 * 3 * 3
    assert counts["train_student_solo"] == len(plan.solo_jobs(cfg)) == 30
    assert counts["train_specialist"] == 2 and counts["combine_specialists"] == 1
    assert counts["train_teacher"] == 1 and counts["compute_soft_targets"] == 1
    assert counts["compute_unlabelled_soft_targets"] == 3  # 1x, 3x and 10x
    for rule in ("train_qat", "convert_hls", "estimate_rtl", "distill_student_fraction"):
        assert rule not in counts, rule
    assert "results/students/kd/set16/jedi_spec/hinton/T4_a0.1/specialists/" in text
    assert "results/studies/transfer/comparison/kd_vs_solo.md" in text
