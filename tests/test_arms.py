"""Arms of a study (distillation.arms): the overlay, the job grid, the solo twins, the checks
and the KD-vs-solo pairing of the comparison table."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from test_plan import load

from jetdistill import plan
from jetdistill.errors import InputError
from jetdistill.report.compare import comparison_table

ARMS = {
    "longer": {"training": {"student": {"epochs": 3}, "distill": {"epochs": 3}}},
    "unl": {"unlabelled": {"multiple": 1}},
    "both": {"transfer_splits": ["transfer", "teacher_train"], "temperatures": [4.0]},
    "unl-too": {"unlabelled": {"multiple": 1}, "loss_params": {"dist": {"beta": 2.0}}},
}


def make_config(arms: dict | None = None) -> dict:
    cfg = load("config.yaml")
    cfg = copy.deepcopy(cfg)
    test = load("test.yaml")
    cfg.update({k: test[k] for k in ("data", "views", "models", "teachers", "training",
                                     "students", "baselines", "seeds", "distillation",
                                     "compression", "fpga")})  # fmt: skip
    if arms is not None:
        cfg["distillation"]["arms"] = copy.deepcopy(arms)
    return cfg


def test_without_arms_the_grid_is_the_default_arm_only() -> None:
    cfg = make_config()
    assert plan.arm_names(cfg) == ["default"]
    assert {j.arm for j in plan.kd_jobs(cfg)} == {"default"}
    assert {j.arm for j in plan.solo_jobs(cfg)} == {"default"}
    assert plan.arm_config(cfg, "default") is cfg


def test_arm_config_overlays_without_touching_the_config() -> None:
    cfg = make_config(ARMS)
    before = copy.deepcopy(cfg)
    c = plan.arm_config(cfg, "longer")
    assert c["training"]["student"]["epochs"] == 3
    assert c["training"]["student"]["batch_size"] == 64  # merged, not replaced
    assert c["training"]["teacher"] == cfg["training"]["teacher"]
    assert plan.arm_config(cfg, "unl")["distillation"]["unlabelled"]["multiple"] == 1
    both = plan.arm_config(cfg, "both")
    assert plan.transfer_splits(both) == ["transfer", "teacher_train"]
    assert cfg == before


def test_each_arm_runs_its_own_kd_grid_and_solo_twins_are_shared() -> None:
    cfg = make_config(ARMS)
    kd = plan.kd_jobs(cfg)
    per_arm = pd.Series([j.arm for j in kd]).value_counts().to_dict()
    # 2 students x 2 seeds x 2 temperatures; "both" sweeps one temperature
    assert per_arm == {"default": 8, "longer": 8, "unl": 8, "both": 4, "unl-too": 8}
    solo_arms = {(j.student, j.arm) for j in plan.solo_jobs(cfg)}
    # unl and unl-too change nothing a solo student reads: their twins are the default's
    assert {a for _, a in solo_arms} == {"default", "longer", "both"}
    assert plan.solo_arm(cfg, "unl", "mlp") == "default"
    assert plan.solo_arm(cfg, "longer", "mlp") == "longer"
    # the solo-on-all reference reads the unlabelled jets: unl has its own, unl-too shares it
    assert plan.solo_arm(cfg, "unl-too", "mlp", unlabelled=True) == "unl"
    assert {j.arm for j in plan.solo_all_jobs(cfg)} == {"unl"}
    assert plan.unlabelled_multiples(cfg) == [1.0]
    # baselines are references: the default arm only
    assert {j.arm for j in plan.solo_jobs(cfg) if j.student == "hlf_mlp"} == {"default"}


def test_extending_the_arms_adds_only_new_jobs() -> None:
    small = make_config({"longer": ARMS["longer"]})
    big = make_config(ARMS)
    for jobs in (plan.kd_jobs, plan.solo_jobs):
        assert set(jobs(small)) <= set(jobs(big))
        assert {j.arm for j in set(jobs(big)) - set(jobs(small))} <= set(ARMS) - {"longer"}


def test_compression_starts_from_its_arm() -> None:
    cfg = make_config(ARMS)
    cfg["compression"]["arm"] = "longer"
    assert plan.kd_reference(cfg, "mlp", 0).arm == "longer"
    assert plan.solo_reference(cfg, "mlp", 0).arm == "longer"
    cfg["compression"]["arm"] = "unl"
    assert plan.solo_reference(cfg, "mlp", 0).arm == "default"  # unl's solo twin


@pytest.mark.parametrize(
    ("arms", "compression_arm", "where", "text"),
    [
        ({"Bad_name": {}}, None, "distillation.arms ('Bad_name')", "arm names matching"),
        ({"a\n": {}}, None, "distillation.arms", "arm names matching"),
        ({"default": {"temperatures": [2.0]}}, None, "distillation.arms.default", "config itself"),
        ({"v": {"views": {"k": 2}}}, None, "distillation.arms.v.views", "soft-target cache"),
        (
            {"t": {"transfer_split": ["x"]}},
            None,
            "distillation.arms.t.transfer_split",
            "did you mean",
        ),
        ({"t": {"training": {"qat": {}}}}, None, "distillation.arms.t.training.qat", "per_student"),
        ({"t": {}}, "nope", "compression.arm", "one of distillation.arms"),
    ],
)
def test_bad_arms_are_refused_naming_the_key(arms, compression_arm, where, text) -> None:
    cfg = make_config(arms)
    if compression_arm:
        cfg["compression"]["arm"] = compression_arm
    with pytest.raises(InputError) as err:
        plan.check_arms(cfg)
    assert where in str(err.value) and text in str(err.value)


def test_an_arm_config_is_checked_as_a_whole_naming_the_arm() -> None:
    cfg = make_config({"odd": {"transfer_splits": ["val"]}})
    with pytest.raises(InputError, match=r"distillation\.arms\.odd \(as distillation"):
        plan.check_arm_students(cfg, "odd")


def _runs() -> pd.DataFrame:
    """mlp over two seeds: solo in the default and 'longer' arms, KD in three arms; the
    'unl' arm's KD students are paired with the default arm's solo jobs."""
    rows = []
    for seed in (0, 1):
        rows += [
            {"student": "mlp", "method": "solo", "seed": seed, "arm": "default",
             "test_accuracy": 0.50 + 0.01 * seed},
            {"student": "mlp", "method": "solo", "seed": seed, "arm": "longer",
             "test_accuracy": 0.60 + 0.01 * seed},
        ]  # fmt: skip
        for arm, twin, acc in (("default", "default", 0.55), ("longer", "longer", 0.62),
                               ("unl", "default", 0.58)):  # fmt: skip
            rows.append({"student": "mlp", "method": "kd", "seed": seed, "arm": arm,
                         "solo_arm": twin, "teacher": "t", "kd_method": "hinton",
                         "temperature": 4.0, "alpha": 0.1, "test_accuracy": acc + 0.01 * seed})  # fmt: skip
    return pd.DataFrame(rows)


def test_comparison_pairs_each_arm_with_its_solo_twin() -> None:
    table = comparison_table(_runs(), {"t": 0.7}).set_index("arm")
    assert table.loc["default", "diff_mean"] == pytest.approx(0.05)
    assert table.loc["longer", "diff_mean"] == pytest.approx(0.02)
    assert table.loc["unl", "solo_arm"] == "default"
    assert table.loc["unl", "diff_mean"] == pytest.approx(0.08)
    assert (table["n_seeds"] == 2).all()
