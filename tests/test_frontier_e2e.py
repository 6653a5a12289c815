"""The per-weight-precision frontier on the finished tiny run (config/test.yaml): HGQ twins of
the MLP student, KD and solo, and the peer (JEDI-linear recipe), each a real MLflow job; every
design traced by da4ml and checked bit for bit against Keras and in Verilator; the Pareto set
synthesized by Yosys; the frontier table written by the report rule."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import clone_run, run_snakemake
from test_sweeps import AGGREGATIONS, planned_jobs

pytestmark = pytest.mark.slow

FRONTIER = {
    "study": "frontier-tiny",
    "models": {"jl": {"type": "jedi_linear", "view": "c4", "width": 4, "head": [4]}},
    "compression": {
        "per_weight": {
            "enabled": True,
            "students": ["mlp"],
            "modes": ["kd", "solo"],
            "betas": [1.0e-5],
            "seeds": [0],
            "epochs": 2,
            "batch_size": 64,
            "init_bits": 4,  # small designs: Yosys in seconds
            "verilator_samples": 20,
            "peer": {"model": "jl", "init_bits": 4, "modes": ["peer", "kd"]},
        }
    },
}
HGQ_RULES = {"train_hgq", "estimate_hgq_rtl", "synthesize_frontier", "report_chip_frontier"}


@pytest.fixture(scope="module")
def study(e2e_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = clone_run(e2e_workdir, tmp_path_factory.mktemp("frontier") / "run")
    (work / "study.yaml").write_text(yaml.safe_dump(FRONTIER))
    return work


def test_enabling_the_frontier_plans_only_its_jobs(study: Path) -> None:
    jobs = planned_jobs(study, config=FRONTIER)
    rules = [j["rule"] for j in jobs if j["rule"] not in AGGREGATIONS]
    assert set(rules) <= HGQ_RULES, set(rules) - HGQ_RULES
    assert rules.count("train_hgq") == 4 and rules.count("estimate_hgq_rtl") == 4


def test_the_frontier_runs_bit_exact_and_writes_its_table(study: Path) -> None:
    run_snakemake(study, "--cores", "2", "--configfile", "config/test.yaml", "study.yaml")
    res = study / "results"
    for mode, student in (("kd", "mlp"), ("solo", "mlp"), ("peer", "jl"), ("kd", "jl")):
        rec = json.loads(
            (res / f"fpga_hgq/{student}/{mode}/beta1e-05/default/seed0/metrics.json").read_text()
        )
        m = rec["metrics"]
        assert m["rtl_emulation_f32_agreement"] == 1.0 and m["rtl_exact_fraction"] == 1.0
        assert m["da4ml_cost_luts"] > 0 and m["latency_cycles"] >= 1
        hgq = json.loads(
            (res / f"hgq/{student}/{mode}/beta1e-05/default/seed0/metrics.json").read_text()
        )
        assert hgq["hgq_mode"] == mode and hgq["metrics"]["ebops"] > 0
    synth = json.loads((res / "studies/frontier-tiny/compression/frontier_synth.json").read_text())
    assert synth["mode"] == "pareto" and synth["designs"]  # each family's front has a design
    assert all(d["luts"] > 0 for d in synth["designs"])
    table = pd.read_csv(res / "studies/frontier-tiny/compression/chip_frontier.csv")
    assert set(table["hgq_mode"]) == {"kd", "solo", "peer"}
    assert table["bit_exact"].all() and table["pareto"].any()
    md = (res / "studies/frontier-tiny/compression/chip_frontier.md").read_text()
    assert "KD against solo" in md and "peer (JEDI-linear recipe)" in md
    assert "peer's recipe + our KD" in md
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{study / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.hgq_mode = 'peer'")
    assert len(runs) == 2  # the peer's training and its circuit
    assert [j["rule"] for j in planned_jobs(study, config=FRONTIER)] == []
