"""The accuracy-cost frontier of compressed students (bit width x sparsity x {solo, KD}).

Joins QAT runs with their float references and, where converted, their FPGA
estimates, so one table answers "what accuracy does each BOP/LUT buy". A QAT point is
grouped by every key field of :class:`jetdistill.identity.QATJob` (all but the seed), so a
new sweep axis of the compression grid becomes a column of the table and a part of each
point's label without a change here. The published JEDI-linear design
(:data:`JEDI_LINEAR`) is drawn beside our points as an anchor: it is measured on the public
hls4ml data, not on this workflow's data.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jetdistill.identity import DEFAULT_ARM, KDJob, QATJob, fmt_num

log = logging.getLogger(__name__)

#: what the frontier measures of a QAT point, after its identity (:func:`frontier_columns`)
MEASURED_COLUMNS = [
    "n_seeds", "test_accuracy", "test_accuracy_std", "test_auc_mean",
    "bops", "params", "nonzero_params", "size_bits", "float_accuracy", "accuracy_drop", "accuracy_drop_se",
    "bops_reduction", "luts", "da4ml_luts", "ffs", "latency_cycles", "latency_ns", "hls_exact_fraction",
    "rtl_exact_fraction",
]  # fmt: skip


def frontier_columns() -> list[str]:
    """A QAT point's identity (:meth:`jetdistill.identity.QATJob.key_fields`: student, mode,
    bits, sparsity and any newer sweep axis), then :data:`MEASURED_COLUMNS`. A function, not a
    constant, so the columns follow the identity as it is when the table is built."""
    return [*QATJob.key_fields(), *MEASURED_COLUMNS]


#: frontier column -> the conversion record's metric it averages (RTL: jetdistill.fpga.rtl)
HARDWARE_COLUMNS: dict[str, str] = {
    "luts": "luts", "da4ml_luts": "da4ml_cost_luts", "ffs": "ffs", "latency_cycles": "latency_cycles",
    "latency_ns": "latency_ns", "hls_exact_fraction": "hls_exact_fraction",
    "rtl_exact_fraction": "rtl_exact_fraction",
}  # fmt: skip


@dataclass(frozen=True)
class Anchor:
    """A published design drawn beside the frontier (not one of ours: other data, other tools)."""

    name: str
    accuracy: float
    luts: float
    ffs: float
    latency_cycles: int
    latency_ns: float
    note: str


#: JEDI-linear, 16 constituents x (pT, eta_rel, phi_rel): per-weight HGQ bit widths, da4ml,
#: Vivado post-route on a VU13P at 354 MHz, 0 DSPs. Its accuracy is on the PUBLIC hls4ml jet
#: data set, not on this workflow's data: an anchor, not a like-for-like comparison.
JEDI_LINEAR = Anchor(
    name="JEDI-linear 16x3", accuracy=0.7195, luts=43_800, ffs=22_400, latency_cycles=19,
    latency_ns=54.0, note="public hls4ml data, Vivado post-route (VU13P), not our data",
)  # fmt: skip


def _same_point(df: pd.DataFrame, point: dict) -> pd.Series:
    """Rows of ``df`` at ``point`` (record column -> value). The conversion jobs record their
    numbers as text ("6", "0.5"), the QAT jobs as numbers: both compare by canonical text."""

    def text(v: object) -> str:
        try:
            return fmt_num(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(v)

    mask = pd.Series(True, index=df.index)
    for col, value in point.items():
        mask &= df[col].map(text) == text(value)
    return mask


def with_default_penalty(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the QAT records written before the cost penalty existed at penalty 0 (and
    before arms in the default arm)
    (groupby would drop their missing ``cost_penalty``); float-conversion rows (no
    ``bits``) are left without one."""
    col = QATJob.record_name("cost")
    df = df.copy()
    if col not in df:
        df[col] = np.nan
    grid = df["bits"].notna() if "bits" in df else pd.Series(True, index=df.index)
    df[col] = df[col].astype(object).where(df[col].notna() | ~grid, 0.0)
    # and those written before arms in the default arm
    arm = df["arm"] if "arm" in df else pd.Series(np.nan, index=df.index, dtype=object)
    df["arm"] = arm.astype(object).where(arm.notna() | ~grid, DEFAULT_ARM)
    return df


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


def float_references(floats: pd.DataFrame, kd_reference: dict | None) -> pd.DataFrame:
    """The float students QAT is measured against: every solo student, and the KD students
    trained with QAT+KD's own settings (``kd_reference``: method, temperature, alpha), which
    are the ones a QAT+KD job fine-tunes from."""
    if not kd_reference or "kd_method" not in floats:
        return floats
    ref = (
        (floats["kd_method"] == kd_reference["method"])
        & np.isclose(floats["temperature"].astype(float), kd_reference["temperature"])
        & np.isclose(floats["alpha"].astype(float), kd_reference["alpha"])
    )
    return floats[(floats["method"] == "solo") | ref]


def frontier_table(
    qat: pd.DataFrame, floats: pd.DataFrame, fpga: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (student, mode, bits, sparsity, cost penalty) plus one per float student/method.

    ``floats`` holds the float students (method solo/kd); ``accuracy_drop`` of a QAT
    row is measured against the float student of the same mode (for KD: the mean of
    every KD configuration the QAT+KD student could have started from is not what
    we want, so only the KD runs matching the QAT KD settings should be passed in, or
    the best KD configuration is used), and ``bops_reduction`` against the float32
    dense student of the same architecture.
    """
    rows: list[dict] = []
    keys = list(QATJob.record_keys())
    qat = with_default_penalty(qat)
    if fpga is not None and not fpga.empty:
        fpga = with_default_penalty(fpga)
    has_fpga = fpga is not None and not fpga.empty and QATJob.record_name("mode") in fpga
    if has_fpga:
        fpga = fpga.dropna(subset=keys[1:])  # float conversions have no grid point
    float_ref: dict[tuple[str, str], dict] = {}
    float_runs: dict[tuple[str, str], pd.DataFrame] = {}
    for (student, method), g in floats.groupby(["student", "method"]):
        if method == "kd":
            # best KD configuration by mean accuracy over seeds
            kd_keys = [k for k in KDJob.record_keys()[1:] if k in g]
            g = max((sub for _, sub in g.groupby(kd_keys)), key=lambda s: s["test_accuracy"].mean())
        ref = {"student": student, "mode": f"float_{method}", "bits": 32, "sparsity": 0.0,
               "n_seeds": len(g), "test_accuracy": _mean(g, "test_accuracy"),
               "test_accuracy_std": float(g["test_accuracy"].std(ddof=1)) if len(g) > 1 else 0.0,
               "test_auc_mean": _mean(g, "test_auc_mean")}  # fmt: skip
        for c in ("bops", "params", "nonzero_params", "size_bits"):
            ref[c] = _mean(g, c)
        float_ref[(student, method)] = ref
        float_runs[(student, method)] = g
        rows.append(ref)
    for key, g in qat.groupby(keys):
        point = QATJob.from_record(dict(zip(keys, key, strict=True)))
        student, mode = point.student, point.mode
        row = {**point.key_values(), "n_seeds": len(g),
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
        if has_fpga:
            f = fpga[_same_point(fpga, dict(zip(keys, key, strict=True)))]
            for c, metric in HARDWARE_COLUMNS.items():
                row[c] = _mean(f, metric)
        rows.append(row)
    table = pd.DataFrame(rows)
    columns = frontier_columns()
    for c in columns:
        if c not in table:
            table[c] = np.nan
    return table[columns].sort_values(
        ["student", "bops"], ascending=[True, False], ignore_index=True
    )


MODE_MARKERS = {"solo": "o", "kd": "s", "float_solo": "^", "float_kd": "D"}
MODE_NAMES = {
    "solo": "QAT solo",
    "kd": "QAT KD",
    "float_solo": "float solo",
    "float_kd": "float KD",
}
#: Offsets (points) tried for a label, nearest first; the first that overlaps nothing wins.
_OFFSETS = [(dx * r, dy * r) for r in (1, 2, 3, 4.5) for dx, dy in
            ((5, 4), (5, -11), (-5, 4), (-5, -11), (0, 9), (0, -15), (9, -3), (-9, -3))]  # fmt: skip


def place_labels(
    ax, points: list[tuple[float, float]], labels: list[str], fontsize: float = 7
) -> list:
    """Annotate ``points`` (data coordinates) with ``labels`` so no two labels overlap.

    Greedy: each label takes the nearest candidate offset whose text box (measured by the
    renderer) overlaps neither an earlier label nor a marker; a label that finds no free
    place is dropped rather than drawn over another (the table has every point). Labels
    moved away from their point get a thin leader line. Returns the annotations drawn.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    marker_boxes = []
    for x, y in points:
        px, py = to_px((x, y))
        marker_boxes.append((px - 4, py - 4, px + 4, py + 4))
    placed: list[tuple[float, float, float, float]] = []
    drawn = []
    order = sorted(range(len(points)), key=lambda k: (points[k][0], points[k][1]))
    for k in order:
        (x, y), text = points[k], labels[k]
        for dx, dy in _OFFSETS:
            ann = ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                ha="left" if dx >= 0 else "right", va="bottom",
                arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if abs(dx) + abs(dy) > 20 else None,
            )  # fmt: skip
            bb = ann.get_window_extent(renderer)
            box = (bb.x0 - 1, bb.y0 - 1, bb.x1 + 1, bb.y1 + 1)
            inside = ax.get_window_extent(renderer)
            fits = (
                inside.x0 <= box[0]
                and box[2] <= inside.x1
                and inside.y0 <= box[1]
                and box[3] <= inside.y1
            )
            if fits and not any(_overlap(box, o) for o in placed + marker_boxes):
                placed.append(box)
                drawn.append(ann)
                break
            ann.remove()
        else:
            log.info("frontier plot: no free place for label %r (see the table)", text)
    return drawn


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


#: QAT key fields every label and table already shows in its own way
_SHOWN_FIELDS = ("student", "mode", "bits", "sparsity")


def extra_key_fields() -> list[str]:
    """QAT key fields beyond student, mode, bits and sparsity (a newer sweep axis): shown as
    ``name=value`` in labels and as their own column in the readable table."""
    return [f for f in QATJob.key_fields() if f not in _SHOWN_FIELDS]


def _value_text(v: object) -> str:
    try:
        return fmt_num(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)


def point_label(row: pd.Series, *, hardware: bool = False) -> str:
    """``5b/87%`` (+ ``name=value`` of :func:`extra_key_fields`; + cycles and ns with
    ``hardware``); ``float32`` for a float student."""
    if str(row["mode"]).startswith("float"):
        return "float32"
    text = f"{int(row['bits'])}b/{float(row['sparsity']):.0%}"
    for f in extra_key_fields():
        if f in row and pd.notna(row[f]):
            text += f", {f}={_value_text(row[f])}"
    if hardware:
        text += f", {row['latency_cycles']:.0f} cyc ({row['latency_ns']:.0f} ns)"
    return text


def _hardware_panel(ax, hw: pd.DataFrame, x: str, colors: dict, xlabel: str, title: str):
    """Accuracy against one LUT count (``x``) with the JEDI-linear anchor; returns the points
    and labels for :func:`place_labels`."""
    pts, texts = [], []
    for (student, mode), g in hw.groupby(["student", "mode"], sort=True):
        ax.plot(g[x], g["test_accuracy"], MODE_MARKERS.get(mode, "x"), color=colors[str(student)],
                label=f"{student} · {MODE_NAMES.get(mode, mode)}")  # fmt: skip
        for _, r in g.iterrows():
            pts.append((float(r[x]), float(r["test_accuracy"])))
            texts.append(point_label(r, hardware=True))
    a = JEDI_LINEAR
    ax.plot([a.luts], [a.accuracy], "*", color="black", markersize=12,
            label=f"{a.name}: {a.note}")  # fmt: skip
    pts.append((a.luts, a.accuracy))
    texts.append(f"{a.name} ({a.latency_cycles} cyc, {a.latency_ns:.0f} ns; public data)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (mean over seeds of the grid point)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    ax.margins(x=0.25, y=0.15)
    return pts, texts


def frontier_figure(table: pd.DataFrame):
    """The frontier figure: accuracy vs BOPs and, for designs with an RTL estimate, vs LUTs
    (Yosys ``synth_xilinx``) and vs da4ml's own LUT estimate.

    Colour = student, marker = training (QAT solo/KD, float solo/KD), so every marker says
    which student it is; points carry bits/sparsity (and cycles/ns on the LUT panels) where a
    label fits without overlapping another. The LUT panels mark JEDI-linear
    (:data:`JEDI_LINEAR`, Vivado LUTs on the public data) as a black star.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hw = table.dropna(subset=["luts"]) if "luts" in table else table.iloc[0:0]
    est = table.dropna(subset=["da4ml_luts"]) if "da4ml_luts" in table else table.iloc[0:0]
    ncols = 1 + (not hw.empty) + (not est.empty)
    fig, axes = plt.subplots(1, ncols, figsize=(7.5 * ncols, 6.5), squeeze=False)
    students = sorted(table["student"].astype(str).unique())
    colors = {st: plt.get_cmap("tab10")(i % 10) for i, st in enumerate(students)}
    ax = axes[0, 0]
    pts, texts = [], []
    for (student, mode), g in table.groupby(["student", "mode"], sort=True):
        ax.errorbar(g["bops"], g["test_accuracy"], yerr=g["test_accuracy_std"].fillna(0),
                    fmt=MODE_MARKERS.get(mode, "x"), color=colors[str(student)], capsize=3,
                    label=f"{student} · {MODE_NAMES.get(mode, mode)}")  # fmt: skip
        for _, r in g.iterrows():
            pts.append((float(r["bops"]), float(r["test_accuracy"])))
            texts.append(point_label(r))
    ax.set_xscale("log")
    ax.set_xlabel("BOPs (arXiv:1804.10969), log scale")
    ax.set_ylabel("test accuracy (mean over seeds, error bar: std)")
    ax.set_title("Accuracy-cost frontier")
    ax.grid(True, which="both", alpha=0.3)
    # below the axes: a legend inside would hide points or labels
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    ax.margins(x=0.15, y=0.12)
    panels = [(ax, pts, texts)]
    col = 1
    for frame, x, xlabel, title in (
        (hw, "luts", "LUTs (Yosys synth_xilinx; JEDI-linear: Vivado)",
         "Accuracy per LUT (RTL of the converted seed)"),
        (est, "da4ml_luts", "LUTs, da4ml's own estimate (JEDI-linear: Vivado)",
         "Accuracy per LUT (da4ml estimate)"),
    ):  # fmt: skip
        if frame.empty:
            continue
        a = axes[0, col]
        col += 1
        panels.append((a, *_hardware_panel(a, frame, x, colors, xlabel, title)))
    fig.tight_layout()
    for a, p_, t_ in panels:
        place_labels(a, p_, t_)
    return fig


def plot_frontier(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write :func:`frontier_figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = frontier_figure(table)
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def readable_table(table: pd.DataFrame, *, anchor: bool = True) -> pd.DataFrame:
    """:func:`frontier_table` in a few formatted columns with units (for Markdown and HTML).

    Accuracy in percent (mean ± std over seeds), its drop against the float student of the
    same training in percentage points (± paired SE), cost as BOPs and its reduction
    against the float32 dense solo student, and the hardware of the converted seed (Yosys
    and da4ml LUTs, FFs, latency in cycles and ns). With ``anchor`` and any LUT figure, a last
    row gives :data:`JEDI_LINEAR` (public data, Vivado), labelled as such.
    """
    from jetdistill.report.tables import DASH, compact, count, pct_pm

    def num(x: object, fmt: str) -> str:
        try:
            v = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return DASH
        return format(v, fmt) if np.isfinite(v) else DASH

    extra = extra_key_fields()
    rows = []
    for _, r in table.iterrows():
        mode = str(r["mode"])
        is_float = mode.startswith("float_")
        drop = num(100 * float(r["accuracy_drop"]), "+.2f")
        se = num(100 * float(r["accuracy_drop_se"]), ".2f")
        cycles, ns = count(r["latency_cycles"]), num(r["latency_ns"], ".0f")
        rows.append(
            {
                "student": r["student"],
                "training": ("float " if is_float else "") + ("KD" if mode.endswith("kd") else "solo"),
                "bits": "32" if is_float else num(r["bits"], ".0f"),
                "sparsity (%)": num(100 * float(r["sparsity"]), ".0f"),
                **{f: DASH if is_float or pd.isna(r.get(f)) else _value_text(r[f]) for f in extra},
                "seeds": num(r["n_seeds"], ".0f"),
                "accuracy (%)": pct_pm(
                    r["test_accuracy"], r["test_accuracy_std"] if r["n_seeds"] > 1 else np.nan
                ),
                "drop vs float (pts, ±SE)": DASH if drop == DASH else drop + ("" if se == DASH else f" ± {se}"),
                "BOPs": compact(r["bops"]),
                "BOPs reduction (×)": num(r["bops_reduction"], ".0f"),
                "LUTs": count(r["luts"]),
                "LUTs (da4ml)": count(r["da4ml_luts"]),
                "FFs": count(r["ffs"]),
                "latency (cycles, ns)": DASH if cycles == DASH else f"{cycles} ({ns} ns)",
            }
        )  # fmt: skip
    if anchor and table["luts"].notna().any():
        a = JEDI_LINEAR
        rows.append({"student": f"{a.name} ({a.note})", "training": "HGQ (per-weight bits)",
                     "accuracy (%)": f"{100 * a.accuracy:.2f}", "LUTs": count(a.luts),
                     "FFs": count(a.ffs),
                     "latency (cycles, ns)": f"{a.latency_cycles} ({a.latency_ns:.0f} ns)"})  # fmt: skip
    columns = READABLE_COLUMNS[:4] + extra + READABLE_COLUMNS[4:]
    return pd.DataFrame(rows, columns=columns).fillna(DASH)


READABLE_COLUMNS = [
    "student", "training", "bits", "sparsity (%)", "seeds", "accuracy (%)", "drop vs float (pts, ±SE)",
    "BOPs", "BOPs reduction (×)", "LUTs", "LUTs (da4ml)", "FFs", "latency (cycles, ns)",
]  # fmt: skip
