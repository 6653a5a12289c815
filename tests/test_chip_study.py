"""The chip study config (issue 20's <= 15k-LUT design) is a config Snakemake accepts, and it
plans what its header says: the small MLP distilled with 10x unlabelled jets, solo and KD QAT at
one point over three seeds, one FPGA target. A real ``snakemake -n`` in a copy of the workflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import copy_workflow, run_snakemake

REPO = Path(__file__).resolve().parents[1]
STUDY = "config/studies/chip.yaml"


def test_chip_study_plans_its_design(tmp_path: Path) -> None:
    study = yaml.safe_load((REPO / STUDY).read_text())
    assert study["distillation"]["unlabelled"]["multiple"] == 10
    assert study["compression"]["students"] == study["students"] == ["mlp32"]
    c = study["compression"]
    assert (c["bits"], c["activation_bits"], c["cost_penalties"]) == ([6], 5, [0.003])
    assert (c["input_scaling"], c["kd_targets"]) == ("per_input", "float_student")
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", STUDY, timeout=600)
    text = proc.stdout + proc.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    assert counts["distill_student"] == 3  # Hinton T=4, 3 seeds
    assert counts["train_student_solo"] == 3 and counts["train_student_solo_all"] == 3
    assert counts["train_qat"] == 6  # solo and KD, 3 seeds, one point
    assert counts["convert_hls"] == 1 and counts["estimate_rtl"] == 1
    assert counts["compute_unlabelled_soft_targets"] == 1
    assert "results/students/kd/mlp32/" in text
    assert "b6_s0.3_c0.003" in text  # the QAT point and its FPGA target
    assert "learning_curve" not in text
