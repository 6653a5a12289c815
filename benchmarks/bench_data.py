"""Benchmark of the data stage: generation jets/s per class, split + prepare time, and the
projected wall time of the default data stage (config/config.yaml) on N cores.

    .venv/bin/python benchmarks/bench_data.py [--jets 300] [--config config/config.yaml] [--cores 2]

Generation is timed per class on one core (one Snakemake job = one core). The
projection schedules the config's class x shard jobs on ``--cores`` cores
(longest job first) and adds split + prepare, scaled linearly in the number of jets.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jetdistill.generate import GenerateConfig, generate_shard
from jetdistill.prepare import prepare_view
from jetdistill.splits import SPLITS, split_data

GEN_DEFAULTS = {
    "jets_per_shard": 2000,
    "shards": 2,
    "classes": ["gluon", "light_quark", "W", "Z", "top"],
}


def schedule(durations: list[float], cores: int) -> float:
    """Makespan of jobs on ``cores`` workers, longest job first (what Snakemake roughly does)."""
    loads = [0.0] * cores
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--jets", type=int, default=300, help="jets per class to time")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = yaml.safe_load(Path(args.config).read_text())
    data = cfg.get("data", {})
    gen = {**GEN_DEFAULTS, **(data.get("generate") or {})}
    views = cfg["views"]

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        bench_cfg = GenerateConfig.from_dict({**gen, "jets_per_shard": args.jets})
        rates, cpu_rates, files = {}, {}, []
        print(f"generation, {args.jets} jets per class, one core:")
        for cls in gen["classes"]:
            t0, c0 = time.perf_counter(), time.process_time()
            st = generate_shard(d / f"{cls}_0.h5", cls, 0, bench_cfg)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rates[cls], cpu_rates[cls] = st["jets"] / wall, st["jets"] / cpu
            files.append(str(d / f"{cls}_0.h5"))
            print(
                f"  {cls:12s} {rates[cls]:7.1f} jets/s wall, {cpu_rates[cls]:7.1f} jets/s per CPU-second "
                f"(efficiency {st['efficiency']:.2f} jets/event, {wall:5.1f} s)"
            )

        n_bench = len(files) * args.jets
        t0 = time.perf_counter()
        split_data(files, d / "splits.h5", {**data, "source": "generate", "generate": gen})
        t_split = time.perf_counter() - t0
        t_views = {}
        for name, view in views.items():
            t0 = time.perf_counter()
            outs = {s: d / "views" / name / f"{s}.h5" for s in SPLITS}
            prepare_view(
                d / "splits.h5",
                {"n_constituents": 16, **view},
                outs,
                d / "views" / name / "norm.json",
                data,
                view_name=name,
            )
            t_views[name] = time.perf_counter() - t0
        print(f"split_data: {t_split:.2f} s; prepare_view: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in t_views.items()) + f"  ({n_bench} jets)")  # fmt: skip

    n_jobs_per_class = int(gen["shards"])
    per_shard = int(gen["jets_per_shard"])
    durations = [per_shard / rates[c] for c in gen["classes"] for _ in range(n_jobs_per_class)]
    n_total = per_shard * n_jobs_per_class * len(gen["classes"])
    scale = n_total / n_bench
    t_gen = schedule(durations, args.cores)
    t_gen_cpu = schedule(
        [per_shard / cpu_rates[c] for c in gen["classes"] for _ in range(n_jobs_per_class)],
        args.cores,
    )
    t_split_total = t_split * scale
    t_prep = schedule([t * scale for t in t_views.values()], args.cores)
    total = t_gen + t_split_total + t_prep
    print(
        f"projected default data stage ({len(gen['classes'])} classes x {n_jobs_per_class} shards x {per_shard} jets "
        f"= {n_total} jets, {args.cores} cores): generate {t_gen:.0f} s + split {t_split_total:.0f} s + "
        f"prepare {t_prep:.0f} s = {total:.0f} s ({total / 60:.1f} min; budget 10 min: "
        f"{'OK' if total < 600 else 'OVER'})"
    )
    print(
        f"  (with uncontended cores, from CPU time: generate {t_gen_cpu:.0f} s, "
        f"total {t_gen_cpu + t_split_total + t_prep:.0f} s)"
    )


if __name__ == "__main__":
    main()
