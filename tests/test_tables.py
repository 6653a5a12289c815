"""The readable summary tables (jetdistill.report.tables) built from a per-run frame."""

from __future__ import annotations

import json

import pandas as pd

from jetdistill.report import tables
from jetdistill.report.summary import readable_markdown


def _run(role, method, metrics, student="", teacher="", seed="", wc=None) -> dict:
    wc = {k: str(v) for k, v in (wc or {}).items()}
    if student:
        wc["student"] = student
    if seed != "":
        wc["seed"] = str(seed)
    return {"role": role, "method": method, "student": student, "teacher": teacher,
            "seed": str(seed), "model": student or teacher, "wildcards": json.dumps(wc), **metrics}  # fmt: skip


def runs() -> pd.DataFrame:
    rows = [
        _run("teacher", "teacher", {"test_accuracy": 0.61, "test_auc_mean": 0.9, "params": 12000},
             teacher="jedi", seed=0, wc={"member": 0}),
        _run("teacher", "teacher", {"test_accuracy": 0.607, "test_auc_mean": 0.9}, teacher="jedi"),
    ]  # fmt: skip
    for seed, (solo, kd) in enumerate(((0.52, 0.56), (0.54, 0.58), (0.56, 0.60))):
        rows.append(_run("student", "solo", {"test_accuracy": solo, "test_agreement": 0.6,
                                             "params": 14000, "bops": 1.9e7}, student="mlp16", seed=seed))  # fmt: skip
        rows.append(_run("student", "kd", {"test_accuracy": kd, "test_agreement": 0.7, "bops": 1.9e7},
                         student="mlp16", teacher="jedi", seed=seed,
                         wc={"teacher": "jedi", "method": "hinton", "T": "4.0", "alpha": "0.1"}))  # fmt: skip
    for seed in (0, 1):
        rows.append(_run("student", "qat_kd", {"test_accuracy": 0.57 + 0.01 * seed, "bops": 3.8e5,
                                               "size_bits": 12000, "nonzero_params": 1800},
                         student="mlp16", seed=seed, wc={"mode": "kd", "bits": 5, "sparsity": 0.87}))  # fmt: skip
    design = {"mode": "kd", "bits": 5, "sparsity": 0.87}
    rows.append(
        _run("student", "hls", {"hls_exact_fraction": 1.0}, student="mlp16", seed=0, wc=design)
    )
    rows.append(_run("student", "rtl", {"rtl_exact_fraction": 1.0, "luts": 23812, "ffs": 3700,
                                        "dsps": 0, "latency_cycles": 7, "latency_ns": 35.0},
                     student="mlp16", seed=0, wc=design))  # fmt: skip
    return pd.DataFrame(rows)


def test_students_group_seeds_and_give_delta_in_points() -> None:
    t = tables.students_table(runs())
    assert list(t["training"]) == ["solo", "KD ← jedi (hinton, T=4.0, α=0.1)"]
    solo, kd = t.iloc[0], t.iloc[1]
    assert solo["seeds"] == "3" and solo["accuracy (%)"] == "54.0 ± 2.0"
    assert kd["accuracy (%)"] == "58.0 ± 2.0" and kd["Δ vs solo (pts)"] == "+4.0"
    assert solo["Δ vs solo (pts)"] == tables.DASH
    assert kd["agreement with teacher (%)"] == "70.0" and kd["BOPs"] == "19M"


def test_teachers_compression_and_fpga_tables() -> None:
    df = runs()
    te = tables.teachers_table(df)
    assert len(te) == 2 and set(te["accuracy (%)"]) == {"61.0", "60.7"}
    assert "all (as distilled)" in set(te["member"])
    comp = tables.compression_table(df)
    assert len(comp) == 1
    row = comp.iloc[0]
    assert (row["training"], row["bits"], row["target sparsity (%)"]) == ("KD", "5", "87")
    assert row["accuracy (%)"] == "57.5 ± 0.7" and row["BOPs reduction (×)"] == "50"
    assert row["size (kbit)"] == "12.0"
    fpga = tables.fpga_table(df)
    assert len(fpga) == 1  # the hls and rtl runs of one design are one row
    f = fpga.iloc[0]
    assert f["model"] == "KD 5 b / 87%" and f["C-sim bit-exact (%)"] == "100.0"
    assert (f["LUTs"], f["FFs"], f["DSPs"], f["latency (cycles)"], f["latency (ns)"]) == (
        "23,812", "3,700", "0", "7", "35",
    )  # fmt: skip


def test_summary_markdown_is_short_tables_with_units() -> None:
    md = readable_markdown(runs())
    assert md.count("\n## ") == 4
    headers = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert any("accuracy (%)" in h and "Δ vs solo (pts)" in h for h in headers)
    assert any("LUTs" in h and "latency (ns)" in h for h in headers)
    widest = max(line.count("|") - 1 for line in md.splitlines() if line.startswith("|"))
    assert widest <= 11  # a screen wide, not 65 columns
    assert len(md.splitlines()) < 40
    page = tables.html(tables.summary_tables(runs()), "Run summary")
    assert page.count("<table") == 4 and "<th>LUTs</th>" in page and "<script" not in page
    assert "_no finished model runs_" in readable_markdown(runs().iloc[0:0])
