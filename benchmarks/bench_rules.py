#!/usr/bin/env python
"""Per-rule costs of a finished run, the allocator benchmark, stage projections, prep memory.

What each subcommand measures: wall time, CPU, system time, page faults and memory per rule
of a finished run; the allocator micro-benchmark; the default run per stage on N cores; and
a data-preparation memory probe.

Why: cluster resources (``runtime``, ``mem_mb`` in rules/*.smk and profiles/slurm) should
be set from measurements, not guesses. Every rule writes a Snakemake ``benchmark:`` file
(``<results>/benchmarks/<rule>.tsv`` or ``<results>/benchmarks/<rule>/<wildcards>.tsv``);
this script aggregates them per rule.

Usage::

    # table of a finished run (default results dir: config key `results` = results/)
    python benchmarks/bench_rules.py summary [--results results] [--csv out.csv]

    # user / system CPU, system share and page faults per rule (the jobs' own records,
    # logs/<rule>/<stem>.usage.json, written by jetdistill.runtime at each job's exit)
    python benchmarks/bench_rules.py cpu [--results results] [--csv out.csv]

    # 40 training steps of the default teacher (jedinet, batch 256, 1 thread) with glibc's
    # allocator defaults and with jetdistill.runtime.tune_allocator, each in a fresh process
    python benchmarks/bench_rules.py alloc [--steps 40] [--repeats 2] [--arms off on env]
    # the same for evaluation passes (fit's validation, test logits) at a batch size
    python benchmarks/bench_rules.py alloc --phase eval --batch 4096 --steps 3

    # the default run's cost per stage in core-minutes and its wall time replayed on 2 and 8
    # cores from the per-rule costs (jetdistill.run_costs) over the config's real DAG
    python benchmarks/bench_rules.py project [--cores 2 8] [--results DIR]

    # peak memory of split_data + prepare_view on N synthetic jets in the hls4ml layout,
    # run through the real workflow rules in a scratch copy of the repository
    python benchmarks/bench_rules.py prep-memory --jets 200000 [--workdir DIR] [--keep]

Snakemake samples the job's process tree once per second for the first 30 s, then every
30 s, so ``max_rss`` of jobs shorter than about a second is ``NA`` and short peaks of long
jobs can be missed; ``prep-memory`` therefore also reports ``getrusage`` of the children.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jetdistill import runtime

log = logging.getLogger("bench_rules")

REPO = Path(__file__).resolve().parents[1]
#: Columns of Snakemake's benchmark TSV used here (seconds, MB, seconds).
WALL, RSS, CPU = "s", "max_rss", "cpu_time"


# --------------------------------------------------------------------------- summary


def rule_of(tsv: Path, bench_root: Path) -> str:
    """Rule name from a benchmark path: the first folder under ``benchmarks/``, else the stem."""
    rel = tsv.relative_to(bench_root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def read_benchmarks(bench_root: Path) -> pd.DataFrame:
    """One row per benchmark record: ``rule``, ``job`` (path under benchmarks/), and the TSV columns.

    A file may hold several rows (``benchmark: repeat(...)``); each is kept.
    """
    frames = []
    for tsv in sorted(bench_root.rglob("*.tsv")):
        try:
            df = pd.read_csv(tsv, sep="\t", na_values=["-", "NA"])
        except pd.errors.EmptyDataError:
            log.warning("empty benchmark file %s", tsv)
            continue
        if WALL not in df.columns:
            log.warning("%s is not a Snakemake benchmark file (no %r column)", tsv, WALL)
            continue
        df.insert(0, "job", str(tsv.relative_to(bench_root).with_suffix("")))
        df.insert(0, "rule", rule_of(tsv, bench_root))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["rule", "job", WALL, RSS, CPU])
    return pd.concat(frames, ignore_index=True)


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """Per rule: job count, wall time sum/max (s), peak RSS max (MB), CPU time sum (s).

    Sorted by total wall time, the quantity that decides where optimisation pays.
    """
    cols = ["rule", "jobs", "wall_s_sum", "wall_s_max", "max_rss_mb", "cpu_s_sum"]
    if records.empty:
        return pd.DataFrame(columns=cols)
    rec = records.copy()
    for c in (WALL, RSS, CPU):
        if c not in rec.columns:
            rec[c] = np.nan
        rec[c] = pd.to_numeric(rec[c], errors="coerce")
    g = rec.groupby("rule")
    out = pd.DataFrame(
        {
            "jobs": g["job"].nunique(),
            "wall_s_sum": g[WALL].sum(),
            "wall_s_max": g[WALL].max(),
            "max_rss_mb": g[RSS].max(),
            "cpu_s_sum": g[CPU].sum(min_count=1),
        }
    ).reset_index()
    return out.sort_values("wall_s_sum", ascending=False, kind="stable").reset_index(drop=True)[
        cols
    ]


def format_table(summary: pd.DataFrame) -> str:
    """Markdown table with a total row (wall time summed over rules = serial CPU-job time)."""
    if summary.empty:
        return "(no benchmark files)"
    total = pd.DataFrame(
        [
            {
                "rule": "TOTAL",
                "jobs": summary["jobs"].sum(),
                "wall_s_sum": summary["wall_s_sum"].sum(),
                "wall_s_max": summary["wall_s_max"].max(),
                "max_rss_mb": summary["max_rss_mb"].max(),
                "cpu_s_sum": summary["cpu_s_sum"].sum(),
            }
        ]
    )
    table = pd.concat([summary, total], ignore_index=True)
    return (
        table.to_markdown(index=False, floatfmt=".1f")
        if _has_tabulate()
        else table.to_string(index=False, float_format=lambda v: f"{v:.1f}")
    )


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def cmd_summary(args: argparse.Namespace) -> int:
    bench_root = Path(args.results) / "benchmarks"
    if not bench_root.is_dir():
        print(f"no benchmark directory {bench_root} (has the workflow run?)", file=sys.stderr)
        return 2
    summary = summarize(read_benchmarks(bench_root))
    print(format_table(summary))
    if args.csv:
        summary.to_csv(args.csv, index=False)
    return 0


# --------------------------------------------------------------------------- cpu

#: Columns of a job's resource record (``jetdistill.runtime.Usage``) summed per rule.
USAGE_SUMS = (
    "user_s",
    "sys_s",
    "minor_faults",
    "major_faults",
    "children_user_s",
    "children_sys_s",
)


def read_usage(logs_root: Path) -> pd.DataFrame:
    """One row per job record ``logs/<rule>[/<stem>].usage.json``: ``rule``, ``job`` and the fields."""
    rows = []
    for f in sorted(logs_root.rglob("*" + runtime.USAGE_SUFFIX)):
        try:
            rec = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            log.warning("unreadable resource record %s: %s", f, exc)
            continue
        rel = f.relative_to(logs_root)
        job = str(rel)[: -len(runtime.USAGE_SUFFIX)]
        rule = rel.parts[0] if len(rel.parts) > 1 else job
        rows.append({"rule": rule, "job": job, **{k: v for k, v in rec.items() if k != "allocator"},
                     "tuned": bool(rec.get("allocator"))})  # fmt: skip
    return pd.DataFrame(rows)


def cpu_table(usage: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, wall (Snakemake's ``s``, summed), user / system CPU s, system share (% of
    user), minor / major faults, children's CPU s, peak RSS (MB) and whether the allocator was
    tuned in every job (``tuned``: yes / no / mixed).

    Wall comes from the benchmark files (interpreter start included); CPU and faults from the
    jobs' own records, which see system time and faults that the benchmark TSVs do not. A
    rule without records (a run from before the records) shows Snakemake's ``cpu_time`` as
    ``user_s`` and NA elsewhere.
    """
    cols = ["rule", "jobs", "wall_s", "user_s", "sys_s", "sys_pct", "minor_faults",
            "major_faults", "children_cpu_s", "max_rss_mb", "tuned"]  # fmt: skip
    wall = (
        bench.assign(**{WALL: pd.to_numeric(bench[WALL], errors="coerce")}).groupby("rule")[WALL].sum()
        if not bench.empty else pd.Series(dtype=float)
    )  # fmt: skip
    rows = []
    rules = sorted(set(usage["rule"]) if not usage.empty else set()) or []
    for rule in sorted(set(rules) | set(wall.index)):
        u = usage[usage["rule"] == rule] if not usage.empty else pd.DataFrame()
        row: dict = {"rule": rule, "wall_s": wall.get(rule, np.nan)}
        if len(u):
            sums = {k: float(u[k].sum()) for k in USAGE_SUMS}
            tuned = u["tuned"].astype(bool)
            row.update(
                jobs=len(u), user_s=sums["user_s"], sys_s=sums["sys_s"],
                sys_pct=100 * sums["sys_s"] / sums["user_s"] if sums["user_s"] else np.nan,
                minor_faults=int(sums["minor_faults"]), major_faults=int(sums["major_faults"]),
                children_cpu_s=sums["children_user_s"] + sums["children_sys_s"],
                max_rss_mb=float(u["max_rss_mb"].max()),
                tuned="yes" if tuned.all() else ("no" if not tuned.any() else "mixed"),
            )  # fmt: skip
        else:
            b = bench[bench["rule"] == rule]
            row.update(jobs=b["job"].nunique(), user_s=pd.to_numeric(b.get(CPU), errors="coerce").sum(),
                       max_rss_mb=pd.to_numeric(b.get(RSS), errors="coerce").max(), tuned="NA")  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("user_s", ascending=False, kind="stable").reset_index(drop=True)


def format_cpu_table(table: pd.DataFrame) -> str:
    """Markdown table with a TOTAL row (sums; system share of the summed times)."""
    if table.empty:
        return "(no resource records or benchmark files)"
    tot = {c: table[c].sum() for c in ("jobs", "wall_s", "user_s", "sys_s", "minor_faults",
                                       "major_faults", "children_cpu_s")}  # fmt: skip
    tot.update(rule="TOTAL", max_rss_mb=table["max_rss_mb"].max(), tuned="",
               sys_pct=100 * tot["sys_s"] / tot["user_s"] if tot["user_s"] else np.nan)  # fmt: skip
    t = pd.concat([table, pd.DataFrame([tot])], ignore_index=True)
    for c in ("minor_faults", "major_faults"):
        t[c] = t[c].map(lambda v: "NA" if pd.isna(v) else f"{int(v):,}")
    return (
        t.to_markdown(index=False, floatfmt=".1f")
        if _has_tabulate()
        else t.to_string(index=False, float_format=lambda v: f"{v:.1f}")
    )


def cmd_cpu(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_dir():
        print(f"no results directory {results} (has the workflow run?)", file=sys.stderr)
        return 2
    bench_root, logs_root = results / "benchmarks", results / "logs"
    bench = read_benchmarks(bench_root) if bench_root.is_dir() else pd.DataFrame()
    usage = read_usage(logs_root) if logs_root.is_dir() else pd.DataFrame()
    if usage.empty:
        print(f"(no job resource records under {logs_root}: a run from before they existed; "
              "user_s is Snakemake's sampled cpu_time)", file=sys.stderr)  # fmt: skip
    table = cpu_table(usage, bench)
    print(format_cpu_table(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


# --------------------------------------------------------------------------- alloc

#: The arms of the allocator benchmark: the environment each child process runs under.
ALLOC_ARMS = {
    "off": {runtime.ENV_TUNE: "0"},  # glibc's defaults
    "on": {},  # jetdistill.runtime.tune_allocator (mallopt in the running process)
    "env": {  # the same thresholds through glibc's environment (read at exec)
        runtime.ENV_TUNE: "0",
        "MALLOC_MMAP_THRESHOLD_": str(runtime.AllocatorSettings().mmap_threshold),
        "MALLOC_TRIM_THRESHOLD_": str(runtime.AllocatorSettings().trim_threshold),
    },
}


def teacher_spec(config: Path, model: str) -> tuple[dict, tuple[int, int]]:
    """A model's architecture spec and its view's input shape (constituents, features)."""
    import yaml

    cfg = yaml.safe_load(config.read_text())
    spec = dict(cfg["models"][model])
    view = cfg["views"][spec.pop("view")]
    return {k: v for k, v in spec.items() if k not in ("name", "seed")}, (
        int(view["n_constituents"]),
        len(view["features"]),
    )


def alloc_child(args: argparse.Namespace) -> int:
    """One arm: ``--warmup`` + ``--steps`` training steps as ``fit`` takes them (shuffled
    batches indexed out of an in-memory split, AdamW, clipping); prints one JSON line with
    the timed steps' jets/s and ``getrusage`` deltas."""
    import torch
    import torch.nn.functional as F

    from jetdistill.learn.models import build_model
    from jetdistill.learn.training import Batches, TrainConfig, make_optimizer, predict_logits

    applied = runtime.tune_allocator()  # a no-op in the off / env arms (JETDISTILL_MALLOC_TUNE=0)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec, shape = teacher_spec(Path(args.config), args.model)
    model = build_model(spec, shape, 5)
    cfg = TrainConfig(batch_size=args.batch)
    opt = make_optimizer(model, cfg)
    n = args.batch * (args.steps + args.warmup)
    rng = np.random.default_rng(0)
    data = Batches.from_numpy(rng.normal(size=(n, *shape)).astype(np.float32),
                              rng.integers(0, 5, size=n))  # fmt: skip
    batches = data.iter_batches(args.batch, torch.Generator().manual_seed(0))
    params = list(model.parameters())

    def train_step() -> None:
        xb, yb, _ = next(batches)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()

    def eval_step() -> None:  # one batch of an evaluation pass, as fit's validation runs it
        xb, _, _ = next(batches)
        predict_logits(model, xb, batch_size=args.batch)

    step = eval_step if args.phase == "eval" else train_step
    model.train()
    for _ in range(args.warmup):
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(args.steps):
        step()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "jets_per_s": args.batch * args.steps / wall, "wall_s": wall,
        "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
        "minor_faults": r1.ru_minflt - r0.ru_minflt, "max_rss_mb": r1.ru_maxrss / 1024,
        "allocator": applied,
    }))  # fmt: skip
    return 0


def cmd_alloc(args: argparse.Namespace) -> int:
    """Run each arm ``--repeats`` times, interleaved (off, on, off, on...) so that a change
    in the machine's load hits every arm alike; print each run and the on/off ratios."""
    rows = []
    for rep in range(args.repeats):
        for arm in args.arms:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            env.update(ALLOC_ARMS[arm])
            cmd = [sys.executable, __file__, "_alloc-child", "--config", args.config, "--model",
                   args.model, "--batch", str(args.batch), "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(args.threads),
                   "--phase", args.phase]  # fmt: skip
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-4000:], file=sys.stderr)
                return proc.returncode
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                {"arm": arm, "run": rep + 1, **{k: v for k, v in rec.items() if k != "allocator"}}
            )
    df = pd.DataFrame(rows)
    df["sys_pct"] = 100 * df["sys_s"] / df["user_s"]
    # jets per CPU-second: what other jobs on a shared machine disturb far less than wall rates
    df["jets_per_cpu_s"] = args.batch * args.steps / (df["user_s"] + df["sys_s"])
    print(
        f"{args.steps} {args.phase} steps of {args.model} ({args.config}), batch {args.batch}, "
        f"{args.threads} thread(s), {args.warmup} warm-up steps; each run a fresh process"
    )
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    med = df.groupby("arm")[
        ["jets_per_s", "jets_per_cpu_s", "minor_faults", "sys_s", "user_s", "max_rss_mb"]
    ].median()
    if "off" in med.index:
        for arm in med.index.drop("off"):
            a, b = med.loc[arm], med.loc["off"]
            print(
                f"{arm} / off (medians): jets/s x{a.jets_per_s / b.jets_per_s:.2f}, "
                f"jets per CPU-s x{a.jets_per_cpu_s / b.jets_per_cpu_s:.2f}, "
                f"faults x{a.minor_faults / max(b.minor_faults, 1):.3f} "
                f"({b.minor_faults:,.0f} -> {a.minor_faults:,.0f}), "
                f"system s x{a.sys_s / b.sys_s if b.sys_s else float('nan'):.3f} "
                f"({b.sys_s:.2f} -> {a.sys_s:.2f}), user s x{a.user_s / b.user_s:.2f}, "
                f"peak RSS {b.max_rss_mb:.0f} -> {a.max_rss_mb:.0f} MB"
            )
    if args.json:
        df.to_json(args.json, orient="records", indent=1)
    return 0


# --------------------------------------------------------------------------- project

#: The README's stages: rule -> stage.
STAGES = {
    "init_tracking": "set-up + reports", "compare_students": "set-up + reports",
    "plot_frontier": "set-up + reports", "plot_learning_curve": "set-up + reports",
    "summarize": "set-up + reports", "all": "set-up + reports",
    "generate_jets": "data", "split_data": "data", "prepare_view": "data",
    "train_teacher": "teacher", "compute_soft_targets": "teacher",
    "train_student_solo": "students (solo + KD)", "distill_student": "students (solo + KD)",
    "train_teacher_fraction": "learning curve", "train_student_solo_fraction": "learning curve",
    "distill_student_fraction": "learning curve",
    "train_qat": "compression (QAT + pruning)",
    "convert_hls": "FPGA", "convert_hls_float": "FPGA", "estimate_rtl": "FPGA",
}  # fmt: skip


def rule_threads(rules_dir: Path) -> dict[str, int]:
    """``threads:`` of each rule in ``rules/*.smk`` (a number; 1 where none is given)."""
    import re

    out: dict[str, int] = {}
    for smk in sorted(rules_dir.glob("*.smk")):
        rule = None
        for line in smk.read_text().splitlines():
            if m := re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line):
                rule = m.group(1)
            elif rule and (m := re.match(r"\s+threads:\s*(\d+)\s*$", line)):
                out[rule] = int(m.group(1))
    return out


def dag_jobs(work: Path, config: str | None) -> list:
    """The planned jobs of a workflow copy from ``snakemake --dag`` (DOT: one node per job)."""
    cmd = [sys.executable, "-m", "snakemake", "--dag", "--workflow-profile", "none", "--forceall"]
    if config:
        cmd += ["--configfile", str(Path(config).resolve())]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake --dag failed:\n{proc.stderr[-3000:]}")
    return parse_dag(proc.stdout, rule_threads(work / "rules"))


def parse_dag(dot: str, threads: dict[str, int]) -> list:
    """Jobs of Snakemake's ``--dag`` DOT: node ``N[label = "rule\\n..."]``, edge ``A -> B``
    (A's output is B's input); threads per rule from ``threads`` (else 1)."""
    import re

    from jetdistill.run_costs import PlannedJob

    rules: dict[int, str] = {}
    deps: dict[int, list[int]] = {}
    for line in dot.splitlines():
        if m := re.match(r"\s*(\d+)\[label = \"([^\"\\]+)", line):
            rules[int(m.group(1))] = m.group(2)
        elif m := re.match(r"\s*(\d+) -> (\d+)", line):
            deps.setdefault(int(m.group(2)), []).append(int(m.group(1)))
    return [PlannedJob(k, r, threads.get(r, 1), tuple(deps.get(k, ()))) for k, r in rules.items()]


def cmd_project(args: argparse.Namespace) -> int:
    from jetdistill.run_costs import DEFAULT_COSTS, estimate_remaining, resolve_costs

    work = Path(tempfile.mkdtemp(prefix="jd-project-"))
    try:
        runtime.copy_workflow(REPO, work)
        jobs = dag_jobs(work, args.config)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    costs, source = (
        resolve_costs(args.results) if args.results else (DEFAULT_COSTS, "DEFAULT_COSTS")
    )
    rows = []
    for stage in dict.fromkeys([*STAGES.values(), "other"]):
        mine = [j for j in jobs if STAGES.get(j.rule, "other") == stage]
        if not mine:
            continue
        keys = {j.key for j in mine}
        alone = [
            type(j)(j.key, j.rule, j.threads, tuple(d for d in j.deps if d in keys)) for j in mine
        ]
        cpu = sum((costs[j.rule].cpu_s or 0.0) if j.rule in costs else 0.0 for j in mine)
        held = sum(estimate_remaining(alone, costs, c).core_seconds for c in args.cores[:1])
        row = {
            "stage": stage,
            "jobs": len(mine),
            "cpu_core_min": cpu / 60,
            "held_core_min": held / 60,
        }
        for c in args.cores:
            row[f"wall_min_{c}_cores"] = estimate_remaining(alone, costs, c).seconds / 60
        rows.append(row)
    total = {"stage": "whole run (dependencies across stages)", "jobs": len(jobs),
             "cpu_core_min": sum(r["cpu_core_min"] for r in rows),
             "held_core_min": sum(r["held_core_min"] for r in rows)}  # fmt: skip
    for c in args.cores:
        est = estimate_remaining(jobs, costs, c)
        total[f"wall_min_{c}_cores"] = est.seconds / 60
        print(f"{c} cores: {est.message(source)}")
    table = pd.DataFrame([*rows, total])
    print(
        table.to_markdown(index=False, floatfmt=".1f")
        if _has_tabulate()
        else table.to_string(index=False, float_format=lambda v: f"{v:.1f}")
    )
    return 0


# --------------------------------------------------------------------------- prep-memory


@dataclass(frozen=True)
class SynthSpec:
    """Synthetic hls4ml-layout data: ``n_jets`` split into files of ``jets_per_file``."""

    n_jets: int
    jets_per_file: int = 10_000
    seed: int = 0
    dtype: str = "float64"  # the public Zenodo files store float64; generated shards float32


def write_hls4ml_file(path: Path, n: int, rng: np.random.Generator, dtype: str = "float64") -> None:
    """One file in the public hls4ml layout with plausible (not physical) contents.

    Constituents are pT-ordered with a random multiplicity and zero padding, as in the
    real files, so view selection and normalisation do the same work as on real data.
    """
    import h5py

    from jetdistill.data import layout

    c, f = layout.MAX_CONSTITUENTS, len(layout.PARTICLE_FEATURES)
    x = rng.normal(size=(n, c, f)).astype(np.float32)
    pt_col = layout.PARTICLE_FEATURES.index("j1_pt")
    x[:, :, pt_col] = -np.sort(-rng.exponential(50.0, size=(n, c)), axis=1)
    mult = rng.integers(10, c, size=n)
    x[np.arange(c)[None, :] >= mult[:, None]] = 0.0
    jets = rng.normal(size=(n, len(layout.JET_FEATURES))).astype(
        np.float32
    )  # all finite, as in the public files
    labels = rng.integers(0, len(layout.LABEL_COLUMNS), size=n)
    for k, name in enumerate(layout.LABEL_COLUMNS):
        jets[:, layout.JET_FEATURES.index(name)] = (labels == k).astype(np.float32)
    jets[:, layout.JET_FEATURES.index("j_undef")] = 0.0
    jets[:, layout.JET_FEATURES.index("j_pt")] = rng.uniform(900, 1100, size=n)
    jets[:, layout.JET_FEATURES.index("j_multiplicity")] = mult
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as h:
        h.create_dataset(layout.DS_CONSTITUENTS, data=x.astype(dtype, copy=False))
        h.create_dataset(layout.DS_JETS, data=jets.astype(dtype, copy=False))
        h.create_dataset(
            layout.DS_PARTICLE_NAMES,
            data=np.array([s.encode() for s in layout.PARTICLE_FEATURE_NAMES]),
        )
        h.create_dataset(
            layout.DS_JET_NAMES, data=np.array([s.encode() for s in layout.JET_FEATURES])
        )
    os.replace(tmp, path)


def write_synthetic(data_dir: Path, spec: SynthSpec) -> list[Path]:
    """Write ``spec.n_jets`` jets as ``jetImage_<i>_150p_<lo>_<hi>.h5`` files (hls4ml naming)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    files = []
    for i, lo in enumerate(range(0, spec.n_jets, spec.jets_per_file)):
        n = min(spec.jets_per_file, spec.n_jets - lo)
        p = data_dir / f"jetImage_{i}_150p_{lo}_{lo + n}.h5"
        write_hls4ml_file(p, n, rng, spec.dtype)
        files.append(p)
    return files


def cmd_prep_memory(args: argparse.Namespace) -> int:
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="jd-prepmem-"))
    runtime.copy_workflow(REPO, work)
    data_dir = work / "hls4ml_data"
    t0 = time.perf_counter()
    files = write_synthetic(
        data_dir, SynthSpec(n_jets=args.jets, jets_per_file=args.jets_per_file, dtype=args.dtype)
    )
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    print(
        f"wrote {args.jets} jets in {len(files)} files ({size_mb:.0f} MB) "
        f"in {time.perf_counter() - t0:.1f} s under {data_dir}"
    )
    cfg = work / "bench_prep.yaml"
    cfg.write_text(
        f'results: results\ndata:\n  source: hls4ml\n  hls4ml:\n    files: "{data_dir}"\n'
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(args.cores),
        "--configfile",
        str(cfg),
        "--until",
        "prepare_view",
        "--workflow-profile",
        "none",
    ]
    print("running:", " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-8000:], sep="\n", file=sys.stderr)
        return proc.returncode
    peak_children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    records = read_benchmarks(work / "results" / "benchmarks")
    records = records[records["rule"].isin(["split_data", "prepare_view"])]
    print(
        f"\nsplit_data + prepare_view on {args.jets} jets ({size_mb:.0f} MB input), "
        f"{wall:.1f} s wall including Snakemake start-up"
    )
    cols = ["rule", "job", WALL, RSS]
    print(records[cols].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"peak RSS of any child process (getrusage): {peak_children_mb:.0f} MB")
    usage = read_usage(work / "results" / "logs")
    if not usage.empty:
        usage = usage[usage["rule"].isin(["split_data", "prepare_view"])]
        print("\neach job's own record (getrusage at exit; peak RSS exact, not sampled):")
        cols = ["job", "wall_s", "user_s", "sys_s", "minor_faults", "max_rss_mb"]
        print(usage[cols].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(
        dest="cmd", required=True, metavar="{summary,cpu,alloc,project,prep-memory}"
    )
    s = sub.add_parser("summary", help="per-rule table of a finished run's benchmark files")
    s.add_argument("--results", default="results", help="the run's results dir (config `results`)")
    s.add_argument("--csv", help="also write the table here")
    s.set_defaults(func=cmd_summary)
    c = sub.add_parser("cpu", help="user/system CPU and page faults per rule of a finished run")
    c.add_argument("--results", default="results", help="the run's results dir (config `results`)")
    c.add_argument("--csv", help="also write the table here")
    c.set_defaults(func=cmd_cpu)
    for name, helptext in (
        ("alloc", "teacher training steps, allocator off vs on"),
        ("_alloc-child", None),
    ):
        a = sub.add_parser(name, **({"help": helptext} if helptext else {}))
        a.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
        a.add_argument("--model", default="jedinet")
        a.add_argument("--batch", type=int, default=256)
        a.add_argument("--steps", type=int, default=40)
        a.add_argument("--warmup", type=int, default=3)
        a.add_argument("--threads", type=int, default=1)
        a.add_argument("--phase", choices=["train", "eval"], default="train",
                       help="training steps, or evaluation batches (predict_logits) of --batch jets")  # fmt: skip
        if name == "alloc":
            a.add_argument("--repeats", type=int, default=2)
            a.add_argument("--arms", nargs="+", choices=sorted(ALLOC_ARMS), default=["off", "on"])
            a.add_argument("--json", help="also write the runs here")
            a.set_defaults(func=cmd_alloc)
        else:
            a.set_defaults(func=alloc_child)
    pr = sub.add_parser("project", help="per-stage core-minutes and replayed wall on N cores")
    pr.add_argument("--config", help="a --configfile for the DAG (default: config/config.yaml)")
    pr.add_argument("--cores", type=int, nargs="+", default=[2, 8])
    pr.add_argument("--results", help="take per-rule costs from this finished run's benchmarks")
    pr.set_defaults(func=cmd_project)
    m = sub.add_parser("prep-memory", help="peak memory of split + prepare on synthetic data")
    m.add_argument("--jets", type=int, default=200_000)
    m.add_argument("--jets-per-file", type=int, default=10_000)
    m.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="storage type of the synthetic files (public hls4ml files: float64)",
    )
    m.add_argument("--cores", type=int, default=1)
    m.add_argument("--workdir", help="scratch directory (default: a new tmp dir)")
    m.add_argument("--keep", action="store_true", help="keep the scratch directory")
    m.set_defaults(func=cmd_prep_memory)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
