"""The chip study config (the <= 15k-LUT design at its measured recipe) is a config Snakemake
accepts, and it plans what its header says: the arm with 10x unlabelled jets, the compression
stage on that arm (solo and KD at one point over three seeds) and an RTL estimate of every
seed. A real ``snakemake -n`` in a copy of the workflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import copy_workflow, run_snakemake

REPO = Path(__file__).resolve().parents[1]
STUDY = "config/studies/chip.yaml"


def test_chip_study_plans_its_design(tmp_path: Path) -> None:
    study = yaml.safe_load((REPO / STUDY).read_text())
    assert study["distillation"]["arms"]["unlabelled10"]["unlabelled"]["multiple"] == 10
    assert study["compression"]["arm"] == "unlabelled10"
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    c = base["compression"]  # the point is the default run's
    assert (c["students"], c["bits"], c["activation_bits"], c["cost_penalties"]) == (
        ["mlp32"], [6], 5, [0.003],
    )  # fmt: skip
    assert (c["input_scaling"], c["kd_targets"]) == ("per_input", "float_student")
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", STUDY, timeout=600)
    text = proc.stdout + proc.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    assert counts["distill_student"] == 6  # the default arm's and the 10x arm's, 3 seeds
    assert counts["train_student_solo"] == 6  # mlp32 and hlf_mlp (the 10x arm shares them)
    assert counts["train_qat"] == 6  # solo and KD, 3 seeds, one point
    assert counts["convert_hls"] == 1 and counts["estimate_rtl"] == 6
    assert counts["compute_unlabelled_soft_targets"] == 2  # 3x and 10x
    assert "results/students/kd/mlp32/jedi/hinton/T4_a0.1/unlabelled10/" in text
    assert "b6_s0.3_c0.003/unlabelled10/" in text  # the QAT point and its FPGA target
    assert "results/studies/chip/compression/frontier.md" in text
