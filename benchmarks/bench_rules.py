#!/usr/bin/env python
"""Per-rule wall time and peak memory of a finished run, and a data-preparation memory probe.

Why: cluster resources (``runtime``, ``mem_mb`` in rules/*.smk and profiles/slurm) should
be set from measurements, not guesses. Every rule writes a Snakemake ``benchmark:`` file
(``<results>/benchmarks/<rule>.tsv`` or ``<results>/benchmarks/<rule>/<wildcards>.tsv``);
this script aggregates them per rule.

Usage::

    # table of a finished run (default results dir: config key `results` = results/)
    python benchmarks/bench_rules.py summary [--results results] [--csv out.csv]

    # peak memory of split_data + prepare_view on N synthetic jets in the hls4ml layout,
    # run through the real workflow rules in a scratch copy of the repository
    python benchmarks/bench_rules.py prep-memory --jets 200000 [--workdir DIR] [--keep]

Snakemake samples the job's process tree once per second for the first 30 s, then every
30 s, so ``max_rss`` of jobs shorter than about a second is ``NA`` and short peaks of long
jobs can be missed; ``prep-memory`` therefore also reports ``getrusage`` of the children.
"""

from __future__ import annotations

import argparse
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
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="per-rule table of a finished run's benchmark files")
    s.add_argument("--results", default="results", help="the run's results dir (config `results`)")
    s.add_argument("--csv", help="also write the table here")
    s.set_defaults(func=cmd_summary)
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
