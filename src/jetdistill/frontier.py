"""The accuracy-cost frontier of compressed students (bit width x sparsity x {solo, KD}).

Joins QAT runs with their float references and, where converted, their FPGA
estimates, so one table answers "what accuracy does each BOP/LUT buy".
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FRONTIER_COLUMNS = [
    "student", "mode", "bits", "sparsity", "n_seeds", "test_accuracy", "test_accuracy_std", "test_auc_mean",
    "bops", "params", "nonzero_params", "size_bits", "float_accuracy", "accuracy_drop", "accuracy_drop_se",
    "bops_reduction", "luts", "ffs", "latency_cycles", "latency_ns", "hls_exact_fraction", "rtl_exact_fraction",
]  # fmt: skip


def _mean(df: pd.DataFrame, col: str) -> float:
    return float(df[col].mean()) if col in df and df[col].notna().any() else np.nan


def paired_drop_se(quant: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Standard error of the accuracy drop paired by seed (NaN with fewer than 2 shared seeds).

    A QAT student is fine-tuned from the float student of the same seed, so the per-seed
    difference removes the seed-to-seed spread both share: its SE is the honest error on
    "loses <= 1 point", where the unpaired SE would count that spread twice.
    """
    if "seed" not in quant or "seed" not in ref:
        return np.nan
    a = quant.groupby("seed")["test_accuracy"].mean()
    b = ref.groupby("seed")["test_accuracy"].mean()
    d = (b - a).dropna()
    return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan


def frontier_table(
    qat: pd.DataFrame, floats: pd.DataFrame, fpga: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (student, mode, bits, sparsity) plus one per float student/method.

    ``floats`` holds the float students (method solo/kd); ``accuracy_drop`` of a QAT
    row is measured against the float student of the same mode (for KD: the mean of
    every KD configuration the QAT+KD student could have started from is not what
    we want, so only the KD runs matching the QAT KD settings should be passed in, or
    the best KD configuration is used), and ``bops_reduction`` against the float32
    dense student of the same architecture.
    """
    rows: list[dict] = []
    if fpga is not None and not fpga.empty and "qat_mode" in fpga:
        fpga = fpga.dropna(
            subset=["qat_mode", "bits", "sparsity"]
        )  # float conversions have no grid point
    float_ref: dict[tuple[str, str], dict] = {}
    float_runs: dict[tuple[str, str], pd.DataFrame] = {}
    for (student, method), g in floats.groupby(["student", "method"]):
        if method == "kd":
            # best KD configuration by mean accuracy over seeds
            keys = [k for k in ("teacher", "kd_method", "temperature", "alpha") if k in g]
            g = max((sub for _, sub in g.groupby(keys)), key=lambda s: s["test_accuracy"].mean())
        ref = {"student": student, "mode": f"float_{method}", "bits": 32, "sparsity": 0.0,
               "n_seeds": len(g), "test_accuracy": _mean(g, "test_accuracy"),
               "test_accuracy_std": float(g["test_accuracy"].std(ddof=1)) if len(g) > 1 else 0.0,
               "test_auc_mean": _mean(g, "test_auc_mean")}  # fmt: skip
        for c in ("bops", "params", "nonzero_params", "size_bits"):
            ref[c] = _mean(g, c)
        float_ref[(student, method)] = ref
        float_runs[(student, method)] = g
        rows.append(ref)
    for (student, mode, bits, sparsity), g in qat.groupby(
        ["student", "qat_mode", "bits", "sparsity"]
    ):
        row = {"student": student, "mode": mode, "bits": int(bits), "sparsity": float(sparsity), "n_seeds": len(g),
               "test_accuracy": _mean(g, "test_accuracy"),
               "test_accuracy_std": float(g["test_accuracy"].std(ddof=1)) if len(g) > 1 else 0.0,
               "test_auc_mean": _mean(g, "test_auc_mean")}  # fmt: skip
        for c in ("bops", "params", "nonzero_params", "size_bits"):
            row[c] = _mean(g, c)
        ref = float_ref.get((student, mode))
        dense = float_ref.get((student, "solo")) or ref
        row["float_accuracy"] = ref["test_accuracy"] if ref else np.nan
        row["accuracy_drop"] = row["float_accuracy"] - row["test_accuracy"] if ref else np.nan
        row["accuracy_drop_se"] = paired_drop_se(g, float_runs[(student, mode)]) if ref else np.nan
        row["bops_reduction"] = dense["bops"] / row["bops"] if dense and row["bops"] else np.nan
        if fpga is not None and not fpga.empty and "qat_mode" in fpga:
            f = fpga[(fpga["student"] == student) & (fpga["qat_mode"] == mode)
                     & (fpga["bits"].astype(int) == int(bits))
                     & (fpga["sparsity"].astype(float) == float(sparsity))]  # fmt: skip
            for c in (
                "luts",
                "ffs",
                "latency_cycles",
                "latency_ns",
                "hls_exact_fraction",
                "rtl_exact_fraction",
            ):
                row[c] = _mean(f, c)
        rows.append(row)
    table = pd.DataFrame(rows)
    for c in FRONTIER_COLUMNS:
        if c not in table:
            table[c] = np.nan
    return table[FRONTIER_COLUMNS].sort_values(
        ["student", "bops"], ascending=[True, False], ignore_index=True
    )


def plot_frontier(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Accuracy against BOPs (log axis) and, for converted designs, against LUTs with latency.

    One marker style per mode; points are labelled with bits/sparsity (and cycles on the
    LUT panel) so the trade-off is readable without the table.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hw = table.dropna(subset=["luts"]) if "luts" in table else table.iloc[0:0]
    ncols = 2 if not hw.empty else 1
    fig, axes = plt.subplots(1, ncols, figsize=(7 * ncols, 5), squeeze=False)
    ax = axes[0, 0]
    markers = {"solo": "o", "kd": "s", "float_solo": "^", "float_kd": "D"}
    for mode, g in table.groupby("mode"):
        ax.errorbar(g["bops"], g["test_accuracy"], yerr=g["test_accuracy_std"].fillna(0), fmt=markers.get(mode, "x"),
                    label=mode, capsize=3)  # fmt: skip
        for _, r in g.iterrows():
            if not str(mode).startswith("float"):
                ax.annotate(f"{int(r['bits'])}b/{r['sparsity']:.0%}", (r["bops"], r["test_accuracy"]),
                            textcoords="offset points", xytext=(4, 4), fontsize=7)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("BOPs (arXiv:1804.10969)")
    ax.set_ylabel("test accuracy (mean over seeds, error bar: std)")
    ax.set_title("Accuracy-cost frontier")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if not hw.empty:
        ax2 = axes[0, 1]
        for mode, g in hw.groupby("mode"):
            ax2.plot(g["luts"], g["test_accuracy"], markers.get(mode, "x"), label=mode)
            for _, r in g.iterrows():
                ax2.annotate(f"{int(r['bits'])}b/{r['sparsity']:.0%}, {r['latency_cycles']:.0f} cyc "
                             f"({r['latency_ns']:.0f} ns)", (r["luts"], r["test_accuracy"]),
                             textcoords="offset points", xytext=(4, 4), fontsize=7)  # fmt: skip
        ax2.set_xlabel("LUTs (Yosys synth_xilinx)")
        ax2.set_ylabel("test accuracy (mean over seeds of the grid point)")
        ax2.set_title("FPGA cost of the converted seed(s)")
        ax2.grid(True, alpha=0.3)
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
