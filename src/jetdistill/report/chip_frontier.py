"""The chip frontier: accuracy against LUTs of every per-weight-precision design, ours (KD,
solo) and the peer's, from the records of ``train_hgq``, ``estimate_hgq_rtl`` and
``synthesize_frontier``.

Three tables, all pure functions of those records:

- :func:`points_table`: one row per point (family, student, EBOPs weight): accuracy mean
  and std over seeds, LUTs (Yosys where the design was synthesized, else da4ml's estimate,
  which is within ~10% of it), FFs, cycles, bit-exactness over every seed, and whether the
  point is on its family's Pareto front;
- :func:`kd_vs_solo_table`: KD minus solo at the same student and EBOPs weight, paired by
  seed, with its standard error;
- :func:`budget_table`: at each LUT budget, our best KD point against the peer's best.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: the family of a design: its HGQ mode (``peer``: the JEDI-linear recipe)
FAMILIES: tuple[str, ...] = ("kd", "solo", "peer")
FAMILY_LABELS: dict[str, str] = {
    "kd": "ours, KD",
    "solo": "ours, solo",
    "peer": "peer (JEDI-linear recipe)",
}
#: the LUT budgets the frontier is read at, and how far over a budget a design may go
BUDGETS: tuple[int, ...] = (8_000, 15_000, 30_000, 50_000)
BUDGET_TOLERANCE = 0.10
KEYS = ["hgq_mode", "student", "ebops_beta", "arm"]


def design_table(models: pd.DataFrame, rtl: pd.DataFrame, synth: Sequence[dict]) -> pd.DataFrame:
    """One row per design (seed): its accuracy and EBOPs, its circuit's da4ml estimate,
    cycles and bit-exactness, and the Yosys counts where it was synthesized."""
    if models.empty:
        return pd.DataFrame(columns=[*KEYS, "seed"])
    m = models[[*KEYS, "seed", "test_accuracy", "ebops"]].copy()
    hw_cols = ["da4ml_cost_luts", "latency_cycles", "latency_ns", "rtl_exact_fraction",
               "rtl_emulation_exact_fraction", "rtl_emulation_f32_agreement", "path"]  # fmt: skip
    hw = rtl[[*KEYS, "seed", *[c for c in hw_cols if c in rtl.columns]]].rename(
        columns={"path": "rtl_path"}
    )
    out = m.merge(hw, on=[*KEYS, "seed"], how="left")
    yosys = pd.DataFrame([{"rtl_path": d["rtl"], "yosys_luts": d.get("luts"),
                           "yosys_ffs": d.get("ffs")} for d in synth])  # fmt: skip
    if yosys.empty:
        out["yosys_luts"], out["yosys_ffs"] = np.nan, np.nan
    else:
        out = out.merge(yosys, on="rtl_path", how="left")
    out["luts"] = out["yosys_luts"].fillna(out["da4ml_cost_luts"])
    out["lut_source"] = np.where(out["yosys_luts"].notna(), "yosys", "da4ml")
    # the circuit equals da4ml's integer emulation bit for bit (Verilator), and Keras (float32)
    # computes the same function to within float32 rounding (jetdistill.fpga.hgq_rtl)
    keras_ok = (out["rtl_emulation_f32_agreement"] if "rtl_emulation_f32_agreement" in out
                else out["rtl_emulation_exact_fraction"])  # fmt: skip
    out["bit_exact"] = (out["rtl_exact_fraction"] == 1.0) & (keras_ok == 1.0)
    return out


def brevitas_designs(qat: pd.DataFrame, rtl: pd.DataFrame) -> pd.DataFrame:
    """The one-width-per-tensor (Brevitas) chip designs that have a circuit (``fpga.targets``,
    ``fpga.frontier_seeds``), as rows of :func:`design_table`: the same family (its QAT
    mode), the point named by its bits and sparsity, no EBOPs weight."""
    if qat.empty or rtl.empty or "luts" not in rtl:
        return pd.DataFrame()
    keys = ["student", "qat_mode", "bits", "sparsity", "cost_penalty", "arm", "seed"]
    r = rtl.dropna(subset=["qat_mode"]).copy()
    q = qat.copy()
    for df in (q, r):
        df["bits"], df["seed"] = df["bits"].astype(int), df["seed"].astype(int)
        df["sparsity"], df["cost_penalty"] = (
            df["sparsity"].astype(float),
            df["cost_penalty"].astype(float),
        )
    hw = [c for c in ("luts", "ffs", "da4ml_cost_luts", "latency_cycles", "latency_ns",
                      "rtl_exact_fraction", "rtl_emulation_exact_fraction",
                      "rtl_yosys_s") if c in r]  # fmt: skip
    m = q[[*keys, "test_accuracy"]].merge(r[[*keys, *hw]], on=keys, how="inner")
    if m.empty:
        return pd.DataFrame()
    # Yosys ran where the record has its time (the resource source is text, not a metric)
    yosys = m["rtl_yosys_s"].notna() if "rtl_yosys_s" in m else pd.Series(False, index=m.index)
    return pd.DataFrame({
        "hgq_mode": m["qat_mode"],
        "student": [f"{s} (w{b}, {sp:g} pruned, one width per tensor)"
                    for s, b, sp in zip(m["student"], m["bits"], m["sparsity"], strict=True)],
        "ebops_beta": np.nan, "arm": m["arm"], "seed": m["seed"],
        "test_accuracy": m["test_accuracy"], "ebops": np.nan,
        "da4ml_cost_luts": m["da4ml_cost_luts"], "latency_cycles": m["latency_cycles"],
        "latency_ns": m["latency_ns"], "rtl_exact_fraction": m["rtl_exact_fraction"],
        "rtl_emulation_exact_fraction": m["rtl_emulation_exact_fraction"],
        "yosys_luts": m["luts"].where(yosys), "yosys_ffs": m["ffs"].where(yosys),
        "luts": m["luts"], "lut_source": np.where(yosys, "yosys", "da4ml"),
        "bit_exact": (m["rtl_exact_fraction"] == 1.0) & (m["rtl_emulation_exact_fraction"] == 1.0),
    })  # fmt: skip


def pareto_mask(cost: Sequence[float], score: Sequence[float]) -> list[bool]:
    """True where no other point has lower-or-equal cost and higher-or-equal score with one
    of them strict (the non-dominated set; equal points both stay)."""
    c, s = np.asarray(cost, float), np.asarray(score, float)
    keep = []
    for i in range(len(c)):
        dominated = np.any((c <= c[i]) & (s >= s[i]) & ((c < c[i]) | (s > s[i])))
        keep.append(bool(not dominated and np.isfinite(c[i]) and np.isfinite(s[i])))
    return keep


def points_table(designs: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per point; ``pareto``: on its family's front (mean accuracy against
    mean LUTs)."""
    if designs.empty:
        return pd.DataFrame(
            columns=[*KEYS, "n_seeds", "accuracy", "accuracy_std", "luts", "pareto"]
        )
    g = designs.groupby(KEYS, dropna=False)
    out = g.agg(
        n_seeds=("seed", "nunique"), accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"), luts=("luts", "mean"),
        da4ml_luts=("da4ml_cost_luts", "mean"), yosys_luts=("yosys_luts", "mean"),
        ffs=("yosys_ffs", "mean"), latency_cycles=("latency_cycles", "max"),
        latency_ns=("latency_ns", "max"), ebops=("ebops", "mean"), bit_exact=("bit_exact", "all"),
    ).reset_index()  # fmt: skip
    out["accuracy_std"] = out["accuracy_std"].fillna(0.0)
    out["pareto"] = False
    for idx in out.groupby("hgq_mode").groups.values():
        sub = out.loc[idx]
        out.loc[idx, "pareto"] = pareto_mask(sub["luts"], sub["accuracy"])
    order = {f: i for i, f in enumerate(FAMILIES)}
    return out.sort_values(["hgq_mode", "luts"], key=lambda s: s.map(order) if s.name == "hgq_mode"
                           else s).reset_index(drop=True)  # fmt: skip


def kd_vs_solo_table(designs: pd.DataFrame) -> pd.DataFrame:
    """KD minus solo accuracy per (student, EBOPs weight), paired by seed: mean, its standard
    error and how many standard errors it is from zero; LUTs of each side. The peer's model
    with KD is paired with the peer's own recipe (mode ``peer``), its twin without KD."""
    rows = []
    kd = designs[designs["hgq_mode"] == "kd"]
    for (student, beta, arm), k in kd.groupby(["student", "ebops_beta", "arm"]):
        same = designs[(designs["student"] == student) & (designs["ebops_beta"] == beta)
                       & (designs["arm"] == arm)]  # fmt: skip
        # the twin without KD: solo, or for the peer's model its own recipe (mode peer)
        s = same[same["hgq_mode"] == "solo"]
        if s.empty:
            s = same[same["hgq_mode"] == "peer"]
        pair = k.merge(s, on="seed", suffixes=("_kd", "_solo"))
        if pair.empty:
            continue
        d = pair["test_accuracy_kd"] - pair["test_accuracy_solo"]
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
        rows.append({"student": student, "ebops_beta": beta, "arm": arm, "n_pairs": len(d),
                     "kd_accuracy": pair["test_accuracy_kd"].mean(),
                     "solo_accuracy": pair["test_accuracy_solo"].mean(),
                     "delta": float(d.mean()), "delta_se": se,
                     "delta_over_se": float(d.mean() / se) if se and se > 0 else float("nan"),
                     "kd_luts": pair["luts_kd"].mean(), "solo_luts": pair["luts_solo"].mean()})  # fmt: skip
    return pd.DataFrame(rows)


def best_within(points: pd.DataFrame, family: str, budget: float) -> pd.Series | None:
    """The most accurate point of ``family`` whose LUTs are within ``budget`` (+ tolerance)."""
    sub = points[
        (points["hgq_mode"] == family) & (points["luts"] <= budget * (1 + BUDGET_TOLERANCE))
    ]
    return None if sub.empty else sub.loc[sub["accuracy"].idxmax()]


def budget_table(points: pd.DataFrame, budgets: Sequence[int] = BUDGETS) -> pd.DataFrame:
    """At each LUT budget: our best KD point, our best solo point and the peer's best, and
    how many points KD is ahead of the peer."""
    rows = []
    for b in budgets:
        row: dict = {"lut_budget": b}
        for fam in FAMILIES:
            p = best_within(points, fam, b)
            row[f"{fam}_accuracy"] = np.nan if p is None else p["accuracy"]
            row[f"{fam}_luts"] = np.nan if p is None else p["luts"]
            row[f"{fam}_point"] = (
                ""
                if p is None
                else (
                    f"{p['student']}"
                    + ("" if pd.isna(p["ebops_beta"]) else f" beta {p['ebops_beta']:g}")
                )
            )
        row["kd_minus_peer"] = row["kd_accuracy"] - row["peer_accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- output
def _fmt(v: object, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def family_label(mode: str, student: str, peer: str = "") -> str:
    """The family's name in the tables; the peer's model with our KD says so."""
    if mode == "kd" and peer and student == peer:
        return "peer's recipe + our KD"
    return FAMILY_LABELS.get(mode, mode)


def readable_points(points: pd.DataFrame, peer: str = "") -> pd.DataFrame:
    return pd.DataFrame({
        "family": [family_label(m, s, peer) for m, s in zip(points["hgq_mode"], points["student"], strict=True)],
        "student": points["student"],
        "EBOPs weight": points["ebops_beta"].map(lambda v: _fmt(v, "g")),
        "seeds": points["n_seeds"],
        "accuracy": [f"{a:.4f} ± {s:.4f}" for a, s in zip(points["accuracy"], points["accuracy_std"], strict=True)],
        "LUTs": points["luts"].map(lambda v: _fmt(v, ",.0f")),
        "LUTs (da4ml)": points["da4ml_luts"].map(lambda v: _fmt(v, ",.0f")),
        "LUTs (Yosys)": points["yosys_luts"].map(lambda v: _fmt(v, ",.0f")),
        "FFs (Yosys)": points["ffs"].map(lambda v: _fmt(v, ",.0f")),
        "cycles": points["latency_cycles"].map(lambda v: _fmt(v, ".0f")),
        "ns": points["latency_ns"].map(lambda v: _fmt(v, ".0f")),
        "bit-exact": points["bit_exact"].map({True: "yes", False: "NO"}),
        "Pareto": points["pareto"].map({True: "*", False: ""}),
    })  # fmt: skip


def readable_kd_vs_solo(t: pd.DataFrame) -> pd.DataFrame:
    if t.empty:
        return t
    return pd.DataFrame({
        "student": t["student"], "EBOPs weight": t["ebops_beta"].map(lambda v: f"{v:g}"),
        "pairs": t["n_pairs"], "KD": t["kd_accuracy"].map(lambda v: f"{v:.4f}"),
        "solo": t["solo_accuracy"].map(lambda v: f"{v:.4f}"),
        "KD - solo (pts)": [f"{100 * d:+.2f}" + ("" if math.isnan(s) else f" ± {100 * s:.2f}")
                            for d, s in zip(t["delta"], t["delta_se"], strict=True)],
        "/ SE": t["delta_over_se"].map(lambda v: _fmt(v, ".1f")),
        "LUTs KD / solo": [f"{_fmt(a, ',.0f')} / {_fmt(b, ',.0f')}" for a, b in zip(t["kd_luts"], t["solo_luts"], strict=True)],
    })  # fmt: skip


def readable_budgets(t: pd.DataFrame) -> pd.DataFrame:
    out = {"LUT budget (+10%)": t["lut_budget"].map(lambda v: f"{v:,}")}
    for fam in FAMILIES:
        out[FAMILY_LABELS[fam]] = [
            "-" if not isinstance(p, str) or not p else f"{a:.4f} at {l:,.0f} ({p})"
            for a, l, p in zip(t[f"{fam}_accuracy"], t[f"{fam}_luts"], t[f"{fam}_point"], strict=True)
        ]  # fmt: skip
    out["KD - peer (pts)"] = t["kd_minus_peer"].map(lambda v: _fmt(100 * v, "+.2f"))
    return pd.DataFrame(out)


def plot_chip_frontier(points: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Accuracy (mean ± std over seeds) against LUTs per family, its Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    colors = {"kd": "tab:red", "solo": "tab:blue", "peer": "tab:gray"}
    for fam in FAMILIES:
        sub = points[points["hgq_mode"] == fam]
        if sub.empty:
            continue
        ax.errorbar(sub["luts"], sub["accuracy"], yerr=sub["accuracy_std"], fmt="o", ms=4,
                    color=colors[fam], alpha=0.6, label=FAMILY_LABELS[fam])  # fmt: skip
        front = sub[sub["pareto"]].sort_values("luts")
        ax.plot(front["luts"], front["accuracy"], "-", color=colors[fam])
    ax.set_xscale("log")
    ax.set_xlabel("LUTs (Yosys synth_xilinx where synthesized, else da4ml's estimate)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Chip frontier: per-weight precision (HGQ), 5 classes")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
