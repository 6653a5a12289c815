"""benchmarks/kd_study.py: which jobs an arm shares with the default arm, and the table's paired
arithmetic (hand-computed), without training anything."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from conftest import load_benchmark

REPO = Path(__file__).resolve().parents[1]
CFG = {
    "training": {
        "distill": {"epochs": 40, "patience": 6},
        "student": {"epochs": 40, "patience": 6},
        "per_student": {"set16": {"epochs": 120, "patience": 120}},
    }
}


@pytest.fixture(scope="module")
def study():
    return load_benchmark("kd_study")


@pytest.fixture()
def table(study):
    args = argparse.Namespace(views_k=4, views_transforms=["eta_flip"], views_pt_smear=0.0,
                              patient_epochs=120, dist_temperature=1.0, unlabelled_multiple=1.0)  # fmt: skip
    return study.arm_table(args)


def test_arms_share_the_default_solo_twin_only_where_it_is_the_same_job(study, table):
    arm = {n: study.parse_arm(n, table) for n in table}
    solo = {n: a.solo_key(CFG, "mlp16") for n, a in arm.items()}
    # a loss or unlabelled jets change only the KD student: its solo twin is the default's
    assert solo["dist"] == solo["hint"] == solo["unlabelled"] == solo["default"]
    assert solo["default"] == "solo_e40p6_transfer"
    # a budget, the training jets or views change the solo twin too (equal budget, same jets)
    assert len({solo[n] for n in ("default", "patient", "teacher_train", "views")}) == 4
    assert solo["patient"] == "solo_e120p120_transfer"
    kd = {a.kd_key(CFG, "mlp16") for a in arm.values()}
    assert len(kd) == len(arm)
    assert arm["default"].kd_key(CFG, "mlp16") == "kd_hinton_T4_a0.1_e40p6_transfer"


def test_the_default_arm_takes_the_students_own_budget(study, table):
    """training.per_student applies as in the workflow: the default arm of set16 is the run's
    120-epoch set16 job, not the 40-epoch base; an arm's own budget still wins."""
    default, nostop = study.parse_arm("default", table), study.parse_arm("nostop", table)
    assert default.budget(CFG, "set16") == (120, 120)
    assert default.solo_key(CFG, "set16") == "solo_e120p120_transfer"
    assert default.kd_key(CFG, "set16") == "kd_hinton_T4_a0.1_e120p120_transfer"
    assert default.budget(CFG, "mlp16") == (40, 6)
    assert nostop.budget(CFG, "set16") == (120, 0)


def test_arms_combine_with_plus(study, table):
    both = study.parse_arm("patient+teacher_train", table)
    assert both.budget(CFG, "mlp16") == (120, 120)
    assert both.splits == ("transfer", "teacher_train")
    assert both.solo_key(CFG, "mlp16") == "solo_e120p120_transfer+teacher_train"
    assert both.kd_settings() == {
        "method": "hinton",
        "temperature": 4.0,
        "alpha": 0.1,
        "params": {},
    }
    assert study.parse_arm("dist", table).kd_settings()["temperature"] == 1.0
    assert "views" in study.parse_arm("views", table).kd_settings()
    with pytest.raises(SystemExit, match="unknown arm 'patience'"):
        study.parse_arm("patience", table)


def test_specialists_multiples_and_nostop_arms_have_their_own_jobs(study, table):
    spec = study.parse_arm("specialists", table)
    assert spec.teacher == "jedi_spec" and spec.solo_key(CFG, "mlp16") == "solo_e40p6_transfer"
    assert spec.kd_key(CFG, "mlp16") == "kd_hinton_T4_a0.1_e40p6_transfer_tjedi_spec"
    u3 = study.parse_arm("unlabelled@3", table)
    assert u3.unlabelled == 3.0 and u3.kd_key(CFG, "mlp16").endswith("_u3")
    assert study.parse_arm("unlabelled", table).kd_key(CFG, "mlp16").endswith("_u1")
    assert study.parse_arm("patient+unlabelled@0.5", table).kd_key(CFG, "mlp16") == (
        "kd_hinton_T4_a0.1_e120p120_transfer_u0.5"
    )
    nostop = study.parse_arm("nostop", table)
    assert nostop.budget(CFG, "mlp16") == (120, 0)  # patience 0: the final weights, never restored
    assert nostop.solo_key(CFG, "mlp16") == "solo_e120p0_transfer"


def test_table_pairs_by_seed(study, table, tmp_path):
    def write(student: str, key: str, accs: list[float]) -> None:
        for seed, acc in enumerate(accs):
            rec = {"test_accuracy": acc, "train_agreement": 0.8, "test_agreement": 0.7,
                   "epochs_run": 40, "best_epoch": 39, "cpu_s": 2.0}  # fmt: skip
            p = study.record_path(tmp_path, student, key, seed)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(rec))

    default, dist = study.parse_arm("default", table), study.parse_arm("dist", table)
    write("mlp16", default.solo_key(CFG, "mlp16"), [0.60, 0.61, 0.62])
    write("mlp16", default.kd_key(CFG, "mlp16"), [0.63, 0.63, 0.65])
    write("mlp16", dist.kd_key(CFG, "mlp16"), [0.64, 0.62, 0.65])
    rows = study.table(tmp_path, CFG, ["default", "dist"], table, ["mlp16"], [0, 1, 2], 0.7254)
    row_default, row_dist = rows.splitlines()[2:]
    cells = [c.strip() for c in row_default.split("|")[1:-1]]
    # KD - solo: 3, 2, 3 pts: mean 2.667, std 0.577, SE 0.333; gap 0.02667 / (0.7254 - 0.61)
    assert cells[:8] == ["default", "mlp16", "0,1,2", "0.6100 ± 0.0100", "0.6367 ± 0.0115",
                         "+2.67 ± 0.33", "23%", "–"]  # fmt: skip
    cells = [c.strip() for c in row_dist.split("|")[1:-1]]
    # the same solo twin: 4, 1, 3 pts (SE 0.882); dist vs default KD: +1, -1, 0 pts (SE 1/sqrt(3))
    assert cells[5] == "+2.67 ± 0.88" and cells[7] == "+0.00 ± 0.58"
    assert cells[-1] == "2.0 / 2.0"
