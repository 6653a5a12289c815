"""Config validation (schema + cross-reference checks) and the expansion of sweeps into jobs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load(name: str = "config.yaml", extra: dict | None = None) -> dict:
    cfg = yaml.safe_load((REPO / "config" / name).read_text())
    if extra:
        cfg = _merge(cfg, extra)
    validate(cfg, str(SCHEMA))
    return cfg


def _merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def test_default_config_is_valid_and_fills_defaults():
    cfg = load()
    plan.check_config(cfg)
    assert cfg["tracking"]["uri"] == "sqlite:///mlflow.db"
    assert cfg["training"]["distill"]["optimizer"] == "adamw"
    assert cfg["training"]["distill"]["grad_clip"] > 0
    assert cfg["data"]["splits"]["overlap_transfer_with_teacher"] is False


def test_test_config_merged_over_default_is_valid():
    cfg = load("config.yaml", yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    plan.check_config(cfg)
    assert len(plan.kd_jobs(cfg)) == 8  # 2 students (mlp, st) x 2 T x 2 seeds
    assert len(plan.solo_jobs(cfg)) == 6  # the 2 students and the hlf_mlp baseline x 2 seeds


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"unknown_key": 1}, "unknown_key"),
        ({"data": {"source": "parquet"}}, "parquet"),
        ({"data": {"splits": {"val": 1.5}}}, "1.5"),
        ({"training": {"student": {"optimizer": "adam"}}}, "adam"),
        ({"distillation": {"temperatures": [0]}}, "0"),
    ],
)
def test_schema_rejects_bad_values(extra, field):
    with pytest.raises(Exception, match=field):
        load("config.yaml", extra)


@pytest.mark.parametrize(
    "extra, where",
    [
        ({"models": {"mlp32": {"type": "mlp", "view": "nope"}}}, "models.mlp32.view"),
        ({"students": ["mlp16", "ghost"]}, r"students\[1\]"),
        ({"views": {"c16": {"features": ["j1_ptrel", "j1_bogus"]}}}, "views.c16.features"),
        ({"data": {"splits": {"teacher_train": 0.6, "transfer": 0.4}}}, "data.splits"),
        (
            {"teachers": {"jedi": {"members": [{"model": "nope"}]}}},
            r"teachers.jedi.members\[0\].model",
        ),
        (
            {
                "fpga": {
                    "targets": [{"student": "mlp16", "mode": "kd", "bits": 3, "sparsity": 0.75}]
                }
            },
            r"fpga.targets\[0\]",
        ),
        ({"data": {"splits": {"exclude_from_transfer": ["higgs"]}}}, "exclude_from_transfer"),
        (
            {
                "data": {"source": "hls4ml", "hls4ml": {"files": "/nonexistent/*_150p_*.h5"}},
                "distillation": {"unlabelled": {"multiple": 0}},
            },
            "data.hls4ml.files",
        ),
    ],
)
def test_cross_reference_errors_name_the_field(extra, where):
    cfg = load("config.yaml", extra)
    with pytest.raises(InputError, match=where):
        plan.check_config(cfg)
        plan.source_files(cfg, "results")


def test_overlap_allows_fractions_above_one():
    extra = {"data": {"splits": {"teacher_train": 0.6, "transfer": 0.4, "val": 0.1, "test": 0.2,
                                 "overlap_transfer_with_teacher": True}}}  # fmt: skip
    plan.check_config(load("config.yaml", extra))


def test_kd_grid_and_paths_are_canonical():
    cfg = load("config.yaml", {"distillation": {"temperatures": [4.0, 20], "alphas": [0.1, 0.5]}})
    jobs = plan.kd_jobs(cfg)
    assert len(jobs) == len(cfg["students"]) * 2 * 2 * len(cfg["seeds"])
    assert {j.T for j in jobs} == {"4", "20"}
    assert {j.alpha for j in jobs} == {"0.1", "0.5"}


def test_generated_source_files_cover_every_class_and_shard():
    cfg = load()
    files = plan.source_files(cfg, "R")
    assert len(files) == 5 * cfg["data"]["generate"]["shards"]
    assert files[0] == "R/data/raw/gluon_0.h5"


# --------------------------------------------------------------------------- canonical settings
def test_job_settings_compare_by_value_not_by_spelling():
    """Snakemake compares a param by its repr: key order and 1 vs 1.0 must not count."""
    a = plan.job_settings({"lr": 0.001, "epochs": 2, "nested": {"b": 1, "a": [1.0, 4]}})
    b = plan.job_settings({"nested": {"a": [1, 4.0], "b": 1.0}, "epochs": 2.0, "lr": 1.0e-03})
    assert repr(a) == repr(b) == "{'epochs': 2, 'lr': 0.001, 'nested': {'a': [1, 4], 'b': 1}}"
    assert a == b and isinstance(a, dict)  # the job sees a plain dict with the config's values
    assert list(b) == ["nested", "epochs", "lr"]  # content left in the config's order


@pytest.mark.parametrize(
    "other",
    [{"lr": 0.002}, {"lr": "0.001"}, {"lr": 0.001, "x": None}, {"lr": True}, {"LR": 0.001}],
)
def test_job_settings_differ_when_a_value_differs(other):
    assert repr(plan.job_settings({"lr": 0.001})) != repr(plan.job_settings(other))


def test_every_settings_builder_is_canonical():
    cfg = load("config.yaml", yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    built = [plan.shard_settings(cfg), plan.data_settings(cfg), plan.hls_settings(cfg),
             plan.rtl_settings(cfg), plan.frontier_kd_reference(cfg),
             plan.qat_settings(cfg, "kd", "0.5"), plan.kd_settings(cfg, "hinton", "4", "0.1")]  # fmt: skip
    assert all(isinstance(s, plan.JobSettings) for s in built)


#: an MLP and a set student at one compression point, both FPGA targets
TWO_CHIPS = {
    "students": ["mlp16", "set16"],
    "compression": {"students": ["mlp16", "set16"], "bits": [5], "sparsities": [0.87],
                    "cost_penalties": [0.0]},
    "fpga": {"targets": [{"student": "mlp16", "mode": "kd", "bits": 5, "sparsity": 0.87},
                         {"student": "set16", "mode": "kd", "bits": 5, "sparsity": 0.87}],
             "float_students": ["mlp16"]},
}  # fmt: skip


def _two_chips(fpga: dict) -> dict:
    return load(extra={**TWO_CHIPS, "fpga": {**TWO_CHIPS["fpga"], **fpga}})


def test_chip_students_and_the_frontier_rtl_jobs():
    """With mlp16 and set16 as chip students, the set student reaches the chip through RTL
    only, and fpga.frontier_seeds adds an RTL estimate for every QAT point of seed 0 (off by
    default: a Yosys run per design)."""
    assert load()["fpga"]["frontier_seeds"] == []
    cfg = _two_chips({"frontier_seeds": [0]})
    plan.check_config(cfg)
    assert "set16" in cfg["students"] and cfg["compression"]["students"] == ["mlp16", "set16"]
    assert plan.fpga_backends(cfg, "set16") == ("rtl",)
    hls = plan.hls_jobs(cfg)
    assert [(j.student, j.mode, j.bits, j.sparsity, j.seed) for j in hls] == [
        ("mlp16", "kd", 5, "0.87", 0)
    ]
    rtl = plan.rtl_jobs(cfg)
    # the two targets first, then the rest of the seed-0 grid: 2 students x 2 modes x 1 bits
    assert [(j.student, j.mode, j.bits) for j in rtl[:2]] == [
        ("mlp16", "kd", 5),
        ("set16", "kd", 5),
    ]
    assert len(rtl) == len(set(rtl)) == 4
    assert {j.seed for j in rtl} == {0}
    assert set(rtl) == {j for j in plan.qat_jobs(cfg) if j.seed == 0}
    # off: only the targets; no RTL at all with fpga.rtl false (the MLP keeps its hls4ml job)
    only_targets = _two_chips({"frontier_seeds": []})
    assert plan.rtl_jobs(only_targets) == rtl[:2]
    no_rtl = _two_chips({"rtl": False, "frontier_seeds": [0]})
    assert plan.rtl_jobs(no_rtl) == [] and plan.hls_jobs(no_rtl) == hls
    # two frontier seeds: the grid's points of both, the target not repeated
    two = _two_chips({"frontier_seeds": [0, 2]})
    assert len(plan.rtl_jobs(two)) == 8


def test_compression_points_add_their_modes_and_seeds_only():
    """``compression.points``: a chip design off the grid adds modes x seeds jobs (not a grid
    dimension), once even where it repeats a grid point, and an FPGA target may name it."""
    base = load()
    grid = plan.qat_jobs(base)
    c = base["compression"]
    point = {"student": "mlp32", "bits": 4, "sparsity": 0.9}
    on_grid = {"student": "mlp32", "bits": c["bits"][0], "sparsity": c["sparsities"][0],
               "cost_penalty": c["cost_penalties"][0]}  # fmt: skip
    target = {"student": "mlp32", "mode": "kd", "bits": 4, "sparsity": 0.9, "seed": 0}
    cfg = load(extra={"compression": {"points": [point, on_grid]},
                      "fpga": {"targets": [*base["fpga"]["targets"], target]}})  # fmt: skip
    plan.check_config(cfg)
    jobs = plan.qat_jobs(cfg)
    assert jobs[: len(grid)] == grid
    extra = jobs[len(grid) :]
    assert len(extra) == len(c["modes"]) * len(c["seeds"]) == 2 * 3
    assert {(j.student, j.bits, j.sparsity, j.cost) for j in extra} == {("mlp32", 4, "0.9", "0")}
    assert plan.QATJob("mlp32", "kd", 4, "0.9", 0) in plan.rtl_jobs(cfg)
    assert plan.QATJob("mlp32", "kd", 4, "0.9", 0) in plan.hls_jobs(cfg)


def test_per_student_training_overrides_both_roles_of_that_student_only() -> None:
    cfg = {"training": {"student": {"epochs": 40, "patience": 6, "lr": 0.002},
                        "distill": {"epochs": 40, "patience": 6, "lr": 0.002},
                        "per_student": {"set16": {"epochs": 120, "patience": 120}}},
           "models": {"mlp16": {}, "set16": {}}}  # fmt: skip
    for role in ("student", "distill"):
        assert plan.student_training(cfg, role, "set16") == {
            "epochs": 120,
            "patience": 120,
            "lr": 0.002,
        }
        assert plan.student_training(cfg, role, "mlp16") == {
            "epochs": 40,
            "patience": 6,
            "lr": 0.002,
        }
    assert cfg["training"]["student"]["epochs"] == 40  # the section itself is not changed
    plan.check_per_student_training(cfg)
    cfg["training"]["per_student"] = {"set61": {"epochs": 3}}
    with pytest.raises(plan.InputError, match="did you mean 'set16'"):
        plan.check_per_student_training(cfg)
    cfg["replace"] = ["models"]  # the default's entries may outlive the models they name
    plan.check_per_student_training(cfg)
