"""The remaining-time estimate: a replay of the planned jobs on the run's cores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jetdistill.run_costs import (
    DEFAULT_COSTS,
    UNKNOWN_JOB_S,
    PlannedJob,
    RuleCost,
    costs_from_benchmarks,
    estimate_remaining,
    resolve_costs,
)

TEN = {"a": RuleCost(10.0), "b": RuleCost(10.0), "c": RuleCost(10.0), "d": RuleCost(10.0)}


def test_independent_jobs_share_the_cores() -> None:
    est = estimate_remaining({"a": 4, "b": 1}, TEN, cores=2)
    assert (est.seconds, est.jobs, est.core_seconds) == (30.0, 5, 50.0)
    assert est.per_rule == {"a": (4, 40.0), "b": (1, 10.0)}
    assert estimate_remaining({"a": 4}, TEN, cores=8).seconds == 10.0


def test_dependencies_bound_the_run_by_its_critical_path() -> None:
    chain = [
        PlannedJob("a", "a"),
        PlannedJob("b", "b", deps=("a",)),
        PlannedJob("c", "c", deps=("b",)),
    ]
    side = [PlannedJob(f"d{i}", "d") for i in range(3)]
    est = estimate_remaining(chain + side, TEN, cores=2)
    assert est.critical_path_s == 30.0 and est.seconds == 30.0  # the chain first, d beside it
    assert estimate_remaining(chain + side, TEN, cores=1).seconds == 60.0
    # a dependency on a job that is not planned (finished earlier) is met
    assert estimate_remaining([PlannedJob("b", "b", deps=("gone",))], TEN, cores=1).seconds == 10.0


def test_a_multi_threaded_job_holds_its_cores_scaled_down_to_the_machine() -> None:
    costs = {"teacher": RuleCost(100.0), "student": RuleCost(50.0)}
    jobs = [PlannedJob("t", "teacher", threads=2), PlannedJob("s1", "student"),
            PlannedJob("s2", "student")]  # fmt: skip
    assert estimate_remaining(jobs, costs, cores=2).seconds == 150.0  # teacher alone, then both
    one = estimate_remaining(jobs, costs, cores=1)  # Snakemake runs the teacher on 1 thread
    assert one.seconds == 200.0 and one.core_seconds == 200.0


def test_unknown_rules_are_counted_and_named() -> None:
    est = estimate_remaining({"new_rule": 2, "a": 1}, TEN, cores=1)
    assert est.seconds == 2 * UNKNOWN_JOB_S + 10.0
    assert est.unknown_rules == ("new_rule",)
    assert "no cost known for new_rule" in est.message()


def test_a_cycle_and_bad_cores_are_refused() -> None:
    with pytest.raises(ValueError, match="cores"):
        estimate_remaining({"a": 1}, TEN, cores=0)
    cycle = [PlannedJob("x", "a", deps=("y",)), PlannedJob("y", "a", deps=("x",))]
    with pytest.raises(ValueError, match="cycle"):
        estimate_remaining(cycle, TEN, cores=1)


def test_the_default_table_reproduces_the_measured_default_run() -> None:
    # the default run of 2026-12-06 (benchmarks/README.md): 81 jobs, their summed wall 3,181 s
    counts = {"generate_jets": 20, "split_data": 1, "prepare_view": 3, "train_teacher": 1,
              "train_teacher_fraction": 3, "compute_soft_targets": 1, "train_student_solo": 9,
              "distill_student": 12, "train_student_solo_fraction": 6,
              "distill_student_fraction": 3, "train_qat": 12, "convert_hls": 1,
              "convert_hls_float": 1, "estimate_rtl": 2, "init_tracking": 1,
              "compare_students": 1, "plot_frontier": 1, "plot_learning_curve": 1,
              "summarize": 1, "all": 1}  # fmt: skip
    est = estimate_remaining(counts, DEFAULT_COSTS, cores=1)
    assert est.seconds == pytest.approx(3181, rel=0.01)


def _tsv(path: Path, wall: str, cpu: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{wall}\t0:00:10\t100\t{cpu}\n")


def test_costs_come_from_the_previous_runs_benchmarks(tmp_path: Path) -> None:
    bench = tmp_path / "results" / "benchmarks"
    _tsv(bench / "train_qat" / "a.tsv", "40", "30")
    _tsv(bench / "train_qat" / "b.tsv", "60", "50")
    _tsv(bench / "summarize.tsv", "5", "NA")
    _tsv(bench / "estimate_rtl.tsv", "NA", "NA")  # no wall: not a cost
    assert costs_from_benchmarks(bench) == {"train_qat": RuleCost(50.0, 40.0),
                                            "summarize": RuleCost(5.0, 0.0)}  # fmt: skip
    costs, source = resolve_costs(tmp_path / "results")
    assert costs["train_qat"] == RuleCost(50.0, 40.0)
    assert costs["train_teacher"] == DEFAULT_COSTS["train_teacher"]
    assert "2 rules measured earlier" in source
    assert "default run" in resolve_costs(tmp_path / "nowhere")[1]


SNAKEFILE = """
from jetdistill import run_costs

onstart:
    print(run_costs.remaining_message(workflow, "res"))

rule all:
    input: "res/b.txt"

rule a:
    output: "res/a{i}.txt"
    shell: "touch {output}"

rule b:
    input: expand("res/a{i}.txt", i=range(3))
    output: "res/b.txt"
    threads: 2
    shell: "touch {output}"
"""


def test_onstart_prints_the_estimate_from_snakemakes_dag(tmp_path: Path) -> None:
    """The wiring, against the real Snakemake: its DAG as ``onstart`` sees it."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--workflow-profile", "none"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    line = next(x for x in out.splitlines() if x.startswith("estimate:"))
    # a x3 (unknown rules: 15 s each, 2 at a time) -> b (both cores) -> all: 30 + 15 + 0 s
    assert "about 45 s for 5 jobs on 2 core(s)" in line and "critical path 30 s" in line, line
    assert "no cost known for a, b" in line
