"""Short result tables a person can read: teachers, students (KD vs solo), compression, FPGA.

Why: the per-run table (``summary.csv``) has one column per metric and one row per job,
dozens of each; it is for pandas, not for eyes. These tables group seeds (mean ± std),
keep a handful of columns, and say the unit in every header. Accuracies are in percent
and differences in percentage points (pts), the convention of the README.

Input everywhere is the per-run frame of :func:`jetdistill.report.summary.summary_table`
(columns ``role``, ``method``, ``student``, ``teacher``, ``seed``, ``wildcards`` (JSON),
and metric columns). Every function is pure; :func:`markdown` and :func:`html` render.
"""

from __future__ import annotations

import html as _html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from jetdistill.identity import KDJob

#: Rendered for a missing value.
DASH = "–"


# --------------------------------------------------------------------------- formatting


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as percent: ``0.5391`` -> ``"53.9"``."""
    return DASH if _bad(x) else f"{100 * float(x):.{digits}f}"


def pct_pm(mean: Any, std: Any, digits: int = 1) -> str:
    """Mean ± std of fractions in percent (``"53.9 ± 1.9"``; no ± for one seed)."""
    if _bad(mean):
        return DASH
    return pct(mean, digits) + ("" if _bad(std) else f" ± {100 * float(std):.{digits}f}")


def count(x: Any) -> str:
    """An integer count with thousands separators (``23812`` -> ``"23,812"``)."""
    return DASH if _bad(x) else f"{float(x):,.0f}"


def compact(x: Any) -> str:
    """Large numbers with an SI suffix (``1.23e6`` -> ``"1.23M"``), for BOPs."""
    if _bad(x):
        return DASH
    v = float(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _bad(x: Any) -> bool:
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def _wild(df: pd.DataFrame) -> pd.DataFrame:
    """The ``wildcards`` JSON column expanded into ``w_<name>`` columns."""
    rows = []
    for text in df.get("wildcards", pd.Series([""] * len(df), index=df.index)):
        try:
            val = json.loads(text) if isinstance(text, str) and text.strip() else {}
        except json.JSONDecodeError:
            val = {}
        rows.append({f"w_{k}": str(v) for k, v in (val if isinstance(val, dict) else {}).items()})
    return pd.concat([df.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series([np.nan] * len(df), index=df.index)


def _mean(g: pd.DataFrame, col: str) -> float:
    v = pd.to_numeric(_col(g, col), errors="coerce").dropna()
    return float(v.mean()) if len(v) else math.nan


def _std(g: pd.DataFrame, col: str) -> float:
    v = pd.to_numeric(_col(g, col), errors="coerce").dropna()
    return float(v.std(ddof=1)) if len(v) > 1 else math.nan


def _seeds(g: pd.DataFrame) -> str:
    seeds = _col(g, "seed").astype(str).replace({"nan": ""})
    seeds = seeds[seeds != ""]
    return str(seeds.nunique()) if len(seeds) else str(len(g))


# --------------------------------------------------------------------------- tables


def teachers_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per teacher member and one per teacher as used (ensemble mean when > 1)."""
    df = _wild(runs[_col(runs, "role") == "teacher"])
    rows = []
    for _, r in df.iterrows():
        member = r.get("w_member")
        used = not isinstance(member, str)  # compute_soft_targets: the teacher students see
        rows.append(
            {
                "teacher": r.get("teacher") or r.get("w_teacher") or DASH,
                "model": DASH if used else (r.get("model") or DASH),
                "member": "all (as distilled)" if used else member,
                "seed": DASH if used else (r.get("seed") or DASH),
                "accuracy (%)": pct(r.get("test_accuracy")),
                "mean AUC": DASH if _bad(r.get("test_auc_mean")) else f"{r['test_auc_mean']:.3f}",
                "params": count(r.get("params")),
            }
        )
    out = pd.DataFrame(rows, columns=TEACHER_COLUMNS)
    return out.sort_values(["teacher", "member"], kind="stable", ignore_index=True)


TEACHER_COLUMNS = ["teacher", "model", "member", "seed", "accuracy (%)", "mean AUC", "params"]


def students_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Float students, solo and each KD setting, seeds grouped (mean ± std).

    ``Δ vs solo`` is the KD mean minus the solo mean of the same student in percentage
    points (the paired, seed-by-seed version with its standard error is in
    ``comparison/kd_vs_solo.md``). Agreement with the teacher is on the test jets, and on
    the transfer jets the student trained on (``train_agreement``).
    """
    df = _wild(runs[_col(runs, "method").isin(["solo", "kd"])])
    rows = []
    solo_acc: dict[str, float] = {}
    kd_fields = KDJob.key_fields()[1:]  # a KD configuration, by its wildcards
    keys = ["student", "method", *(f"w_{f}" for f in kd_fields)]
    for c in keys:
        if c not in df:
            df[c] = ""
    df[keys] = df[keys].fillna("")
    for key, g in df.groupby(keys, sort=True, dropna=False):
        student, method, *kd_values = key
        kd = dict(zip(kd_fields, kd_values, strict=True))
        teacher, kd_method, temperature, alpha = (
            kd[f] for f in ("teacher", "method", "T", "alpha")
        )
        acc = _mean(g, "test_accuracy")
        if method == "solo":
            solo_acc[student] = acc
            training = "solo"
        else:
            training = f"KD ← {teacher} ({kd_method}, T={temperature}, α={alpha})"
        rows.append(
            {
                "student": student,
                "training": training,
                "seeds": _seeds(g),
                "accuracy (%)": pct_pm(acc, _std(g, "test_accuracy")),
                "_acc": acc,
                "_solo": method == "solo",
                "agreement with teacher (%)": pct(_mean(g, "test_agreement")),
                "agreement on training jets (%)": pct(_mean(g, "train_agreement")),
                "mean AUC": DASH
                if _bad(_mean(g, "test_auc_mean"))
                else f"{_mean(g, 'test_auc_mean'):.3f}",
                "params": count(_mean(g, "params")),
                "BOPs": compact(_mean(g, "bops")),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=STUDENT_COLUMNS)
    out["Δ vs solo (pts)"] = [
        DASH if solo or _bad(solo_acc.get(s)) or _bad(a) else f"{100 * (a - solo_acc[s]):+.1f}"
        for s, a, solo in zip(out["student"], out["_acc"], out["_solo"], strict=True)
    ]
    out = out.sort_values(["student", "_solo", "training"], ascending=[True, False, True])
    return out[STUDENT_COLUMNS].reset_index(drop=True)


STUDENT_COLUMNS = [
    "student", "training", "seeds", "accuracy (%)", "Δ vs solo (pts)",
    "agreement with teacher (%)", "agreement on training jets (%)", "mean AUC", "params", "BOPs",
]  # fmt: skip


def compression_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Quantised (QAT) students per bit width x sparsity x {solo, KD}, seeds grouped.

    ``BOPs reduction`` is against the float32 dense solo student of the same architecture.
    """
    df = _wild(runs[_col(runs, "method").isin(["qat_solo", "qat_kd"])])
    floats = runs[(_col(runs, "method") == "solo")]
    rows = []
    if df.empty:
        return pd.DataFrame(columns=COMPRESSION_COLUMNS)
    for c in ("w_bits", "w_sparsity", "w_cost"):
        df[c] = pd.to_numeric(_col(df, c), errors="coerce")
    df["w_cost"] = df["w_cost"].fillna(0.0)  # runs from before the cost penalty: none
    for (student, method, bits, sparsity, cost), g in df.groupby(
        ["student", "method", "w_bits", "w_sparsity", "w_cost"], sort=True
    ):
        dense = _mean(floats[floats["student"] == student], "bops") if len(floats) else math.nan
        bops = _mean(g, "bops")
        rows.append(
            {
                "student": student,
                "training": "KD" if method == "qat_kd" else "solo",
                "bits": f"{bits:g}",
                "target sparsity (%)": f"{100 * sparsity:.0f}",
                "cost penalty": f"{cost:g}",
                "seeds": _seeds(g),
                "accuracy (%)": pct_pm(_mean(g, "test_accuracy"), _std(g, "test_accuracy")),
                "non-zero params": count(_mean(g, "nonzero_params")),
                "size (kbit)": DASH
                if _bad(_mean(g, "size_bits"))
                else f"{_mean(g, 'size_bits') / 1e3:.1f}",
                "BOPs": compact(bops),
                "BOPs reduction (×)": DASH if _bad(dense) or _bad(bops) or bops == 0 else f"{dense / bops:.0f}",
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=COMPRESSION_COLUMNS)


COMPRESSION_COLUMNS = [
    "student", "training", "bits", "target sparsity (%)", "cost penalty", "seeds", "accuracy (%)",
    "non-zero params", "size (kbit)", "BOPs", "BOPs reduction (×)",
]  # fmt: skip


def fpga_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Converted designs: hls4ml C-simulation agreement joined with the RTL estimate.

    One row per converted model (student, training, bits, sparsity, seed); the LUTs,
    FFs and latency come from Yosys/Verilator (``rtl``), the bit-exactness from the
    hls4ml C simulation (``hls``); a float conversion (``hls_float``) has its own row.
    """
    df = _wild(runs[_col(runs, "method").isin(["hls", "rtl", "hls_float"])])
    if df.empty:
        return pd.DataFrame(columns=FPGA_COLUMNS)
    cols = ["w_mode", "w_bits", "w_sparsity", "w_cost", "w_seed"]
    for c in cols:
        if c not in df:
            df[c] = ""
    df[cols] = df[cols].fillna("")
    df["_float"] = df["method"] == "hls_float"
    rows = []
    for (student, is_float, mode, bits, sparsity, cost, seed), g in df.groupby(
        ["student", "_float", *cols], sort=True
    ):
        hls = g[g["method"].isin(["hls", "hls_float"])]
        rtl = g[g["method"] == "rtl"]
        hw = rtl if len(rtl) else hls  # vendor synthesis (hls) only when there is no RTL run

        def first(frame: pd.DataFrame, col: str) -> float:
            return _mean(frame, col)

        rows.append(
            {
                "student": student,
                "model": "float (ap_fixed)" if is_float else f"{'KD' if mode == 'kd' else 'solo'} "
                f"{bits} b / {100 * float(sparsity or 0):.0f}%"
                + (f" / cost {cost}" if cost and float(cost) > 0 else ""),
                "seed": seed or DASH,
                # a float model in ap_fixed is never bit-exact: only its argmax agreement counts
                "C-sim bit-exact (%)": DASH if is_float else pct(first(hls, "hls_exact_fraction")),
                "C-sim argmax agreement (%)": pct(first(hls, "hls_argmax_agreement")),
                "RTL bit-exact (%)": pct(first(rtl, "rtl_exact_fraction")),
                "LUTs": count(first(hw, "luts")),
                "FFs": count(first(hw, "ffs")),
                "DSPs": count(first(hw, "dsps")),
                "latency (cycles)": count(first(hw, "latency_cycles")),
                "latency (ns)": count(first(hw, "latency_ns")),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=FPGA_COLUMNS)


FPGA_COLUMNS = [
    "student", "model", "seed", "C-sim bit-exact (%)", "C-sim argmax agreement (%)", "RTL bit-exact (%)",
    "LUTs", "FFs", "DSPs",
    "latency (cycles)", "latency (ns)",
]  # fmt: skip


def summary_tables(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The four readable tables of a run, in reading order (empty ones left out)."""
    tables = {
        "Teachers": teachers_table(runs),
        "Students: knowledge distillation (KD) vs trained alone (solo)": students_table(runs),
        "Compression: quantisation-aware training x pruning": compression_table(runs),
        "FPGA: hls4ml C simulation and RTL estimate (Yosys synth_xilinx)": fpga_table(runs),
    }
    return {k: drop_empty_columns(v) for k, v in tables.items() if not v.empty}


def drop_empty_columns(table: pd.DataFrame, keep: int = 2) -> pd.DataFrame:
    """Leave out columns with no value in any row (e.g. LUTs when nothing was synthesised).

    The first ``keep`` columns name the row and always stay.
    """
    cols = [
        c for i, c in enumerate(table.columns) if i < keep or (table[c].astype(str) != DASH).any()
    ]
    return table[cols]


# --------------------------------------------------------------------------- rendering


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table of already formatted cells."""
    cols = [str(c) for c in table.columns]

    def cell(v: Any) -> str:
        return (
            DASH
            if v is None or (isinstance(v, float) and math.isnan(v))
            else str(v).replace("|", "\\|")
        )

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def markdown(tables: Mapping[str, pd.DataFrame], title: str, notes: Sequence[str] = ()) -> str:
    """A Markdown page: title, notes, one ``##`` section per table."""
    parts = [f"# {title}\n"]
    parts += [f"{n}\n" for n in notes]
    if not tables:
        parts.append("_no finished model runs_\n")
    for name, t in tables.items():
        parts.append(f"## {name}\n\n{markdown_table(t)}")
    return "\n".join(parts)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:14px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2)"
    "{text-align:left}"
    "p.note{color:#555;max-width:60em}"
)


def html(tables: Mapping[str, pd.DataFrame], title: str, notes: Sequence[str] = ()) -> str:
    """A self-contained HTML page (inline CSS, no scripts) for ``snakemake --report``."""
    e = _html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style></head><body>',
        f"<h1>{e(title)}</h1>",
    ]  # fmt: skip
    out += [f'<p class="note">{e(n)}</p>' for n in notes]
    if not tables:
        out.append("<p><em>no finished model runs</em></p>")
    for name, t in tables.items():
        out.append(f"<h2>{e(name)}</h2>")
        out.append('<table class="jd-table"><thead><tr>')
        out += [f"<th>{e(str(c))}</th>" for c in t.columns]
        out.append("</tr></thead><tbody>")
        for r in t.itertuples(index=False):
            out.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
