"""KD-vs-solo comparison on a synthetic runs table whose statistics are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jetdistill.errors import InputError
from jetdistill.report.compare import (
    comparison_table,
    plot_accuracy_vs_alpha,
    plot_accuracy_vs_temperature,
    plot_agreement_vs_accuracy,
    plot_roc_comparison,
    readable_table,
    to_markdown,
)

SOLO_ACC = {0: 0.70, 1: 0.74, 2: 0.72}  # mean 0.72, std 0.02
# KD at T=4 gains exactly +0.03, +0.01, +0.02 over the same seed -> diff mean 0.02, std 0.01
KD_GAIN_T4 = {0: 0.03, 1: 0.01, 2: 0.02}
TEACHER_ACC = {"jedi": 0.80}


def rec(**fields) -> dict:
    return fields


def runs() -> pd.DataFrame:
    rows = []
    for seed, acc in SOLO_ACC.items():
        rows.append(rec(student="mlp16", teacher=None, method="solo", kd_method=None, temperature=None,
                         alpha=None, seed=seed, test_accuracy=acc, test_auc_mean=0.9 + acc / 10,
                         test_agreement=0.8, test_kl_teacher=0.5))  # fmt: skip
        for T, gain in ((4.0, KD_GAIN_T4[seed]), (1.0, 0.0)):
            rows.append(rec(student="mlp16", teacher="jedi", method="kd", kd_method="hinton", temperature=T,
                             alpha=0.1, seed=seed, test_accuracy=acc + gain, test_auc_mean=0.9 + acc / 10 + 0.001,
                             test_agreement=0.9, test_kl_teacher=0.2))  # fmt: skip
    # a KD setting with an extra seed that has no solo partner: it must be ignored
    rows.append(rec(student="mlp16", teacher="jedi", method="kd", kd_method="hinton", temperature=4.0, alpha=0.1,
                     seed=9, test_accuracy=0.99, test_auc_mean=0.99, test_agreement=0.99, test_kl_teacher=0.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_paired_statistics_are_exact():
    table = comparison_table(runs(), TEACHER_ACC)
    assert len(table) == 2
    r = table[table["temperature"] == 4.0].iloc[0]
    assert r["n_seeds"] == 3  # seed 9 has no solo run
    assert r["solo_accuracy_mean"] == pytest.approx(0.72)
    assert r["solo_accuracy_std"] == pytest.approx(0.02)
    assert r["kd_accuracy_mean"] == pytest.approx(0.74)
    # KD accuracies 0.73, 0.75, 0.74 -> std 0.01
    assert r["kd_accuracy_std"] == pytest.approx(0.01)
    assert r["diff_accuracy_mean"] == pytest.approx(0.02)
    # paired diffs 0.03, 0.01, 0.02: std 0.01, SE 0.01/sqrt(3) -- far smaller than the
    # unpaired spread (solo std 0.02), which is the point of pairing
    assert r["diff_accuracy_se"] == pytest.approx(0.01 / math.sqrt(3))
    assert r["gap_closed"] == pytest.approx(0.02 / (0.80 - 0.72))
    assert r["teacher_accuracy"] == pytest.approx(0.80)
    assert r["solo_agreement_mean"] == pytest.approx(0.8)
    assert r["kd_agreement_mean"] == pytest.approx(0.9)
    assert r["diff_auc_mean_mean"] == pytest.approx(0.001)
    assert r["kd_kl_teacher_mean"] == pytest.approx(0.2)

    r1 = table[table["temperature"] == 1.0].iloc[0]
    assert r1["diff_accuracy_mean"] == pytest.approx(0.0, abs=1e-12)
    assert r1["diff_accuracy_se"] == pytest.approx(0.0, abs=1e-12)
    assert r1["gap_closed"] == pytest.approx(0.0, abs=1e-12)


def test_duplicate_seed_runs_are_averaged_and_solo_teacher_preferred():
    df = runs()
    extra = df[(df["method"] == "solo") & (df["seed"] == 0)].copy()
    extra["test_accuracy"] = 0.72  # rerun of seed 0: average (0.70 + 0.72)/2 = 0.71
    extra2 = extra.copy()
    extra2["teacher"] = "other"  # solo measured against another teacher: must not be used for jedi
    extra2["test_accuracy"] = 0.0
    table = comparison_table(pd.concat([df, extra, extra2]), TEACHER_ACC)
    r = table[table["temperature"] == 4.0].iloc[0]
    assert r["solo_accuracy_mean"] == pytest.approx((0.71 + 0.74 + 0.72) / 3)


def test_missing_teacher_accuracy_gives_nan_gap_and_single_seed_nan_spread():
    df = runs()
    df = df[df["seed"] == 0]
    table = comparison_table(df, {})
    r = table[table["temperature"] == 4.0].iloc[0]
    assert r["n_seeds"] == 1
    assert r["diff_accuracy_mean"] == pytest.approx(0.03)
    assert math.isnan(r["diff_accuracy_se"]) and math.isnan(r["solo_accuracy_std"])
    assert math.isnan(r["gap_closed"])


def test_bad_tables():
    with pytest.raises(InputError, match="method"):
        comparison_table(runs().assign(method="distill"), TEACHER_ACC)
    with pytest.raises(InputError, match="seed"):
        comparison_table(runs().drop(columns="seed"), TEACHER_ACC)
    df = runs()
    df.loc[df["method"] == "kd", "temperature"] = np.nan
    with pytest.raises(InputError, match="kd rows"):
        comparison_table(df, TEACHER_ACC)


def test_markdown():
    md = to_markdown(comparison_table(runs(), TEACHER_ACC))
    lines = md.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("| student")
    row4 = next(line for line in lines if "| 4 |" in line)
    assert "+2.00 ± 0.58" in row4  # diff ± SE, in percentage points
    assert "(pts, ±SE)" in lines[0]
    assert "0.7200 ± 0.0200" in row4  # solo mean ± std
    assert "25%" in row4  # gap closed
    assert all(line.count("|") == lines[0].count("|") for line in lines)


#: agreement with the teacher on each student's own transfer jets, per seed
SOLO_TRAIN_AGREE = {0: 0.74, 1: 0.76, 2: 0.75}
KD_TRAIN_GAIN = {0: 0.10, 1: 0.08, 2: 0.12}  # diff mean 0.10, std 0.02


def runs_with_train_fidelity() -> pd.DataFrame:
    df = runs()
    solo = df["method"] == "solo"
    df["train_agreement"] = df["seed"].map(SOLO_TRAIN_AGREE) + np.where(
        solo, 0.0, df["seed"].map(KD_TRAIN_GAIN).fillna(0.0)
    )
    df["train_kl_teacher"] = np.where(solo, 0.6, 0.15) + 0.01 * df["seed"].clip(upper=2)
    df["epochs_run"] = np.where(solo, 12, 30) + df["seed"].clip(upper=2)
    return df


def test_train_fidelity_is_paired_like_every_metric():
    table = comparison_table(runs_with_train_fidelity(), TEACHER_ACC)
    r = table[table["temperature"] == 4.0].iloc[0]
    assert r["solo_train_agreement_mean"] == pytest.approx(0.75)
    assert r["solo_train_agreement_std"] == pytest.approx(0.01)
    assert r["kd_train_agreement_mean"] == pytest.approx(0.85)  # seed 9 has no solo partner
    assert r["diff_train_agreement_mean"] == pytest.approx(0.10)
    assert r["diff_train_agreement_se"] == pytest.approx(0.02 / math.sqrt(3))
    assert r["solo_train_kl_teacher_mean"] == pytest.approx(0.61)  # 0.60, 0.61, 0.62
    assert r["kd_train_kl_teacher_mean"] == pytest.approx(0.16)
    assert r["solo_epochs_run_mean"] == pytest.approx(13.0)  # 12, 13, 14
    assert r["kd_epochs_run_mean"] == pytest.approx(31.0)
    # the test-jet columns keep their names beside the new ones
    assert r["kd_agreement_mean"] == pytest.approx(0.9)
    assert r["kd_kl_teacher_mean"] == pytest.approx(0.2)
    cols = list(table.columns)
    assert cols.index("kd_kl_teacher_mean") < cols.index("solo_train_agreement_mean")


def test_readable_table_shows_train_and_test_fidelity():
    table = comparison_table(runs_with_train_fidelity(), TEACHER_ACC)
    t = readable_table(table)
    assert list(t.columns[-7:]) == [
        "solo agree", "KD agree", "solo train agree", "KD train agree", "KD test KL (nats)",
        "KD train KL (nats)", "epochs solo / KD",
    ]  # fmt: skip
    r = t[t["T"] == "4"].iloc[0]
    assert (r["solo agree"], r["KD agree"]) == ("0.800", "0.900")
    assert (r["solo train agree"], r["KD train agree"]) == ("0.750", "0.850")
    assert r["KD test KL (nats)"] == "0.200 ± 0.000"
    assert r["KD train KL (nats)"] == "0.160 ± 0.010"  # seeds 0-2 paired (seed 9 has no solo)
    assert r["epochs solo / KD"] == "13 / 31"
    md = to_markdown(table)
    assert "| solo train agree | KD train agree | KD test KL (nats) |" in md.splitlines()[0]
    assert all(line.count("|") == md.splitlines()[0].count("|") for line in md.strip().splitlines())


def test_runs_without_train_fidelity_still_tabulate():
    """Records written before train-jet fidelity was logged: no columns, dashes in the table."""
    table = comparison_table(runs(), TEACHER_ACC)
    assert "kd_train_agreement_mean" not in table.columns
    r = readable_table(table).iloc[0]
    assert r["solo train agree"] == "–" and r["KD train agree"] == "–"
    assert r["KD test KL (nats)"] != "–"
    assert r["KD train KL (nats)"] == "–" and r["epochs solo / KD"] == "–"


def test_plots_are_written(tmp_path):
    df = runs()
    # a second alpha so there are two lines per panel
    more = df[df["method"] == "kd"].assign(alpha=0.5)
    df = pd.concat([df, more])
    table = comparison_table(df, TEACHER_ACC)
    for fn, name in ((plot_accuracy_vs_temperature, "t.png"), (plot_accuracy_vs_alpha, "a.png")):
        fn(table, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_agreement_vs_accuracy(df, tmp_path / "agree.png")
    assert (tmp_path / "agree.png").stat().st_size > 1000
    with pytest.raises(InputError):
        plot_accuracy_vs_temperature(table.iloc[0:0], tmp_path / "empty.png")


def test_roc_comparison_aucs(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=600)
    onehot = np.eye(3)[y]
    logits = {
        "teacher": 4.0 * onehot + rng.normal(size=(600, 3)),  # strong separation
        "solo": 1.0 * onehot + rng.normal(size=(600, 3)),
        "random": rng.normal(size=(600, 3)),
    }
    aucs = plot_roc_comparison(y, logits, ["a", "b", "c"], tmp_path / "roc.png")
    assert (tmp_path / "roc.png").exists()
    for cls in "abc":
        assert aucs["teacher"][cls] > 0.97
        assert 0.65 < aucs["solo"][cls] < aucs["teacher"][cls]
        assert abs(aucs["random"][cls] - 0.5) < 0.1
    with pytest.raises(InputError, match="shape"):
        plot_roc_comparison(y, {"bad": np.zeros((600, 2))}, ["a", "b", "c"], tmp_path / "x.png")


def test_plots_accept_raw_runs_and_aliases_and_empty_table(tmp_path):
    plot_accuracy_vs_temperature(runs(), tmp_path / "t.png", TEACHER_ACC)
    plot_accuracy_vs_alpha(runs(), tmp_path / "a.png")
    assert (tmp_path / "t.png").exists() and (tmp_path / "a.png").exists()
    table = comparison_table(runs(), TEACHER_ACC)
    best = table.sort_values("kd_mean", ascending=False).iloc[0]
    assert best["kd_mean"] == pytest.approx(0.74) and best["diff_se"] == pytest.approx(
        0.01 / 3**0.5
    )
    empty = comparison_table(runs().query("method == 'solo'"), TEACHER_ACC)
    assert empty.empty and "kd_accuracy_mean" in empty.columns and "gap_closed" in empty.columns


def test_markdown_of_other_tables():
    md = to_markdown(
        pd.DataFrame({"student": ["mlp16"], "bits": [6], "acc": [0.812345], "x": [np.nan]})
    )
    assert md.splitlines()[0] == "| student | bits | acc | x |"
    assert md.splitlines()[2] == "| mlp16 | 6 | 0.8123 | – |"


def test_single_value_sweep_is_not_drawn_as_a_curve():
    import matplotlib.pyplot as plt

    from jetdistill.report.compare import sweep_figure

    table = comparison_table(runs(), TEACHER_ACC)  # temperatures swept, one alpha
    assert table["alpha"].nunique() == 1 and table["temperature"].nunique() > 1
    fig = sweep_figure(table, "alpha", "temperature", "alpha")
    try:
        ax = fig.axes[0]
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0] == "solo" and all(t.startswith("KD T=") for t in ticks[1:])
        assert "only alpha = " in ax.get_xlabel()
        # no line through several points: only single markers and the teacher's axhline
        data_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
        assert all(set(map(float, ln.get_xdata())) <= {0.0, 1.0} for ln in data_lines)  # axhline
    finally:
        plt.close(fig)
    fig = sweep_figure(table, "temperature", "alpha", "T")  # a real sweep stays a curve
    try:
        assert any(
            len(ln.get_xdata()) > 1 and ln.get_marker() == "o" for ln in fig.axes[0].get_lines()
        )
    finally:
        plt.close(fig)
