"""Per-rule job costs and the remaining-time estimate a run prints when it starts.

Why: a user starting ``snakemake`` should learn whether the run takes 5 minutes or an hour
before waiting for it, and an extended sweep (one more bit width) should say how much it
adds. The estimate replays the jobs Snakemake still has to run on the cores it was given
(dependencies respected, longest path first, as a list scheduler does), each job lasting
what a job of its rule lasted before:

1. this results directory's own benchmark files (``<results>/benchmarks/<rule>/...tsv``,
   the previous run on this machine: machines differ 3x in CPU speed), else
2. :data:`DEFAULT_COSTS`, the default run measured on an idle 2-core AMD EPYC VM
   (benchmarks/README.md, 2026-12-06), else
3. :data:`UNKNOWN_JOB_S` for a rule neither knows (counted, and named in the message).

It is an estimate: the wall time of a job on a busy machine or with other data sizes
differs, and Snakemake does not schedule exactly so.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleCost:
    """What one job of a rule costs: wall seconds and CPU seconds (all its threads)."""

    wall_s: float
    cpu_s: float | None = None


#: Per-job means of a default run (``bench_rules.py summary`` of the run of
#: 2026-12-06, fresh clone, idle 2-core AMD EPYC, ``--cores 2``: 81 jobs, 30.6 min; mlp16 and
#: set16 students, so a rule's mean mixes both: a run of other students differs).
DEFAULT_COSTS: dict[str, RuleCost] = {
    "init_tracking": RuleCost(2.1, 2.0),
    "generate_jets": RuleCost(27.9, 15.0),
    "split_data": RuleCost(1.3, 1.0),
    "prepare_view": RuleCost(4.2, 3.6),
    "train_teacher": RuleCost(227.7, 439.9),
    "train_teacher_fraction": RuleCost(73.7, 102.8),
    "compute_soft_targets": RuleCost(12.2, 16.7),
    "train_student_solo": RuleCost(24.7, 22.1),
    "distill_student": RuleCost(30.6, 28.3),
    "train_student_solo_fraction": RuleCost(10.0, 8.8),
    "distill_student_fraction": RuleCost(10.9, 10.2),
    "train_qat": RuleCost(81.5, 65.5),
    "convert_hls": RuleCost(18.1, 14.0),
    "convert_hls_float": RuleCost(12.0, 10.2),
    "estimate_rtl": RuleCost(216.1, 159.8),
    "compare_students": RuleCost(8.4, 7.9),
    "plot_frontier": RuleCost(5.7, 5.0),
    "plot_learning_curve": RuleCost(5.8, 5.6),
    "summarize": RuleCost(4.4, 4.0),
    "all": RuleCost(0.0, 0.0),
}
#: Wall seconds of a job of a rule no table knows (a student job's typical start-up + fit).
UNKNOWN_JOB_S = 15.0


@dataclass(frozen=True)
class PlannedJob:
    """A job still to run: its rule, the threads it takes and the planned jobs it waits for."""

    key: Hashable
    rule: str
    threads: int = 1
    deps: tuple[Hashable, ...] = ()


@dataclass(frozen=True)
class Estimate:
    """The replayed schedule: ``seconds`` until the last job ends on ``cores`` cores."""

    seconds: float
    jobs: int
    cores: int
    core_seconds: float
    critical_path_s: float
    per_rule: dict[str, tuple[int, float]] = field(default_factory=dict)  # rule -> (jobs, wall s)
    unknown_rules: tuple[str, ...] = ()

    def message(self, source: str = "") -> str:
        """One line for the run's console."""
        if not self.jobs:
            return "estimate: nothing to run"
        top = sorted(self.per_rule.items(), key=lambda kv: -kv[1][1])[:3]
        parts = ", ".join(f"{r} {n}x {_minutes(s)}" for r, (n, s) in top)
        text = (
            f"estimate: about {_minutes(self.seconds)} for {self.jobs} jobs on {self.cores} "
            f"core(s) ({self.core_seconds / 60:.0f} core-min of work; critical path "
            f"{_minutes(self.critical_path_s)}; most: {parts})"
        )
        if source:
            text += f"; costs from {source}"
        if self.unknown_rules:
            text += (
                f"; no cost known for {', '.join(self.unknown_rules)} ({UNKNOWN_JOB_S:.0f} s each)"
            )
        return text


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _wall(rule: str, costs: Mapping[str, RuleCost], unknown: set[str]) -> float:
    cost = costs.get(rule)
    if cost is None:
        unknown.add(rule)
        return UNKNOWN_JOB_S
    return float(cost.wall_s)


def estimate_remaining(
    jobs: Mapping[str, int] | Sequence[PlannedJob],
    costs: Mapping[str, RuleCost],
    cores: int,
) -> Estimate:
    """Replay ``jobs`` on ``cores`` cores with each job lasting its rule's ``costs``.

    ``jobs``: either the count of jobs per rule (independent, one thread each), or
    :class:`PlannedJob` s with threads and dependencies (from Snakemake's DAG:
    :func:`planned_jobs_from_dag`). A job takes ``min(threads, cores)`` cores, as Snakemake
    scales its threads down; a ready job starts when its cores are free, the one with the
    longest path to the end first. Dependencies on jobs not in ``jobs`` (finished ones) are
    met.
    """
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    if isinstance(jobs, Mapping):
        planned = [
            PlannedJob((rule, i), rule) for rule, n in sorted(jobs.items()) for i in range(int(n))
        ]
    else:
        planned = list(jobs)
    unknown: set[str] = set()
    by_key = {j.key: j for j in planned}
    wall = {j.key: _wall(j.rule, costs, unknown) for j in planned}
    width = {j.key: max(1, min(int(j.threads), cores)) for j in planned}
    deps = {j.key: [d for d in j.deps if d in by_key] for j in planned}
    children: dict[Hashable, list[Hashable]] = {k: [] for k in by_key}
    for k, ds in deps.items():
        for d in ds:
            children[d].append(k)
    rank = _bottom_levels(by_key, children, wall)
    per_rule: dict[str, tuple[int, float]] = {}
    for j in planned:
        n, s = per_rule.get(j.rule, (0, 0.0))
        per_rule[j.rule] = (n + 1, s + wall[j.key])

    waiting = {k: len(ds) for k, ds in deps.items()}
    order = itertools.count()  # ties: first planned, first started (keys need not be ordered)
    ready = [(-rank[k], next(order), k) for k in by_key if waiting[k] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int, Hashable]] = []
    free, now, done = cores, 0.0, 0
    while ready or running:
        held = []
        while ready:  # start every ready job that fits, longest path first
            item = heapq.heappop(ready)
            k = item[2]
            if width[k] <= free:
                free -= width[k]
                heapq.heappush(running, (now + wall[k], next(order), k))
            else:
                held.append(item)
        for item in held:
            heapq.heappush(ready, item)
        if not running:  # pragma: no cover  (a job wider than the machine is clamped above)
            break
        now, _, k = heapq.heappop(running)
        free += width[k]
        done += 1
        for c in children[k]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (-rank[c], next(order), c))
    if done != len(planned):
        raise ValueError(f"dependency cycle among the planned jobs ({done} of {len(planned)} ran)")
    return Estimate(
        seconds=now, jobs=len(planned), cores=cores,
        core_seconds=sum(wall[k] * width[k] for k in by_key),
        critical_path_s=max(rank.values(), default=0.0), per_rule=per_rule,
        unknown_rules=tuple(sorted(unknown)),
    )  # fmt: skip


def _bottom_levels(
    jobs: Mapping[Hashable, PlannedJob],
    children: Mapping[Hashable, list[Hashable]],
    wall: Mapping[Hashable, float],
) -> dict[Hashable, float]:
    """Longest path (own wall included) from each job to the end of the run; a cycle raises."""
    level: dict[Hashable, float] = {}
    on_path: set[Hashable] = set()
    for root in jobs:
        stack = [(root, False)]
        while stack:
            k, expanded = stack.pop()
            if expanded:
                on_path.discard(k)
                level[k] = wall[k] + max((level[c] for c in children[k]), default=0.0)
                continue
            if k in level:
                continue
            if k in on_path:
                raise ValueError(f"dependency cycle among the planned jobs (through {k!r})")
            on_path.add(k)
            stack.append((k, True))
            stack.extend((c, False) for c in children[k] if c not in level)
    return level


# --------------------------------------------------------------------------- cost sources
def costs_from_benchmarks(bench_root: str | os.PathLike[str]) -> dict[str, RuleCost]:
    """Per-job mean wall and CPU seconds per rule from a run's Snakemake benchmark files
    (``<rule>.tsv`` or ``<rule>/<wildcards>.tsv``; column ``s``, ``cpu_time``)."""
    root = Path(bench_root)
    sums: dict[str, list[float]] = {}
    for tsv in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rel = tsv.relative_to(root)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        try:
            header, *rows = tsv.read_text().splitlines()
        except (OSError, ValueError):
            continue
        cols = header.split("\t")
        if "s" not in cols or not rows:
            continue
        vals = rows[-1].split("\t")  # repeat(): the last record
        wall = _number(vals, cols, "s")
        if wall is None:
            continue
        cpu = _number(vals, cols, "cpu_time")
        acc = sums.setdefault(rule, [0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += wall
        acc[2] += cpu or 0.0
    return {r: RuleCost(w / n, c / n) for r, (n, w, c) in sums.items()}


def _number(vals: list[str], cols: list[str], name: str) -> float | None:
    if name not in cols or cols.index(name) >= len(vals):
        return None
    try:
        v = float(vals[cols.index(name)])
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def resolve_costs(
    results: str | os.PathLike[str] | None,
) -> tuple[dict[str, RuleCost], str]:
    """The cost table for a run writing to ``results``: :data:`DEFAULT_COSTS` overridden by
    the rules this results directory's earlier jobs measured; and a phrase saying which."""
    measured = costs_from_benchmarks(Path(results) / "benchmarks") if results else {}
    costs = {**DEFAULT_COSTS, **measured}
    if not measured:
        return costs, "the default run on a 2-core machine (benchmarks/README.md)"
    return costs, f"{len(measured)} rules measured earlier in {Path(results) / 'benchmarks'}"


# --------------------------------------------------------------------------- Snakemake
def planned_jobs_from_dag(dag: Any) -> list[PlannedJob]:
    """The jobs a Snakemake DAG still has to run, with threads and dependencies.

    Uses ``dag.needrun_jobs()`` and ``dag.dependencies`` (Snakemake 9.27), which are
    complete when ``onstart`` runs.
    """
    jobs = list(dag.needrun_jobs())
    ids = {job: i for i, job in enumerate(jobs)}
    return [
        PlannedJob(
            key=ids[job],
            rule=job.rule.name,
            threads=int(job.threads),
            deps=tuple(ids[d] for d in dag.dependencies[job] if d in ids),
        )
        for job in jobs
    ]


def workflow_slots(workflow: Any) -> int:
    """The jobs a run can have at once: ``--cores`` locally, ``--jobs`` on a cluster."""
    for attr in ("cores", "nodes"):
        try:
            value = getattr(workflow, attr)
        except Exception as exc:  # noqa: BLE001  (Snakemake raises WorkflowError when unset)
            log.debug("workflow.%s: %s", attr, exc)
            continue
        if isinstance(value, int) and 0 < value < 10**6:
            return value
    return 1


def remaining_message(workflow: Any, results: str | os.PathLike[str] | None) -> str:
    """The estimate line for ``onstart``: never raises (an estimate must not fail a run)."""
    try:
        costs, source = resolve_costs(results)
        est = estimate_remaining(
            planned_jobs_from_dag(workflow.dag), costs, workflow_slots(workflow)
        )
        return est.message(source)
    except Exception as exc:  # an estimate must never fail a run
        log.debug("no estimate", exc_info=True)
        return f"estimate: none ({type(exc).__name__}: {exc})"
