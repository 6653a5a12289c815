"""Specialists (Hinton et al. 2015, section 5): groups from confusion, enriched data, the
remapped output layer, the dustbin prior shift and the KL combination, against hand-computed
values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jetdistill.errors import InputError
from jetdistill.learn import specialists as S
from jetdistill.learn.models import build_model

# true classes (rows) gluon, light_quark, W, Z, top: g<->q and W<->Z confused, top clean
CM = np.array([
    [70, 25, 2, 2, 1],
    [30, 65, 2, 2, 1],
    [1, 1, 60, 30, 8],
    [1, 1, 20, 70, 8],
    [2, 1, 6, 6, 85],
])  # fmt: skip


def test_confusion_rates_are_symmetric_row_normalised_rates():
    s = S.confusion_rates(CM)
    assert s[0, 1] == pytest.approx(0.25 + 0.30)
    assert s[2, 3] == pytest.approx(0.30 + 0.20)
    assert s[2, 4] == pytest.approx(0.08 + 0.06)
    assert np.allclose(s, s.T) and np.all(np.diag(s) == 0)


def test_confusion_groups_pairs_the_confused_classes_most_confused_first():
    assert S.confusion_groups(CM, 2) == [[0, 1], [2, 3]]
    assert S.confusion_groups(CM, 1) == [[0, 1]]
    # groups of 3: g-q (0.55) merge first, then W-Z (0.50); top joins {W, Z} (mean linkage
    # (0.14 + 0.14) / 2 = 0.14, above its 0.03-0.04 to g or q); g-q still ranks first
    assert S.confusion_groups(CM, 1, max_group_size=3) == [[0, 1]]
    assert S.confusion_groups(CM, 2, max_group_size=3) == [[0, 1], [2, 3, 4]]


def test_confusion_groups_refuses_impossible_counts():
    with pytest.raises(InputError, match="n_groups"):
        S.confusion_groups(CM, 3)


def test_resolve_groups_checks_names():
    names = ["gluon", "light_quark", "W", "Z", "top"]
    assert S.resolve_groups([["light_quark", "gluon"], ["Z", "W"]], names) == [[0, 1], [2, 3]]
    with pytest.raises(InputError, match=r"groups\[0\]"):
        S.resolve_groups([["quark", "gluon"]], names)
    with pytest.raises(InputError, match=r"groups\[1\]"):
        S.resolve_groups([["W", "Z"], ["Z", "top"]], names)


def test_specialist_targets_and_enriched_rows():
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 2, 2])
    assert S.specialist_targets(y, [3, 2]).tolist() == [2, 2, 1, 0, 2, 2, 2, 1, 0, 2, 1, 1]
    rows = S.enriched_rows(y, [2, 3], seed=0)
    # all 6 jets of {W, Z} and 6 of the 6 others
    assert len(rows) == 12
    rows = S.enriched_rows(y, [0, 1], seed=0)  # 4 of the group, 4 of the 8 others
    assert len(rows) == 8 and np.isin(y[rows], [0, 1]).sum() == 4
    assert np.array_equal(rows, S.enriched_rows(y, [0, 1], seed=0))


def test_dustbin_prior_shift_hand_computed():
    y_full = np.array([0] * 40 + [1] * 60)  # group {0}: 40 %
    y_rows = np.array([0] * 40 + [1] * 40)  # trained 50/50
    assert S.dustbin_prior_shift(y_full, y_rows, [0]) == pytest.approx(math.log(1.5))


def test_init_specialist_copies_the_body_and_remaps_the_output_layer():
    torch.manual_seed(0)
    spec = {"type": "mlp", "hidden": [6]}
    gen = build_model(spec, (4,), 5)
    sp = build_model(spec, (4,), 3)
    S.init_specialist(gen, sp, [2, 3])
    x = torch.randn(7, 4)
    with torch.no_grad():
        zg, zs = gen(x), sp(x)
        out_g = S.output_layer(gen)
    assert torch.allclose(zs[:, :2], zg[:, [2, 3]], atol=1e-6)
    # dustbin: mean of the other rows (w and b) + log 3, i.e. mean of their logits + log 3
    assert torch.allclose(zs[:, 2], zg[:, [0, 1, 4]].mean(1) + math.log(3), atol=1e-5)
    assert out_g.out_features == 5
    S.shift_dustbin(sp, 0.5)
    with torch.no_grad():
        assert torch.allclose(sp(x)[:, 2], zs[:, 2] + 0.5, atol=1e-6)


def test_init_specialist_refuses_another_architecture():
    gen = build_model({"type": "mlp", "hidden": [6]}, (4,), 5)
    other = build_model({"type": "mlp", "hidden": [7]}, (4,), 3)
    with pytest.raises(InputError, match="specialist"):
        S.init_specialist(gen, other, [0, 1])


def test_active_specialists_follow_the_generalists_top_classes():
    z = np.log(np.array([[0.5, 0.3, 0.1, 0.06, 0.04], [0.05, 0.05, 0.5, 0.1, 0.3]]))
    act = S.active_specialists(z, [[0, 1], [2, 3]], top=1)
    assert act.tolist() == [[True, False], [False, True]]
    act = S.active_specialists(z, [[0, 1], [2, 3]], top=2)
    assert act.tolist() == [[True, False], [False, True]]
    act = S.active_specialists(z, [[1, 4], [2, 3]], top=2)
    assert act.tolist() == [[True, False], [True, True]]


def test_combine_without_active_specialists_returns_the_generalist():
    pg = np.array([[0.7, 0.2, 0.1]])
    r = S.combine(np.log(pg), [np.log(np.array([[0.1, 0.1, 0.8]]))], [[1, 2]], active_top=1)
    assert not r.active.any()
    assert np.allclose(np.exp(r.logits), pg, atol=1e-6)


@pytest.mark.parametrize("solver", ["em", "adam"])
def test_combine_matches_the_closed_form_optimum(solver):
    """K = 4, group {0, 1}, dustbin {2, 3}. The objective is a cross entropy in (q0, q1,
    q2 + q3) with weights (p_g + p_m) / 2, plus the generalist's alone inside the dustbin, so
    q0 = (pg0 + pm0) / 2, q1 = (pg1 + pm1) / 2, q2 + q3 = (pg2 + pg3 + pmD) / 2 split as pg2 : pg3."""
    pg = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.6, 0.25, 0.05]])
    pm = np.array([[0.7, 0.1, 0.2], [0.3, 0.3, 0.4]])
    r = S.combine(np.log(pg), [np.log(pm)], [[0, 1]], active_top=4, steps=3000, lr=0.05,
                  solver=solver)  # fmt: skip
    q = np.exp(r.logits)
    d = (pg[:, 2] + pg[:, 3] + pm[:, 2]) / 2
    want = np.stack([
        (pg[:, 0] + pm[:, 0]) / 2,
        (pg[:, 1] + pm[:, 1]) / 2,
        d * pg[:, 2] / (pg[:, 2] + pg[:, 3]),
        d * pg[:, 3] / (pg[:, 2] + pg[:, 3]),
    ], axis=1)  # fmt: skip
    assert np.allclose(q, want, atol=1e-4), (q, want)
    assert r.max_grad < 1e-3
    assert np.allclose(q.sum(1), 1.0, atol=1e-6)


def test_combine_specialist_group_order_is_respected():
    """A specialist over group [2, 0] (its output 0 is class 2): the same optimum as the
    closed form with K = 3 (one dustbin class): q = (p_g + p_m mapped) / 2."""
    pg = np.array([[0.5, 0.3, 0.2]])
    pm = np.array([[0.6, 0.1, 0.3]])  # class 2, class 0, dustbin (class 1)
    r = S.combine(np.log(pg), [np.log(pm)], [[2, 0]], active_top=3, steps=3000, lr=0.05)
    want = (pg + np.array([[0.1, 0.3, 0.6]])) / 2
    assert np.allclose(np.exp(r.logits), want, atol=1e-4)


def test_combine_em_and_gradient_descent_agree_with_two_specialists():
    """Two overlapping-dustbin specialists (no closed form): both solvers reach the same q,
    EM with a vanishing gradient, and the objective is below the generalist's start."""
    rng = np.random.default_rng(0)
    zg = rng.normal(size=(50, 5)) * 2
    zs = [rng.normal(size=(50, 3)) * 2, rng.normal(size=(50, 3)) * 2]
    groups = [[0, 1], [2, 3]]
    em = S.combine(zg, zs, groups, active_top=5, steps=5000)
    gd = S.combine(zg, zs, groups, active_top=5, steps=4000, lr=0.02, solver="adam")
    assert em.max_grad < 1e-6
    assert np.allclose(np.exp(em.logits), np.exp(gd.logits), atol=2e-3)
    assert np.all(em.objective <= gd.objective + 1e-9)
    start = S.combine(zg, zs, groups, active_top=5, steps=1)
    assert np.all(em.objective <= start.objective + 1e-12)
