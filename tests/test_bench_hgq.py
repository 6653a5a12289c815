"""The helpers of benchmarks/bench_hgq.py that read our chip students (no HGQ2 needed)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from conftest import load_benchmark

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    mod = load_benchmark("bench_hgq")
    assert "hgq" not in sys.modules  # the helpers do not import HGQ2
    return mod


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _results(tmp_path: Path, with_frontier: bool) -> Path:
    res = tmp_path / "results"
    for seed, (luts, acc) in {0: (24000, 0.616), 1: (23000, 0.620)}.items():
        grid = Path("mlp16/kd/b5_s0.87") / f"seed{seed}"
        wc = {"student": "mlp16", "mode": "kd", "bits": "5", "sparsity": "0.87", "seed": str(seed)}
        _write(res / "fpga" / grid / "rtl/metrics.json", {
            "wildcards": wc, "metrics": {"luts": luts, "ffs": 3100 + seed, "latency_cycles": 7,
                                         "da4ml_cost_luts": 25000.4, "rtl_exact_fraction": 1.0}})  # fmt: skip
        _write(res / "qat" / grid / "metrics.json", {"metrics": {"test_accuracy": acc}})
    # a design whose QAT record is missing, and whose record has no wildcards (path only)
    _write(res / "fpga/set16/solo/b6_s0.5/seed0/rtl/metrics.json",
           {"metrics": {"luts": 9000, "ffs": 800, "latency_cycles": 5}})  # fmt: skip
    if with_frontier:
        (res / "compression").mkdir(parents=True)
        (res / "compression/frontier.csv").write_text(
            "student,mode,bits,sparsity,n_seeds,test_accuracy,test_accuracy_std\n"
            "mlp16,float_kd,32,0.0,3,0.634,0.004\n"
            "mlp16,kd,5.0,0.87,3,0.6170,0.0030\n"
        )
    return res


def test_chip_students_reads_rtl_and_qat_records(bench, tmp_path: Path) -> None:
    rows = bench.chip_students(_results(tmp_path, with_frontier=True))
    assert [r["name"] for r in rows] == [
        "set16 solo b6 s0.5 seed0",
        "mlp16 kd b5 s0.87 seed1",
        "mlp16 kd b5 s0.87 seed0",
    ]  # sorted by LUTs: 9000, 23000, 24000
    s, m1, m0 = rows
    assert (m0["luts"], m0["ffs"], m0["cycles"], m0["da4ml_luts"]) == (24000, 3100, 7, 25000)
    assert m0["accuracy"] == 0.616 and m1["accuracy"] == 0.620
    # the frontier's mean over seeds of the same grid point ("5.0"/"5" and "0.87" match)
    assert (m0["accuracy_mean"], m0["accuracy_std"], m0["n_seeds"]) == (0.617, 0.003, 3)
    assert math.isnan(s["accuracy"]) and s["n_seeds"] == 0 and s["luts"] == 9000


def test_chip_students_without_frontier_or_fpga(bench, tmp_path: Path) -> None:
    rows = bench.chip_students(_results(tmp_path, with_frontier=False))
    assert all(math.isnan(r["accuracy_mean"]) for r in rows)
    assert bench.chip_students(tmp_path / "empty") == []


def test_best_within_picks_most_accurate_affordable_point(bench) -> None:
    pts = [{"name": "a", "luts": 10000, "accuracy": 0.60},
           {"name": "b", "luts": 26000, "accuracy": 0.66},
           {"name": "c", "luts": 27000, "accuracy": 0.70}]  # fmt: skip
    assert bench.best_within(pts, 24000)["name"] == "b"  # 26000 <= 1.1 * 24000 = 26400
    assert bench.best_within(pts, 24000, tol=0.0)["name"] == "a"
    assert bench.best_within(pts, 9000) is None


def test_side_by_side_table(bench, tmp_path: Path) -> None:
    ours = bench.chip_students(_results(tmp_path, with_frontier=True))
    hgq = [{"name": "jedi-linear beta=1e-05", "luts": 20000, "ffs": 5000, "cycles": 9,
            "da4ml_luts": 21000, "accuracy": 0.6312, "emulation_exact_fraction": 1.0,
            "verilator_exact_fraction": 0.995}]  # fmt: skip
    text = bench.side_by_side(hgq, ours)
    lines = text.splitlines()
    assert lines[2].startswith("| ours set16 solo b6 s0.5 seed0 | - | 9000 | 800 | 5 |")
    assert (
        lines[3]
        == "| HGQ jedi-linear beta=1e-05 | 0.6312 | 20000 | 5000 | 9 | 21000 | 1.0000 / 0.9950 |"
    )
    assert "0.6160 (mean 0.6170 +- 0.0030, 3 seeds)" in text
    # mlp16 seed0 (24000 LUTs) against the HGQ point: 0.616 - 0.6312 = -1.52 points
    assert (
        "| mlp16 kd b5 s0.87 seed0 | 24000 | 0.6160 | jedi-linear beta=1e-05 | 20000 | 0.6312 | -1.52 |"
        in text
    )
    assert "| set16 solo b6 s0.5 seed0 | 9000 | - | none | - | - | - |" in text


def test_main_prints_saved_points_beside_ours(bench, tmp_path: Path, capsys) -> None:
    """``--points``: no training, the HGQ points of an earlier ``--json`` beside ``--ours``."""
    saved = tmp_path / "hgq.json"
    point = {"name": "p", "luts": 25000, "ffs": 1, "cycles": 8, "da4ml_luts": 1, "accuracy": 0.6}
    saved.write_text(json.dumps({"hgq": [point]}))
    res = _results(tmp_path, with_frontier=False)
    bench.main(["--points", str(saved), "--ours", str(res)])
    out = capsys.readouterr().out
    # 25000 <= 1.1 * 23000 = 25300: seed1 (0.620) is matched, +2.00 points over the HGQ point
    assert "| mlp16 kd b5 s0.87 seed1 | 23000 | 0.6200 | p | 25000 | 0.6000 | +2.00 |" in out
    assert "| HGQ p | 0.6000 | 25000 | 1 | 8 | 1 | - / - |" in out
    # ours: the RTL record's Verilator fraction, no emulation record
    assert (
        "| ours mlp16 kd b5 s0.87 seed1 | 0.6200 | 23000 | 3101 | 7 | 25000 | - / 1.0000 |" in out
    )
