"""Learning curves: nested stratified subsets, the power-law fit, the table; baselines and
curve points in the job plan; the reference table of the comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jetdistill import plan
from jetdistill.data.splits import subsample_rows
from jetdistill.errors import InputError
from jetdistill.report.compare import reference_markdown, reference_table
from jetdistill.report.learning_curve import (
    fit_power_law,
    learning_curve_table,
    power_law,
    to_markdown,
)


def test_subsample_rows_is_stratified_nested_and_seeded() -> None:
    y = np.repeat(np.arange(5), [400, 300, 200, 100, 50])
    small, large = subsample_rows(y, 0.125, 3), subsample_rows(y, 0.5, 3)
    assert set(small) <= set(large)  # nested: points differ only by the added jets
    np.testing.assert_array_equal(np.bincount(y[large]), [200, 150, 100, 50, 25])
    np.testing.assert_array_equal(np.bincount(y[small]), [50, 38, 25, 12, 6])
    assert np.all(np.diff(large) > 0)
    np.testing.assert_array_equal(subsample_rows(y, 0.5, 3), large)
    assert not np.array_equal(subsample_rows(y, 0.5, 4), large)
    np.testing.assert_array_equal(subsample_rows(y, 1.0, 3), np.arange(len(y)))
    with pytest.raises(InputError, match="fractions"):
        subsample_rows(y, 0.0, 0)


def test_power_law_fit_recovers_parameters_and_extrapolates() -> None:
    n = np.array([3000, 6000, 12000, 24000])
    acc = power_law(n, 0.78, 2.0, 0.4)
    a, b, c, rms = fit_power_law(n, acc)
    assert a == pytest.approx(0.78, abs=2e-3) and c == pytest.approx(0.4, abs=0.02)
    assert rms < 1e-4
    assert power_law(800_000, a, b, c) == pytest.approx(
        power_law(800_000, 0.78, 2.0, 0.4), abs=2e-3
    )
    assert all(math.isnan(v) for v in fit_power_law([1000, 1000], [0.5, 0.6]))


def test_learning_curve_table_means_over_seeds_and_markdown() -> None:
    rec = pd.DataFrame({
        "curve": ["teacher"] * 4 + ["solo s"] * 8,
        "n_train": [3000, 6000, 12000, 24000] + [2000, 2000, 4000, 4000, 8000, 8000, 16000, 16000],
        "test_accuracy": [0.60, 0.65, 0.69, 0.71] + [0.50, 0.52, 0.53, 0.55, 0.56, 0.56, 0.57, 0.59],
    })  # fmt: skip
    t = learning_curve_table(rec)
    solo = t[t["curve"] == "solo s"].set_index("n_train")
    assert solo.loc[2000, "accuracy_mean"] == pytest.approx(0.51)
    assert solo.loc[2000, "accuracy_std"] == pytest.approx(np.std([0.50, 0.52], ddof=1))
    teacher = t[t["curve"] == "teacher"]
    assert teacher["pred_800k"].iloc[0] > 0.71  # rising curve extrapolates upwards
    assert teacher["pred_800k"].iloc[0] <= teacher["fit_a"].iloc[0] + 1e-9
    md = to_markdown(t)
    assert "| teacher | 3,000: 0.600" in md and "800k" in md
    with pytest.raises(InputError, match="n_train"):
        learning_curve_table(pd.DataFrame({"curve": ["a"], "test_accuracy": [0.5]}))


def _cfg(**over: object) -> dict:
    cfg = {
        "students": ["s1", "s2"], "baselines": ["hlf"], "seeds": [0, 1],
        "teachers": {"t": {"members": [{"model": "big", "seed": 4}]}},
        "distillation": {"teachers": ["t"], "methods": ["hinton"], "temperatures": [4.0],
                         "alphas": [0.1]},
        "compression": {"teacher": "t", "kd": {"method": "hinton", "temperature": 4.0, "alpha": 0.1}},
        "learning_curve": {"enabled": True, "fractions": [0.25, 0.5], "student": "", "seeds": [0]},
    }  # fmt: skip
    cfg.update(over)
    return cfg


def test_baselines_are_solo_only_and_curve_points_cover_every_fraction() -> None:
    cfg = _cfg()
    assert {(j.student, j.seed) for j in plan.solo_jobs(cfg)} == {
        (m, s) for m in ("s1", "s2", "hlf") for s in (0, 1)
    }
    assert all(j.student != "hlf" for j in plan.kd_jobs(cfg))
    pts = plan.learning_curve_points(cfg)
    by_curve: dict[str, list[str]] = {}
    for p in pts:
        by_curve.setdefault(p.curve, []).append(p.fraction)
    assert by_curve == {
        "teacher t (big)": ["0.25", "0.5", "1"], "baseline hlf": ["0.25", "0.5", "1"],
        "solo s1": ["0.25", "0.5", "1"], "KD s1 (hinton, T=4)": ["0.25", "0.5", "1"],
    }  # fmt: skip
    teacher_pts = [p for p in pts if p.kind == "teacher"]
    assert teacher_pts[0].job.seed == 4  # the member's own seed
    assert plan.learning_curve_points(_cfg(learning_curve={"enabled": False})) == []


def test_reference_table_orders_teacher_baseline_students() -> None:
    df = pd.DataFrame({
        "student": ["s1", "s1", "hlf", "hlf", "s1"], "method": ["solo", "solo", "solo", "solo", "kd"],
        "seed": [0, 1, 0, 1, 0], "test_accuracy": [0.55, 0.57, 0.66, 0.68, 0.6],
        "test_auc_mean": [0.8, 0.82, 0.86, 0.88, 0.85], "teacher": [None, None, None, None, "t"],
        "kd_method": [None, None, None, None, "hinton"], "temperature": [None, None, None, None, 4.0],
        "alpha": [None, None, None, None, 0.1],
    })  # fmt: skip
    ref = reference_table(df, {"t": 0.72}, ["hlf"])
    assert list(ref["model"]) == ["t", "hlf", "s1"]
    assert list(ref["role"]) == ["teacher", "baseline", "solo student"]
    assert ref.loc[1, "accuracy_mean"] == pytest.approx(0.67)
    assert ref.loc[2, "n_seeds"] == 2  # the KD run is not a solo student
    # distillation.unlabelled: the solo-on-all runs are the last row, the upper reference
    solo_all = pd.DataFrame({"student": ["s1", "s1"], "method": ["solo_all", "solo_all"],
                             "seed": [0, 1], "test_accuracy": [0.60, 0.64],
                             "test_auc_mean": [0.84, 0.86]})  # fmt: skip
    ref = reference_table(df, {"t": 0.72}, ["hlf"], solo_all=solo_all)
    assert list(ref["model"]) == ["t", "hlf", "s1", "s1"]
    assert ref.loc[3, "role"].startswith("solo on transfer + unlabelled jets, with labels")
    assert ref.loc[3, "accuracy_mean"] == pytest.approx(0.62) and ref.loc[3, "n_seeds"] == 2
    md = reference_markdown(ref)
    assert "| hlf | baseline | 2 | 0.6700 ± 0.0141 |" in md
