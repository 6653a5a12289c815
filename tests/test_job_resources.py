"""Every job tunes glibc's allocator at start and leaves a resource record at exit.

The allocator settings are process-wide and the record is written by ``atexit``, so each
case runs in a fresh interpreter, as a job does.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import load_benchmark

from jetdistill import runtime

REPO = Path(__file__).resolve().parents[1]
GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full.pop(runtime.ENV_TUNE, None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# A step of a training loop in miniature: three 20 MB blocks live at once, then all freed.
# With glibc's defaults the freed top of the heap exceeds the (dynamic) trim threshold and
# goes back to the kernel, so every round faults ~60 MB in again.
CHURN = """
import json, resource, numpy as np
from jetdistill import runtime
applied = runtime.tune_allocator()
def rounds(k):
    for _ in range(k):
        blocks = [np.ones(5_000_000, dtype=np.float32) for _ in range(3)]
        del blocks
rounds(2)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0,
                  "applied": applied}))
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tuned_allocator_stops_the_page_fault_churn() -> None:
    off = json.loads(_python(CHURN, {runtime.ENV_TUNE: "0"}).stdout)
    on = json.loads(_python(CHURN).stdout)
    assert off["applied"] == {}
    assert on["applied"] == {
        "mmap_threshold": runtime.GLIBC_MAX_MMAP_THRESHOLD,
        "trim_threshold": runtime.AllocatorSettings().trim_threshold,
    }
    # measured: ~21k faults with the defaults (THP makes a fault map more than a page), 0 tuned
    assert off["faults"] > 10_000, off
    assert on["faults"] < off["faults"] / 20, (off, on)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_a_threshold_set_in_the_environment_is_left_alone() -> None:
    proc = _python(
        "from jetdistill import runtime; print(runtime.tune_allocator())",
        {"MALLOC_TRIM_THRESHOLD_": "4096"},
    )
    assert proc.stdout.strip() == str({"mmap_threshold": runtime.GLIBC_MAX_MMAP_THRESHOLD})


def test_tune_allocator_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_ALLOCATOR_APPLIED", None)
    monkeypatch.setattr(runtime, "_glibc", lambda: None)
    assert runtime.tune_allocator() == {}


JOB = """
import sys
from jetdistill.runtime import setup_logging
setup_logging(sys.argv[1])
import numpy as np
np.ones(10_000_000).sum()
if sys.argv[2] == "fail":
    raise ValueError("bad input")
"""


@pytest.mark.parametrize("outcome", ["ok", "fail"])
def test_a_job_records_its_resources_beside_its_log(tmp_path: Path, outcome: str) -> None:
    log = tmp_path / "logs" / "train_teacher" / "jedi_member0.log"
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-c", JOB, str(log), outcome], env=full,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == (0 if outcome == "ok" else 1), proc.stderr
    rec = json.loads((log.parent / "jedi_member0.usage.json").read_text())
    assert rec["user_s"] > 0 and rec["sys_s"] >= 0 and rec["wall_s"] > 0
    assert rec["minor_faults"] > 0 and rec["max_rss_mb"] > 70  # the 80 MB array was resident
    assert rec["failed"] is (outcome == "fail")
    assert rec["allocator"] == ({"mmap_threshold": runtime.GLIBC_MAX_MMAP_THRESHOLD,
                                 "trim_threshold": 2**30} if GLIBC else {})  # fmt: skip
    last = log.read_text().strip().splitlines()[-1]
    if outcome == "ok":
        assert "resources: wall" in last and "page faults" in last
    else:  # a failed job's last log line stays its error
        assert last.endswith("ERROR ValueError: bad input")


# --------------------------------------------------------------------------- bench_rules cpu
def _bench_rules():
    return load_benchmark("bench_rules")


def test_cpu_table_sums_job_records_per_rule(tmp_path: Path) -> None:
    br = _bench_rules()
    res = tmp_path / "results"
    jobs = {
        "train_teacher/jedi_member0": (300.0, 500.0, 10.0, 20_000, 2200.0),
        "train_qat/a": (20.0, 30.0, 3.0, 5_000, 700.0),
        "train_qat/b": (30.0, 50.0, 5.0, 7_000, 750.0),
        "summarize": (5.0, 4.0, 1.0, 1_000, 300.0),
    }
    for job, (wall, user, sys_s, faults, rss) in jobs.items():
        for root, suffix, text in (
            ("benchmarks", ".tsv", f"s\th:m:s\tmax_rss\tcpu_time\n{wall}\t0:00:01\t{rss}\t{user}\n"),
            ("logs", runtime.USAGE_SUFFIX, json.dumps({
                "wall_s": wall - 2, "user_s": user, "sys_s": sys_s, "minor_faults": faults,
                "major_faults": 0, "max_rss_mb": rss, "children_user_s": 0.0,
                "children_sys_s": 0.0, "allocator": {"mmap_threshold": 1}})),
        ):  # fmt: skip
            f = res / root / (job + suffix)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
    table = br.cpu_table(br.read_usage(res / "logs"), br.read_benchmarks(res / "benchmarks"))
    t = table.set_index("rule")
    assert list(table["rule"]) == ["train_teacher", "train_qat", "summarize"]  # by user CPU
    assert t.loc["train_qat", "jobs"] == 2 and t.loc["train_qat", "wall_s"] == 50.0
    assert t.loc["train_qat", "user_s"] == 80.0 and t.loc["train_qat", "sys_s"] == 8.0
    assert t.loc["train_qat", "sys_pct"] == pytest.approx(10.0)
    assert t.loc["train_qat", "minor_faults"] == 12_000 and t.loc["train_qat", "tuned"] == "yes"
    text = br.format_cpu_table(table)
    assert "TOTAL" in text and "33,000" in text  # summed faults, thousands separated


def test_cpu_table_of_a_run_without_records_falls_back_to_snakemake(tmp_path: Path) -> None:
    br = _bench_rules()
    f = tmp_path / "benchmarks" / "train_teacher" / "x.tsv"
    f.parent.mkdir(parents=True)
    f.write_text("s\th:m:s\tmax_rss\tcpu_time\n293\t0:04:53\t2235\t554\n")
    table = br.cpu_table(pd.DataFrame(), br.read_benchmarks(tmp_path / "benchmarks"))
    row = table.iloc[0]
    assert (row["rule"], row["wall_s"], row["user_s"], row["tuned"]) == (
        "train_teacher",
        293,
        554,
        "NA",
    )
    assert pd.isna(row["sys_s"])


def test_project_reads_snakemakes_dag_and_the_rules_threads(tmp_path: Path) -> None:
    br = _bench_rules()
    (tmp_path / "t.smk").write_text(
        "rule train_teacher:\n    output:\n        'x'\n    threads: 2\n    shell:\n        'x'\n\n"
        "rule summarize:\n    output:\n        'y'\n    shell:\n        'y'\n"
    )
    threads = br.rule_threads(tmp_path)
    assert threads == {"train_teacher": 2}
    dot = (
        "digraph snakemake_dag {\n"
        '\t0[label = "all", color = "0.00 0.6 0.85", style="rounded"];\n'
        '\t1[label = "summarize", color = "0.1 0.6 0.85", style="rounded"];\n'
        '\t2[label = "train_teacher\\nteacher: jedi\\nmember: 0", color = "0.2 0.6 0.85"];\n'
        "\t1 -> 0\n\t2 -> 1\n}\n"
    )
    jobs = {j.key: j for j in br.parse_dag(dot, threads)}
    assert (jobs[2].rule, jobs[2].threads, jobs[2].deps) == ("train_teacher", 2, ())
    assert (jobs[1].rule, jobs[1].deps, jobs[0].deps) == ("summarize", (2,), (1,))
