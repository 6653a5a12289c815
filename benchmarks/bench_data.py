"""Benchmark of the data stage: accepted jets per CPU-second per class, old vs new generator
settings in one run, split + prepare time, and the projected wall time of the default data
stage (config/config.yaml) on N cores.

    .venv/bin/python benchmarks/bench_data.py [--jets 300] [--config config/config.yaml] [--cores 2]

"old" is the generator before its pTHat window was narrowed: pTHat window 810-1210 GeV and the per-event
Python/awkward selection loop (``loop: event``); "new" is the config's generator with the
current defaults (pTHat window centred on the jet window, vectorised selection). Both write
the same class x shard 0 with the same seed; the rate is accepted jets per CPU-second of
this process (``time.process_time``, Pythia initialisation included), which is less
sensitive than wall time to other jobs on a shared machine. Each class is timed old then
new, back to back, so slow drifts of the machine hit both alike.

Generation is timed per class on one core (one Snakemake job = one core). The
projection schedules the config's class x shard jobs on ``--cores`` cores
(longest job first) with the new rates and adds split + prepare, scaled linearly in the
number of jets.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jetdistill.data.generate import GenerateConfig, generate_shard
from jetdistill.data.prepare import prepare_view
from jetdistill.data.splits import SPLITS, split_data

GEN_DEFAULTS = {
    "jets_per_shard": 2000,
    "shards": 2,
    "classes": ["gluon", "light_quark", "W", "Z", "top"],
}
#: the generator settings before the pTHat window was narrowed
OLD = {"pthat_min": 810.0, "pthat_max": 1210.0, "loop": "event"}
TARGET = 40.0  # accepted jets per CPU-second, every class (the data stage's target)
BUDGET_MIN = 13.0  # data stage of the default run on 2 cores, minutes (its budget)


def schedule(durations: list[float], cores: int) -> float:
    """Makespan of jobs on ``cores`` workers, longest job first (what Snakemake roughly does)."""
    loads = [0.0] * cores
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def time_shard(path: Path, cls: str, cfg: GenerateConfig) -> dict[str, Any]:
    """Generate one shard; its stats plus wall and CPU seconds of this process."""
    t0, c0 = time.perf_counter(), time.process_time()
    st = generate_shard(path, cls, 0, cfg)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        **st,
        "wall": wall,
        "cpu": cpu,
        "per_cpu_s": st["jets"] / cpu,
        "per_s": st["jets"] / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--jets", type=int, default=300, help="jets per class to time")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument(
        "--attribute",
        action="store_true",
        help="also time the new pTHat window with the per-event loop, to split the gain "
        "between the pTHat window and the vectorised loop",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = yaml.safe_load(Path(args.config).read_text())
    data = cfg.get("data", {})
    gen = {**GEN_DEFAULTS, **(data.get("generate") or {})}
    views = cfg["views"]

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        new_cfg = GenerateConfig.from_dict({**gen, "jets_per_shard": args.jets})
        old_cfg = GenerateConfig.from_dict({**gen, "jets_per_shard": args.jets, **OLD})
        mid_cfg = GenerateConfig.from_dict({**gen, "jets_per_shard": args.jets, "loop": "event"})
        lo, hi = new_cfg.pthat_window
        print(
            f"generation, {args.jets} jets per class, one core; accepted jets per CPU-second\n"
            f"  old: pTHat {OLD['pthat_min']:g}-{OLD['pthat_max']:g} GeV, per-event loop\n"
            f"  new: pTHat {lo:g}-{hi:g} GeV, {new_cfg.loop} loop (the config's generator)"
            + ("\n  mid: new pTHat window, per-event loop" if args.attribute else "")
            + "\n"
        )
        print(
            f"  {'class':12s} {'old':>7s} {'new':>7s} {'ratio':>6s}   {'eff old':>7s} {'eff new':>7s}"
            f"   {'new jets/s wall':>15s}" + (f"   {'mid':>7s}" if args.attribute else "")
        )
        rates, cpu_rates, files, worst = {}, {}, [], float("inf")
        for cls in gen["classes"]:
            old = time_shard(d / f"old_{cls}.h5", cls, old_cfg)
            mid = time_shard(d / f"mid_{cls}.h5", cls, mid_cfg) if args.attribute else None
            new = time_shard(d / f"{cls}_0.h5", cls, new_cfg)
            rates[cls], cpu_rates[cls] = new["per_s"], new["per_cpu_s"]
            worst = min(worst, new["per_cpu_s"])
            files.append(str(d / f"{cls}_0.h5"))
            print(
                f"  {cls:12s} {old['per_cpu_s']:7.1f} {new['per_cpu_s']:7.1f} "
                f"{new['per_cpu_s'] / old['per_cpu_s']:5.2f}x   {old['efficiency']:7.2f} "
                f"{new['efficiency']:7.2f}   {new['per_s']:15.1f}"
                + (f"   {mid['per_cpu_s']:7.1f}" if mid else ""),
                flush=True,
            )
        print(
            "  (eff = accepted jets per Pythia event, in whole batches of 100 events; jets per\n"
            "  CPU-second include Pythia's initialisation, ~0.8 s per shard)\n"
            f"  target >= {TARGET:g} jets per CPU-second for every class (new): "
            f"{'MET' if worst >= TARGET else 'MISSED'} (slowest {worst:.1f})\n"
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
    total_cpu = t_gen_cpu + t_split_total + t_prep

    def verdict(t: float) -> str:
        return f"{t / 60:.1f} min; budget {BUDGET_MIN:g} min: {'OK' if t < 60 * BUDGET_MIN else 'OVER'}"

    print(
        f"projected default data stage ({len(gen['classes'])} classes x {n_jobs_per_class} shards x {per_shard} jets "
        f"= {n_total} jets, {args.cores} cores, new generator):\n"
        f"  from wall rates (meaningful on an otherwise idle machine only): generate {t_gen:.0f} s + "
        f"split {t_split_total:.0f} s + prepare {t_prep:.0f} s = {total:.0f} s ({verdict(total)})\n"
        f"  from CPU rates (uncontended cores): generate {t_gen_cpu:.0f} s, total {total_cpu:.0f} s "
        f"({verdict(total_cpu)})"
    )


if __name__ == "__main__":
    main()
