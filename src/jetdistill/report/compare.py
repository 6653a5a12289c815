"""KD-vs-solo comparison: a seed-paired table and its plots.

Seed-to-seed spread of a tiny student is often as large as the KD gain, so comparing
the mean KD accuracy with the mean solo accuracy hides whether KD helps. A KD run and a
solo run with the same seed share initialisation and batch order, so the *paired*
difference (KD - solo, seed by seed) has a much smaller spread; its standard error is
what says whether a gain is real. The "gap closed" ``(kd - solo) / (teacher - solo)`` puts
the gain on the scale of what a perfect distillation could reach.

Input: one row per student run with columns ``student``, ``method`` (``solo`` | ``kd``),
``seed``, ``test_accuracy`` and, for KD rows, ``teacher``, ``kd_method``, ``temperature``,
``alpha``; optional metric columns (``test_auc_mean``, ``test_agreement``,
``test_kl_teacher``, ``train_agreement``, ``train_kl_teacher``, ``test_rej50_*`` ...). The
``train_`` fidelity is measured on the transfer jets each student trained on: Stanton et al.
(2021, arXiv:2106.05945) read a student that matches its teacher poorly even there as an
optimisation problem, not a generalisation one. Solo runs have no teacher; if a solo row does
carry a ``teacher`` (its fidelity was measured against that teacher) it is preferred for
that teacher's comparison.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from jetdistill.errors import InputError
from jetdistill.identity import DEFAULT_ARM, KDJob
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

#: one KD configuration, seeds apart: the KD identity's record columns (jetdistill.identity)
GROUP_KEYS: tuple[str, ...] = KDJob.record_keys()
#: role of the solo-on-all reference's rows in :func:`reference_table`
SOLO_ALL_ROLE = "solo on transfer + unlabelled jets, with labels (upper reference)"

REQUIRED: tuple[str, ...] = ("student", "method", "seed", "test_accuracy")
#: the arm is optional: rows without one (records from before arms, hand-made tables) are the
#: default arm's
KD_REQUIRED: tuple[str, ...] = tuple(k for k in GROUP_KEYS[1:] if k != "arm")
DEFAULT_METRICS: tuple[str, ...] = (
    "test_accuracy",
    "test_auc_mean",
    "test_agreement",
    "test_kl_teacher",
    "train_agreement",
    "train_kl_teacher",
    "epochs_run",
)


def _short(metric: str) -> str:
    """Column stem of a metric: ``test_`` is implied (``test_agreement`` -> ``agreement``),
    every other prefix is kept (``train_agreement`` -> ``train_agreement``)."""
    return metric.removeprefix("test_")


def _stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample std (ddof=1; NaN for fewer than two finite values)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def _per_seed(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per seed (duplicate runs of a seed, e.g. reruns, are averaged)."""
    if rows.empty:
        return pd.DataFrame(columns=list(metrics), index=pd.Index([], name="seed"))
    dup = rows["seed"].duplicated()
    if dup.any():
        log.warning("averaging %d duplicate runs of the same seed", int(dup.sum()))
    return rows.groupby("seed")[list(metrics)].mean()


def _validate(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError("comparison runs table", f"columns {list(REQUIRED)}", f"missing {missing}")
    bad = sorted(set(df["method"].dropna().astype(str)) - {"solo", "kd"})
    if bad or df["method"].isna().any():
        raise InputError(
            "comparison runs table: column 'method'", "only 'solo' or 'kd'", repr(bad or "NaN")
        )
    df = df.copy()
    if (df["method"] == "kd").any():
        missing = [c for c in KD_REQUIRED if c not in df.columns]
        if missing:
            raise InputError(
                "comparison runs table (kd rows)",
                f"columns {list(KD_REQUIRED)}",
                f"missing {missing}",
            )
    for c in KD_REQUIRED:
        if c not in df.columns:
            df[c] = np.nan
    df["arm"] = df["arm"].fillna(DEFAULT_ARM) if "arm" in df.columns else DEFAULT_ARM
    for c in KDJob.record_numbers():
        try:
            df[c] = pd.to_numeric(df[c])
        except (TypeError, ValueError) as err:
            raise InputError(f"comparison runs table: column {c!r}", "numbers", str(err)) from err
    kd = df[df["method"] == "kd"]
    if kd[list(KD_REQUIRED)].isna().any().any():
        raise InputError(
            "comparison runs table (kd rows)", f"non-empty {list(KD_REQUIRED)}", "NaN values"
        )
    return df


def solo_arm_of(kd_rows: pd.DataFrame, arm: str) -> str:
    """The arm of a KD configuration's solo twin: the ``solo_arm`` its jobs recorded (an arm
    whose settings differ only in what the solo student never reads shares the solo jobs of
    the first arm with the same solo settings), else the KD arm itself."""
    if "solo_arm" in kd_rows.columns:
        given = kd_rows["solo_arm"].dropna().astype(str).unique()
        if len(given) == 1:
            return str(given[0])
    return arm


def _solo_rows(
    solo: pd.DataFrame, student: str, teacher: str, arm: str = DEFAULT_ARM
) -> pd.DataFrame:
    rows = solo[solo["student"] == student]
    if rows.empty:
        return rows
    rows = rows[rows["arm"] == arm]
    same_teacher = rows["teacher"] == teacher
    if same_teacher.any():
        return rows[same_teacher]
    no_teacher = rows["teacher"].isna()
    return rows[no_teacher] if no_teacher.any() else rows


def comparison_table(
    df: pd.DataFrame,
    teacher_acc: Mapping[str, float],
    metrics: Sequence[str] = DEFAULT_METRICS,
    omitted: Sequence[str] = (),
    teacher_recall: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """One row per (student, teacher, kd_method, temperature, alpha) over paired seeds.

    Columns: the group keys, ``n_seeds`` (seeds with both a solo and a KD run; all
    statistics use only these), for each metric present ``solo_{m}_mean``,
    ``solo_{m}_std``, ``kd_{m}_mean``, ``kd_{m}_std``, ``diff_{m}_mean``, ``diff_{m}_se``
    (``m`` without the ``test_`` prefix), then ``teacher_accuracy``, ``gap_closed`` and the
    headline accuracy aliases ``solo_mean``, ``kd_mean``, ``diff_mean``, ``diff_se`` (same
    values as ``solo_accuracy_mean`` ... ``diff_accuracy_se``, for logging the best row).
    A table without KD runs is empty but has every column.

    ``omitted``: classes left out of the transfer set (``data.splits.exclude_from_transfer``).
    For each, the per-class accuracy ``test_recall_{class}`` is compared like any metric
    (``solo_recall_{class}_mean`` ...: how much of a class it never saw each student gets
    right, Hinton et al. 2015, section 3), and ``teacher_recall_{class}`` is added from
    ``teacher_recall`` (teacher -> {class: recall}) when given.
    """
    df = _validate(df)
    omitted = list(omitted)
    for c in omitted:
        if f"test_recall_{c}" not in df.columns:
            raise InputError("comparison runs table", f"column test_recall_{c} (omitted class {c!r})",
                             "missing (runs without per-class accuracy)")  # fmt: skip
    metrics = [*metrics, *(f"test_recall_{c}" for c in omitted)]
    metrics = [m for m in dict.fromkeys(["test_accuracy", *metrics]) if m in df.columns]
    solo = df[df["method"] == "solo"]
    kd = df[df["method"] == "kd"]
    rows: list[dict[str, Any]] = []
    for keys, kd_rows in kd.groupby(list(GROUP_KEYS), sort=True):
        row: dict[str, Any] = dict(zip(GROUP_KEYS, keys, strict=True))
        k = _per_seed(kd_rows, metrics)
        twin = solo_arm_of(kd_rows, row["arm"])
        row["solo_arm"] = twin
        s = _per_seed(_solo_rows(solo, row["student"], row["teacher"], twin), metrics)
        seeds = k.index.intersection(s.index)
        if len(seeds) == 0:
            log.warning("no seed has both a solo and a KD run for %s", row)
        if len(seeds) < len(k.index) or len(seeds) < len(s.index):
            log.info(
                "%s: %d paired seeds (%d KD, %d solo)", row, len(seeds), len(k.index), len(s.index)
            )
        k, s = k.loc[seeds], s.loc[seeds]
        row["n_seeds"] = len(seeds)
        for m in metrics:
            sv, kv = s[m].to_numpy(float), k[m].to_numpy(float)
            name = _short(m)
            row[f"solo_{name}_mean"], row[f"solo_{name}_std"] = _stats(sv)
            row[f"kd_{name}_mean"], row[f"kd_{name}_std"] = _stats(kv)
            mean, std = _stats(kv - sv)
            n = int(np.isfinite(kv - sv).sum())
            row[f"diff_{name}_mean"] = mean
            row[f"diff_{name}_se"] = std / math.sqrt(n) if n > 1 else math.nan
        t_acc = (teacher_acc or {}).get(row["teacher"])
        t_acc = math.nan if t_acc is None or pd.isna(t_acc) else float(t_acc)
        if math.isnan(t_acc):
            log.warning("no teacher accuracy for %r: gap_closed is NaN", row["teacher"])
        row["teacher_accuracy"] = float(t_acc)
        gap = t_acc - row["solo_accuracy_mean"]
        row["gap_closed"] = (
            (row["kd_accuracy_mean"] - row["solo_accuracy_mean"]) / gap
            if abs(gap) > 1e-12
            else math.nan
        )
        for alias in ("solo_mean", "kd_mean"):
            row[alias] = row[alias.replace("_mean", "_accuracy_mean")]
        row["diff_mean"], row["diff_se"] = row["diff_accuracy_mean"], row["diff_accuracy_se"]
        for c in omitted:
            t_rec = ((teacher_recall or {}).get(row["teacher"]) or {}).get(c)
            row[f"teacher_recall_{c}"] = math.nan if t_rec is None else float(t_rec)
        rows.append(row)
    if not rows:
        log.warning("comparison table: no KD runs")
    columns = _table_columns(metrics) + [f"teacher_recall_{c}" for c in omitted]
    table = pd.DataFrame(rows, columns=columns)
    if omitted:
        table.insert(len(GROUP_KEYS) + 2, "omitted", ",".join(omitted))
    return table


def _table_columns(metrics: Sequence[str]) -> list[str]:
    cols = [*GROUP_KEYS, "solo_arm", "n_seeds"]
    for m in metrics:
        name = _short(m)
        cols += [f"{w}_{name}_{stat}" for w in ("solo", "kd") for stat in ("mean", "std")]
        cols += [f"diff_{name}_mean", f"diff_{name}_se"]
    return [*cols, "teacher_accuracy", "gap_closed", "solo_mean", "kd_mean", "diff_mean", "diff_se"]


def _by_arm(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Rows grouped by model and arm, named ``student`` in the default arm and
    ``student [arm]`` in another (an arm with solo settings of its own)."""
    arms = rows["arm"].fillna(DEFAULT_ARM) if "arm" in rows.columns else DEFAULT_ARM
    rows = rows.assign(arm=arms)
    return [(m if a == DEFAULT_ARM else f"{m} [{a}]", sub)
            for (m, a), sub in rows.groupby(["student", "arm"], sort=False)]  # fmt: skip


def reference_table(
    df: pd.DataFrame,
    teacher_acc: Mapping[str, float],
    baselines: Sequence[str] = (),
    teacher_auc: Mapping[str, float] | None = None,
    solo_all: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What the KD gains are measured against: every teacher, every baseline and every
    student trained alone, one row each (mean and std of test accuracy / mean AUC over seeds).

    ``solo_all``: runs of the solo-on-all reference (``distillation.unlabelled``: a student
    trained alone on the transfer set plus the unlabelled jets with their labels), one row per
    student with the role :data:`SOLO_ALL_ROLE`: the most those jets could give a student.

    Why: a KD gain means little unless the teacher beats both the solo students and the
    physicist's obvious baseline (an MLP on jet mass, mMDT mass, multiplicity) on the same
    jets; this table puts the three side by side.
    """
    df = _validate(df)
    rows: list[dict[str, Any]] = [
        {"model": t, "role": "teacher", "n_seeds": 1, "accuracy_mean": float(a),
         "accuracy_std": math.nan, "auc_mean": float((teacher_auc or {}).get(t, math.nan)),
         "auc_std": math.nan}
        for t, a in teacher_acc.items()
    ]  # fmt: skip
    solo = df[df["method"] == "solo"]
    groups = [(m, sub, "solo student") for m, sub in _by_arm(solo)]
    if solo_all is not None and not solo_all.empty:
        groups += [(m, sub, SOLO_ALL_ROLE) for m, sub in _by_arm(solo_all)]
    for model, sub, role in groups:
        per_seed = _per_seed(sub, [m for m in ("test_accuracy", "test_auc_mean") if m in sub])
        acc = _stats(per_seed["test_accuracy"].to_numpy(float))
        auc = _stats(per_seed["test_auc_mean"].to_numpy(float)) if "test_auc_mean" in per_seed \
            else (math.nan, math.nan)  # fmt: skip
        rows.append({"model": model, "role": "baseline" if model in baselines else role,
                     "n_seeds": len(per_seed), "accuracy_mean": acc[0], "accuracy_std": acc[1],
                     "auc_mean": auc[0], "auc_std": auc[1]})  # fmt: skip
    order = {"teacher": 0, "baseline": 1, "solo student": 2, SOLO_ALL_ROLE: 3}
    out = pd.DataFrame(rows, columns=["model", "role", "n_seeds", "accuracy_mean", "accuracy_std",
                                      "auc_mean", "auc_std"])  # fmt: skip
    return out.sort_values(["role", "accuracy_mean"], key=lambda c: c.map(order) if c.name == "role"
                           else -c, kind="stable").reset_index(drop=True)  # fmt: skip


def readable_reference(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`reference_table` as formatted strings (mean ± std over seeds)."""
    rows = [[str(r["model"]), str(r["role"]), str(int(r["n_seeds"])),
             _pm(r["accuracy_mean"], r["accuracy_std"]), _pm(r["auc_mean"], r["auc_std"])]
            for _, r in table.iterrows()]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "role", "seeds", "test accuracy", "mean AUC"])


def reference_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`reference_table` (accuracy and mean AUC, mean ± std over seeds)."""
    t = readable_reference(table)
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in t.itertuples(index=False)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- markdown


def _fmt(x: float, digits: int = 4, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _pm(mean: float, err: float, digits: int = 4, sign: bool = False) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    s = _fmt(mean, digits, sign)
    return f"{s} ± {_fmt(err, digits)}" if err is not None and np.isfinite(err) else s


def _generic_markdown(table: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else f"{v:.4g}"
        return "–" if v is None else str(v)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub markdown of :func:`comparison_table` (mean ± std over seeds; Δ ± standard error).

    Accuracies are fractions (as in the README); the paired difference Δ is in percentage
    points (pts), the unit the README quotes it in.

    Any other DataFrame (e.g. the compression frontier) is rendered column by column with
    4 significant digits, so one helper serves every report table.
    """
    if "kd_accuracy_mean" not in table.columns:
        return _generic_markdown(table)
    headers = READABLE_HEADERS
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in _readable_rows(table)]
    return "\n".join(lines) + "\n" + _omitted_markdown(table)


#: Column headers of :func:`to_markdown` / :func:`readable_table`. "agree" is argmax
#: agreement with the teacher on the test jets, "train agree" on the jets the student trained
#: on; "KD test KL" / "KD train KL" is KL(teacher || KD student) on those jets (mean ± std over
#: seeds); "epochs" the epochs each ran before early stopping (mean over seeds), solo / KD: at
#: an equal budget (same cap and patience) a KD student that runs longer is a patient one.
READABLE_HEADERS = [
    "student", "arm", "teacher", "KD", "T", "α", "seeds", "teacher acc", "solo acc", "KD acc",
    "Δacc KD−solo (pts, ±SE)", "gap closed", "solo AUC", "KD AUC", "solo agree", "KD agree",
    "solo train agree", "KD train agree", "KD test KL (nats)", "KD train KL (nats)",
    "epochs solo / KD",
]  # fmt: skip


def _epochs(solo: float, kd: float) -> str:
    """``solo / KD`` mean epochs run, whole numbers; a dash for a side not recorded."""

    def one(v: float) -> str:
        return "–" if not np.isfinite(v) else f"{v:.0f}"

    return "–" if not (np.isfinite(solo) or np.isfinite(kd)) else f"{one(solo)} / {one(kd)}"


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_table` as formatted strings (the cells of :func:`to_markdown`)."""
    return pd.DataFrame(_readable_rows(table), columns=READABLE_HEADERS)


def _readable_rows(table: pd.DataFrame) -> list[list[str]]:
    out = []
    for _, r in table.iterrows():
        g = r.get
        gap = g("gap_closed", math.nan)
        cells = [
            str(r["student"]), str(r.get("arm", DEFAULT_ARM)), str(r["teacher"]), str(r["kd_method"]), f"{r['temperature']:g}",
            f"{r['alpha']:g}", str(int(r["n_seeds"])), _fmt(g("teacher_accuracy", math.nan)),
            _pm(g("solo_accuracy_mean"), g("solo_accuracy_std")),
            _pm(g("kd_accuracy_mean"), g("kd_accuracy_std")),
            _pm(100 * g("diff_accuracy_mean"), 100 * g("diff_accuracy_se"), digits=2, sign=True),
            "–" if not np.isfinite(gap) else f"{100 * gap:.0f}%",
            _pm(g("solo_auc_mean_mean", math.nan), g("solo_auc_mean_std", math.nan)),
            _pm(g("kd_auc_mean_mean", math.nan), g("kd_auc_mean_std", math.nan)),
            _fmt(g("solo_agreement_mean", math.nan), 3), _fmt(g("kd_agreement_mean", math.nan), 3),
            _fmt(g("solo_train_agreement_mean", math.nan), 3),
            _fmt(g("kd_train_agreement_mean", math.nan), 3),
            _pm(g("kd_kl_teacher_mean", math.nan), g("kd_kl_teacher_std", math.nan), 3),
            _pm(g("kd_train_kl_teacher_mean", math.nan), g("kd_train_kl_teacher_std", math.nan), 3),
            _epochs(g("solo_epochs_run_mean", math.nan), g("kd_epochs_run_mean", math.nan)),
        ]  # fmt: skip
        out.append(cells)
    return out


def omitted_classes(table: pd.DataFrame) -> list[str]:
    """Classes whose per-class accuracy the table compares (those left out of the transfer set)."""
    cols = [c for c in table.columns if c.startswith("solo_recall_") and c.endswith("_mean")]
    return [c.removeprefix("solo_recall_").removesuffix("_mean") for c in cols]


def _omitted_markdown(table: pd.DataFrame) -> str:
    """Second table: accuracy on each class the students never saw in their transfer set."""
    classes = omitted_classes(table)
    if not classes or table.empty:
        return ""
    headers = ["student", "teacher", "KD", "T", "α", "omitted class", "teacher acc", "solo acc",
               "KD acc", "Δ KD−solo (pts, ±SE)"]  # fmt: skip
    lines = ["", "Accuracy on the classes left out of the transfer set (`data.splits.exclude_from_transfer`):",
             "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]  # fmt: skip
    for _, r in table.iterrows():
        g = r.get
        for c in classes:
            cells = [
                str(r["student"]), str(r.get("arm", DEFAULT_ARM)), str(r["teacher"]), str(r["kd_method"]), f"{r['temperature']:g}",
                f"{r['alpha']:g}", c, _fmt(g(f"teacher_recall_{c}", math.nan)),
                _pm(g(f"solo_recall_{c}_mean"), g(f"solo_recall_{c}_std")),
                _pm(g(f"kd_recall_{c}_mean"), g(f"kd_recall_{c}_std")),
                _pm(100 * g(f"diff_recall_{c}_mean", math.nan), 100 * g(f"diff_recall_{c}_se", math.nan), digits=2,
                    sign=True),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def _save(fig: plt.Figure, out_path: str | os.PathLike[str]) -> None:
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _panel_groups(table: pd.DataFrame) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    if table.empty:
        raise InputError("comparison table", "at least one KD row to plot", "empty table")
    return list(table.groupby(["student", "teacher", "kd_method"], sort=True))


def _axes(n: int) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _reference_lines(ax: plt.Axes, sub: pd.DataFrame) -> None:
    """Solo accuracy as a mean ± std band, teacher accuracy as a dashed line."""
    solo_mean = float(sub["solo_accuracy_mean"].mean())
    solo_std = float(np.nan_to_num(sub["solo_accuracy_std"].mean()))
    if not np.isfinite(solo_mean):
        return
    ax.axhspan(solo_mean - solo_std, solo_mean + solo_std, color="grey", alpha=0.25, lw=0)
    ax.axhline(solo_mean, color="grey", lw=1.2, label="solo (mean ± std)")
    t_acc = float(sub["teacher_accuracy"].iloc[0])
    if np.isfinite(t_acc):
        ax.axhline(t_acc, color="black", ls="--", lw=1.0, label="teacher")


def _as_table(data: pd.DataFrame, teacher_acc: Mapping[str, float] | None) -> pd.DataFrame:
    """Accept either a :func:`comparison_table` or the raw runs it is built from."""
    if "kd_accuracy_mean" in data.columns:
        return data
    if "method" in data.columns:
        return comparison_table(data, teacher_acc or {})
    raise InputError("comparison plot input", "a comparison table or a runs table", "neither")


def _sweep_plot(
    table: pd.DataFrame, out_path: str | os.PathLike[str], x: str, line: str, xlabel: str
) -> None:
    _save(sweep_figure(table, x, line, xlabel), out_path)


def sweep_figure(table: pd.DataFrame, x: str, line: str, xlabel: str) -> plt.Figure:
    """KD accuracy against ``x``, one line per ``line`` value, one panel per student pair.

    A panel whose sweep has a single ``x`` value gets :func:`_single_value_panel` instead
    of a one-point "curve".
    """
    groups = _panel_groups(table)
    fig, axes = _axes(len(groups))
    for ax, ((student, teacher, method), sub) in zip(axes, groups, strict=True):
        if sub[x].nunique() < 2:
            _single_value_panel(ax, sub, x, line, xlabel)
            ax.set_title(f"{student} ← {teacher} ({method})")
            continue
        _reference_lines(ax, sub)
        for value, lsub in sub.groupby(line, sort=True):
            lsub = lsub.sort_values(x)
            ax.errorbar(
                lsub[x], lsub["kd_accuracy_mean"], yerr=np.nan_to_num(lsub["kd_accuracy_std"]),
                marker="o", capsize=3, label=f"KD {line}={value:g}",
            )  # fmt: skip
        if x == "temperature" and sub[x].max() / sub[x].min() >= 8:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{student} ← {teacher} ({method})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _single_value_panel(ax: plt.Axes, sub: pd.DataFrame, x: str, line: str, xlabel: str) -> None:
    """A sweep of one value is not a curve: solo and each KD setting as labelled points.

    One x value would give a lone point on an axis of a few hundredths of a unit; instead
    the panel compares solo with every KD setting side by side, and says which x it was.
    """
    names = {"temperature": "T", "alpha": "α"}
    value = float(sub[x].iloc[0])
    sub = sub.sort_values(line)
    labels = ["solo"] + [f"KD {names.get(line, line)}={v:g}" for v in sub[line]]
    means = [float(sub["solo_accuracy_mean"].mean()), *sub["kd_accuracy_mean"].astype(float)]
    stds = [float(np.nan_to_num(sub["solo_accuracy_std"].mean())),
            *np.nan_to_num(sub["kd_accuracy_std"].astype(float))]  # fmt: skip
    pos = np.arange(len(labels))
    colors = ["grey"] + ["tab:blue"] * (len(labels) - 1)
    for p, m, e, c in zip(pos, means, stds, colors, strict=True):
        ax.errorbar([p], [m], yerr=[e], fmt="o", color=c, capsize=4)
    t_acc = float(sub["teacher_accuracy"].iloc[0])
    if np.isfinite(t_acc):
        ax.axhline(t_acc, color="black", ls="--", lw=1.0, label="teacher")
        ax.legend(fontsize=8)
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(f"only {xlabel} = {value:g} was swept: no curve; solo vs KD at that value")
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.grid(alpha=0.3, axis="y")


def plot_accuracy_vs_temperature(
    table: pd.DataFrame,
    out_path: str | os.PathLike[str],
    teacher_acc: Mapping[str, float] | None = None,
) -> None:
    """KD accuracy vs temperature, one line per alpha, solo as a band; one panel per pair.

    ``table`` is a :func:`comparison_table` or the raw runs (then ``teacher_acc`` adds the
    teacher line).
    """
    _sweep_plot(
        _as_table(table, teacher_acc),
        out_path,
        x="temperature",
        line="alpha",
        xlabel="temperature T",
    )


def plot_accuracy_vs_alpha(
    table: pd.DataFrame,
    out_path: str | os.PathLike[str],
    teacher_acc: Mapping[str, float] | None = None,
) -> None:
    """KD accuracy vs alpha (weight of the hard-label CE), one line per temperature."""
    _sweep_plot(
        _as_table(table, teacher_acc),
        out_path,
        x="alpha",
        line="temperature",
        xlabel="alpha (hard-label weight)",
    )


def plot_agreement_vs_accuracy(runs: pd.DataFrame, out_path: str | os.PathLike[str]) -> None:
    """Per-run scatter of teacher agreement vs accuracy, solo vs KD (one marker per student).

    Shows whether KD students gain accuracy by *imitating* the teacher (higher agreement)
    or independently of it.
    """
    need = ["student", "method", "test_accuracy", "test_agreement"]
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise InputError("runs table for agreement plot", f"columns {need}", f"missing {missing}")
    data = runs.dropna(subset=["test_accuracy", "test_agreement"])
    if data.empty:
        raise InputError("runs table for agreement plot", "runs with test_agreement", "none")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    markers = "osD^vP*X"
    colors = {"solo": "tab:grey", "kd": "tab:blue"}
    for i, (student, sub) in enumerate(data.groupby("student", sort=True)):
        for method, msub in sub.groupby("method", sort=True):
            ax.scatter(
                msub["test_agreement"], msub["test_accuracy"], marker=markers[i % len(markers)],
                color=colors.get(method, "tab:red"), alpha=0.8, label=f"{student} {method}",
            )  # fmt: skip
    ax.set_xlabel("agreement with teacher (argmax)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out_path)


def plot_roc_comparison(
    y: np.ndarray,
    logits: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    out_path: str | os.PathLike[str],
) -> dict[str, dict[str, float]]:
    """One-vs-rest ROC per class for several models (teacher, solo, KD student).

    Plotted in the HEP convention (signal efficiency vs background rejection 1/eps_B, log
    y). Returns ``{model: {class: AUC}}`` so the caller can log what the figure shows.
    """
    y = np.asarray(y)
    if not logits:
        raise InputError("plot_roc_comparison: logits", "at least one model", "none")
    k = len(class_names)
    for name, z in logits.items():
        if np.shape(z) != (len(y), k):
            raise InputError(
                f"plot_roc_comparison: logits[{name!r}]", f"shape ({len(y)}, {k})", str(np.shape(z))
            )
    fig, axes = _axes(k)
    aucs: dict[str, dict[str, float]] = {name: {} for name in logits}
    for c, (ax, cls) in enumerate(zip(axes, class_names, strict=True)):
        positive = y == c
        if positive.all() or not positive.any():
            ax.set_title(f"{cls}: no signal/background")
            continue
        for name, z in logits.items():
            z = np.asarray(z, dtype=np.float64)
            score = z - np.logaddexp.reduce(z, axis=1, keepdims=True)  # log-softmax
            fpr, tpr, _ = roc_curve(positive, score[:, c])
            aucs[name][cls] = float(np.trapezoid(tpr, fpr))
            ok = fpr > 0
            ax.plot(tpr[ok], 1.0 / fpr[ok], label=f"{name} (AUC {aucs[name][cls]:.3f})")
        ax.set_yscale("log")
        ax.set_xlabel(f"{cls} efficiency")
        ax.set_ylabel("background rejection 1/ε_B")
        ax.set_title(f"{cls} vs rest")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    _save(fig, out_path)
    return aucs
