"""Specialists and the feature hint through the real rules, on a copy of the finished tiny run.

Kept out of config/test.yaml (the e2e run stays as it was): a small overlay config adds the
generalist's specialists and the ``hint`` loss, and only the jobs they need run (the groups,
two specialists, their combination and two hint KD students), on the tiny run's teacher.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import yaml
from conftest import clone_run, run_snakemake

OVERLAY = {
    "teachers": {"jedi": {"specialists": {"enabled": True, "epochs": 1, "combine_steps": 200}}},
    "distillation": {"teachers": ["jedi", "jedi_spec"], "methods": ["hinton", "hint"]},
}


def test_specialists_and_hint_run_on_the_tiny_run(e2e_workdir: Path, tmp_path: Path):
    work = clone_run(e2e_workdir, tmp_path / "work")
    (work / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    res = work / "results"
    targets = [
        "results/soft_targets/jedi_spec.metrics.json",
        "results/students/kd/mlp/jedi/hint/T4_a0.1/default/seed0/metrics.json",
        "results/students/kd/mlp/jedi_spec/hint/T4_a0.1/default/seed0/metrics.json",
    ]
    proc = run_snakemake(work, "--cores", "2", "--configfile", "config/test.yaml", "overlay.yaml",
                         "--", *targets)  # fmt: skip
    # only the new jobs ran: the trained teacher and its soft targets were reused
    text = proc.stdout + proc.stderr
    assert "(Rule: train_teacher)" not in text
    assert "(Rule: compute_soft_targets)" not in text
    assert text.count("(Rule: train_specialist)") == 2

    groups = json.loads((res / "teachers/jedi/specialist_groups.json").read_text())
    assert len(groups["groups"]) == 2 and groups["source"] == "auto"
    flat = [c for g in groups["groups"] for c in g]
    assert len(flat) == len(set(flat)) == 4  # two disjoint pairs of the 5 classes

    rec = json.loads((res / "soft_targets/jedi_spec.metrics.json").read_text())
    m = rec["metrics"]
    assert 0.0 <= m["test_accuracy"] <= 1.0 and 0.0 <= m["generalist_accuracy"] <= 1.0
    assert m["delta_accuracy"] == m["test_accuracy"] - m["generalist_accuracy"]
    with (
        h5py.File(res / "soft_targets/jedi_spec.h5") as spec,
        h5py.File(res / "soft_targets/jedi.h5") as gen,
    ):
        for split in ("transfer", "val", "test"):
            np.testing.assert_array_equal(spec[split]["index"][()], gen[split]["index"][()])
            np.testing.assert_array_equal(spec[split]["embedding"][()], gen[split]["embedding"][()])
            q = np.exp(spec[split]["logits"][()].astype(np.float64))
            np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-5)
            # where no specialist is active the combination is the generalist
            idle = ~spec[split]["active"][()].any(axis=1)
            z_g = gen[split]["logits"][()].astype(np.float64)
            p_g = np.exp(z_g - z_g.max(1, keepdims=True))
            p_g /= p_g.sum(1, keepdims=True)
            np.testing.assert_allclose(q[idle], p_g[idle], atol=1e-5)
        # the tiny teacher: two members, each phi_C hidden layer 8 wide, concatenated
        assert gen["test"]["embedding"].shape[1] == gen.attrs["embedding_dim"] == 16

    for teacher in ("jedi", "jedi_spec"):
        kd = json.loads(
            (res / f"students/kd/mlp/{teacher}/hint/T4_a0.1/default/seed0/metrics.json").read_text()
        )
        assert kd["metrics"]["test_accuracy"] > 0.0
        assert kd["kd_method"] == "hint" and kd["teacher"] == teacher
