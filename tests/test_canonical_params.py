"""Only values decide a rerun, on the cheapest real run: the data stage of config/test.yaml
(5 generated shards, the splits, one view; about a minute on 2 cores). A config written
back with its keys sorted (``yaml.safe_dump``) and its numbers spelled otherwise plans
nothing; a changed value still reruns. tests/test_sweeps.py checks the same on the full
run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.slow

TARGET = "results/data/views/c4/norm.json"


@pytest.fixture(scope="module")
def data_stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("data_stage"))
    run_snakemake(work, TARGET, "--cores", "2", "--configfile", "config/test.yaml")
    return work


def planned(work: Path, *configfiles: str) -> list[str]:
    proc = run_snakemake(work, TARGET, "-n", "--configfile", *configfiles)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("rule ")]


def test_sorted_keys_and_respelled_numbers_rerun_nothing(data_stage: Path):
    cfg = yaml.safe_load((data_stage / "config" / "test.yaml").read_text())
    cfg["data"]["generate"]["pt_min"] = 900.0  # the default's 900.0, here spelled 900
    text = yaml.safe_dump(cfg).replace("pt_min: 900.0", "pt_min: 900")
    (data_stage / "sorted.yaml").write_text(text)  # safe_dump sorts the keys
    assert planned(data_stage, "sorted.yaml") == []


def test_a_changed_value_still_reruns(data_stage: Path):
    (data_stage / "chunk.yaml").write_text("data: {generate: {chunk_size: 51}}\n")
    rules = planned(data_stage, "config/test.yaml", "chunk.yaml")
    assert rules.count("rule generate_jets:") == 5, rules
