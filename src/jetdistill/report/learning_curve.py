"""Learning curves: test accuracy against the number of training jets, and an extrapolation.

Why: whether a teacher is "data-starved" (and whether a bigger generated sample would
pay) is a question about the slope of accuracy vs training-set size, not about one
point. The workflow trains the teacher, the high-level-feature baseline and one student
(solo and KD) on nested, stratified fractions of their training split
(:func:`jetdistill.data.splits.subsample_rows`) and this module tabulates, fits and plots them.

Fit: a saturating power law ``acc(n) = a - b * n**(-c)`` per model (Hestness et al.
2017 found power-law learning curves across deep-learning tasks), by least squares on
the measured points. With 4 points and 3 parameters the extrapolation is indicative only;
the table says so by reporting the fit's residual next to it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jetdistill.errors import InputError
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

REQUIRED: tuple[str, ...] = ("curve", "n_train", "test_accuracy")


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def fit_power_law(n: Sequence[float], acc: Sequence[float]) -> tuple[float, float, float, float]:
    """(a, b, c, rms residual) of ``acc = a - b n^-c``; NaNs if fewer than 3 distinct sizes.

    Bounded fit (0 <= a <= 1, b >= 0, 0.05 <= c <= 2): an unbounded fit on 4 noisy points
    happily returns an asymptote above 100% or a rising-then-falling curve.
    """
    from scipy.optimize import curve_fit

    x, y = np.asarray(n, float), np.asarray(acc, float)
    if len(np.unique(x)) < 3:
        return math.nan, math.nan, math.nan, math.nan
    p0 = (min(1.0, y.max() + 0.02), 1.0, 0.5)
    try:
        (a, b, c), _ = curve_fit(
            power_law, x, y, p0=p0, bounds=([0.0, 0.0, 0.05], [1.0, np.inf, 2.0]), maxfev=20000
        )
    except (RuntimeError, ValueError) as err:  # no convergence: say so, do not invent a curve
        log.warning("power-law fit failed: %s", err)
        return math.nan, math.nan, math.nan, math.nan
    rms = float(np.sqrt(np.mean((power_law(x, a, b, c) - y) ** 2)))
    return float(a), float(b), float(c), rms


def learning_curve_table(
    records: pd.DataFrame, extrapolate_to: Sequence[int] = (200_000, 800_000)
) -> pd.DataFrame:
    """One row per (curve, n_train) with mean/std test accuracy over seeds, plus, per curve,
    the power-law fit and its prediction at each of ``extrapolate_to`` training jets."""
    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise InputError(
            "learning-curve records", f"columns {list(REQUIRED)}", f"missing {missing}"
        )
    rows = []
    for curve, sub in records.groupby("curve", sort=False):
        agg = sub.groupby("n_train")["test_accuracy"].agg(["mean", "std", "count"]).sort_index()
        a, b, c, rms = fit_power_law(agg.index.to_numpy(float), agg["mean"].to_numpy(float))
        for n, r in agg.iterrows():
            row = {"curve": curve, "n_train": int(n), "accuracy_mean": float(r["mean"]),
                   "accuracy_std": float(r["std"]) if r["count"] > 1 else math.nan,
                   "n_seeds": int(r["count"]), "fit_a": a, "fit_b": b, "fit_c": c,
                   "fit_rms": rms}  # fmt: skip
            for m in extrapolate_to:
                row[f"pred_{m // 1000}k"] = (
                    float(power_law(m, a, b, c)) if np.isfinite(a) else math.nan
                )
            rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3f}"


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per curve, formatted: accuracy at each training size, the fit's asymptote,
    its extrapolations and its rms residual (the cells of :func:`to_markdown`)."""
    preds = [c for c in table.columns if c.startswith("pred_")]
    cols = ["model", "training jets: test accuracy", "fit asymptote",
            *(f"extrapolated, {p.removeprefix('pred_')} jets" for p in preds), "fit rms"]  # fmt: skip
    rows = []
    for curve, sub in table.groupby("curve", sort=False):
        pts = ", ".join(
            f"{int(r.n_train):,}: {r.accuracy_mean:.3f}"
            + (f"±{r.accuracy_std:.3f}" if np.isfinite(r.accuracy_std) else "")
            for r in sub.itertuples()
        )
        first = sub.iloc[0]
        rows.append([str(curve), pts, _fmt(first["fit_a"]), *(_fmt(first[p]) for p in preds),
                     _fmt(first["fit_rms"])])  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def to_markdown(table: pd.DataFrame) -> str:
    """Per curve: accuracy at each training size, then the fit's extrapolations."""
    if table.empty:
        return "(no learning-curve points)\n"
    t = readable_table(table)
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in t.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot_learning_curve(
    table: pd.DataFrame, out_path: str | os.PathLike[str], extrapolate_to: int = 800_000
) -> None:
    """Test accuracy vs training jets (log x), error bars over seeds, dashed power-law fits
    extended to ``extrapolate_to`` jets."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (curve, sub) in enumerate(table.groupby("curve", sort=False)):
        color = f"C{i}"
        yerr = sub["accuracy_std"].fillna(0.0).to_numpy()
        ax.errorbar(sub["n_train"], sub["accuracy_mean"], yerr=yerr, marker="o", color=color,
                    capsize=3, label=curve)  # fmt: skip
        a, b, c = (float(sub.iloc[0][k]) for k in ("fit_a", "fit_b", "fit_c"))
        if np.isfinite(a):
            xs = np.geomspace(sub["n_train"].min(), extrapolate_to, 100)
            ax.plot(xs, power_law(xs, a, b, c), ls="--", lw=1, color=color, alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("training jets (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Learning curves (dashed: power-law fit, extrapolated)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
