"""Metrics on tiny arrays whose AUC / rejection / KL are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jetdistill.errors import InputError
from jetdistill.learn.metrics import (
    classification_metrics,
    confusion_matrix,
    fidelity_metrics,
    plot_confusion,
    plot_roc,
    rejection_at,
    teacher_agreement,
    teacher_kl,
)

NAMES = ["bkg", "sig"]


def _two_class(s_sig, s_bkg):
    """Logits [0, s]: p(sig) = sigmoid(s) is monotonic in s, so the ROC is that of s."""
    s = np.array(list(s_sig) + list(s_bkg), dtype=np.float64)
    y = np.array([1] * len(s_sig) + [0] * len(s_bkg))
    return np.stack([np.zeros_like(s), s], axis=1), y


def test_hand_computed_auc_rejection_accuracy():
    # ROC of "sig" (desc. score): 2:S -> (0.25, 0); 1: S,S,B,B,B -> (0.75, 0.375); ...
    logits, y = _two_class([2, 1, 1, 0], [1, 1, 1, 0, -1, -2, -3, -4])
    m = classification_metrics(logits, y, NAMES, prefix="test_")
    # sig AUC: 8 + 2*(5 + 3/2) + (4 + 1/2) = 25.5 of 32 pairs; class-0 AUC is the mirror image
    assert m["test_auc_sig"] == pytest.approx(25.5 / 32)
    assert m["test_auc_bkg"] == pytest.approx(25.5 / 32)
    assert m["test_auc_mean"] == pytest.approx(25.5 / 32)
    # eps_S = 0.5 is halfway along (0.25, 0) -> (0.75, 0.375): eps_B = 0.1875
    assert m["test_rej50_sig"] == pytest.approx(1 / 0.1875)
    # eps_S = 0.3: eps_B = 0.0375 < 1/8 -> floored at 1/N_bkg: rejection = 8
    assert m["test_rej30_sig"] == pytest.approx(8.0)
    # class "bkg" (8 signal, 4 background): 4 of its signal pass before any background
    assert m["test_rej50_bkg"] == pytest.approx(4.0)
    # argmax([0, s]) picks class 1 iff s > 0: 3/4 sig and 5/8 bkg correct
    assert m["test_accuracy"] == pytest.approx(8 / 12)
    # per-class accuracy (recall): 3 of 4 sig, 5 of 8 bkg (a tie [0, 0] argmaxes to class 0)
    assert m["test_recall_sig"] == pytest.approx(3 / 4)
    assert m["test_recall_bkg"] == pytest.approx(5 / 8)
    assert set(m) == {
        "test_accuracy", "test_recall_bkg", "test_recall_sig", "test_auc_mean", "test_auc_bkg", "test_auc_sig",
        "test_rej50_bkg", "test_rej50_sig", "test_rej30_bkg", "test_rej30_sig",
    }  # fmt: skip


def test_perfect_classifier_and_prefix():
    y = np.repeat(np.arange(3), 5)
    logits = np.eye(3)[y] * 10.0
    m = classification_metrics(logits, y, ["a", "b", "c"], prefix="val_")
    assert m["val_accuracy"] == 1.0
    assert all(m[f"val_auc_{c}"] == 1.0 for c in "abc")
    assert all(m[f"val_rej50_{c}"] == 10.0 for c in "abc")  # floored at N_bkg = 10, finite
    assert all(math.isfinite(v) for v in m.values())


def test_missing_class_gives_nan_not_crash():
    y = np.array([0, 0, 1, 1])
    logits = np.array([[1.0, 0, 0], [0.5, 0, 0], [0, 1.0, 0], [0, 0.2, 0]])
    m = classification_metrics(logits, y, ["a", "b", "c"])
    assert math.isnan(m["test_auc_c"]) and math.isnan(m["test_rej50_c"])
    assert m["test_auc_mean"] == pytest.approx(1.0)
    # class c has no sample: its accuracy is undefined (NaN), the others are exact
    assert math.isnan(m["test_recall_c"])
    assert m["test_recall_a"] == 1.0 and m["test_recall_b"] == 1.0


def test_rejection_interpolation_on_diagonal():
    eps_s = np.array([0.0, 1.0])
    eps_b = np.array([0.0, 1.0])
    assert rejection_at(eps_s, eps_b, 0.5, 1000) == pytest.approx(2.0)
    assert rejection_at(eps_s, eps_b, 0.3, 1000) == pytest.approx(1 / 0.3)


def test_bad_inputs_raise():
    with pytest.raises(InputError, match="class_names"):
        classification_metrics(np.zeros((3, 2)), np.array([0, 1, 0]), ["only_one"])
    with pytest.raises(InputError, match="labels"):
        classification_metrics(np.zeros((3, 2)), np.array([0, 2, 0]), NAMES)
    with pytest.raises(InputError, match="finite"):
        classification_metrics(np.array([[np.nan, 0.0]]), np.array([0]), NAMES)


def test_confusion_matrix_counts_and_normalised():
    y = np.array([0, 0, 0, 1, 2])
    pred = np.array([0, 1, 0, 1, 0])
    logits = np.eye(3)[pred]
    cm = confusion_matrix(logits, y, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 0], [1, 0, 0]])
    cmn = confusion_matrix(logits, y, 3, normalize=True)
    np.testing.assert_allclose(cmn, [[2 / 3, 1 / 3, 0], [0, 1, 0], [1, 0, 0]])
    cm2 = confusion_matrix(np.eye(3)[[0, 0]], np.array([0, 0]), 3, normalize=True)
    np.testing.assert_array_equal(cm2[1:], 0.0)  # empty rows stay 0, not NaN


def test_fidelity_hand_computed():
    t = np.array([[0.0, 0.0], [5.0, 0.0]])
    s = np.array([[0.0, math.log(3.0)], [1.0, 0.0]])
    f = fidelity_metrics(s, t, prefix="test_")
    # row 0: p = (.5, .5), q = (.25, .75): KL = .5 ln 2 + .5 ln(2/3) = .5 ln(4/3)
    p1 = np.exp([5.0, 0.0]) / np.exp([5.0, 0.0]).sum()
    q1 = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    kl1 = float(np.sum(p1 * np.log(p1 / q1)))
    assert f["test_kl_teacher"] == pytest.approx((0.5 * math.log(4 / 3) + kl1) / 2)
    assert f["test_agreement"] == pytest.approx(0.5)  # row 0: argmax 0 vs 1; row 1 agrees
    g = fidelity_metrics(t, t)
    assert g["test_agreement"] == 1.0 and g["test_kl_teacher"] == pytest.approx(0.0, abs=1e-12)


def test_teacher_agreement_by_hand():
    t = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    s = np.array([[9.0, 0.0, 1.0], [0.0, 1.0, 2.0], [0.5, 0.5, 0.0], [0.0, 6.0, 5.0]])
    # argmax teacher (0, 1, 0 [tie -> first], 2), student (0, 2, 0 [tie -> first], 1): 2 of 4
    assert teacher_agreement(s, t) == pytest.approx(0.5)
    assert teacher_agreement(t, t) == 1.0
    # only the argmax matters: any per-row increasing map of the logits keeps agreement
    assert teacher_agreement(3.0 * s + 7.0, t) == pytest.approx(0.5)


def test_teacher_kl_by_hand_and_its_temperature():
    # teacher (0, ln 3) -> p = (1/4, 3/4); student (0, 0) -> q = (1/2, 1/2)
    kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    s, t = np.array([[0.0, 0.0]]), np.array([[0.0, math.log(3.0)]])
    assert teacher_kl(s, t) == pytest.approx(kl, rel=1e-12)
    # at T = 2 the teacher (0, ln 9) is the teacher (0, ln 3) at T = 1; no T^2 factor
    assert teacher_kl(s, np.array([[0.0, math.log(9.0)]]), temperature=2.0) == pytest.approx(
        kl, rel=1e-12
    )


def test_teacher_kl_mean_asymmetry_and_confident_teacher():
    s, t = np.array([[0.0, 0.0]]), np.array([[0.0, math.log(3.0)]])
    kl_ts = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)  # KL(teacher || student)
    kl_st = 0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0)  # KL(student || teacher)
    # two samples: the first as above, the second student == teacher (KL 0)
    got = teacher_kl(np.vstack([s, t]), np.vstack([t, t]))
    assert got == pytest.approx(kl_ts / 2, rel=1e-12)
    assert teacher_kl(t, s) == pytest.approx(kl_st, rel=1e-12)  # direction matters
    assert kl_st != pytest.approx(kl_ts)
    # a teacher whose probabilities underflow to 0: finite, ~ the student's log-loss
    big = np.array([[1000.0, -1000.0, 0.0]])
    q = np.array([[1.0, 2.0, 0.0]])
    expected = -(q[0, 0] - np.log(np.exp(q).sum()))
    assert teacher_kl(q, big) == pytest.approx(expected, rel=1e-12)


def test_fidelity_metrics_are_the_two_functions_with_a_prefix():
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(50, 4)), 3 * rng.normal(size=(50, 4))
    f = fidelity_metrics(s, t, prefix="train_")
    assert f == {"train_agreement": teacher_agreement(s, t), "train_kl_teacher": teacher_kl(s, t)}


def test_fidelity_bad_inputs_name_what_is_wrong():
    s = np.zeros((3, 2))
    with pytest.raises(InputError, match="shape"):
        teacher_agreement(s, np.zeros((3, 3)))
    with pytest.raises(InputError, match="temperature"):
        teacher_kl(s, s, temperature=0.0)
    with pytest.raises(InputError, match="finite"):
        teacher_kl(s, np.array([[0.0, np.inf]] * 3))
    with pytest.raises(InputError, match="train_teacher_logits"):
        fidelity_metrics(s, np.zeros((2, 2)), prefix="train_")
    with pytest.raises(InputError, match="at least one sample"):
        teacher_agreement(np.zeros((0, 2)), np.zeros((0, 2)))


def test_plots_written(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = np.eye(3)[y] * 1.5 + rng.normal(size=(300, 3))
    names = ["g", "q", "t"]
    plot_roc(
        {"teacher": (logits, y), "student": (logits * 0.5 + rng.normal(size=(300, 3)), y)},
        names,
        tmp_path / "roc.png",
    )
    plot_confusion(confusion_matrix(logits, y, 3, normalize=True), names, tmp_path / "cm.pdf")
    assert (tmp_path / "roc.png").stat().st_size > 1000
    assert (tmp_path / "cm.pdf").stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.pdf", "roc.png"]  # no temp files left
