"""Training throughput of the jet models vs constituents, features, threads and edge implementation.

The interaction network has ``C*(C-1)`` edges, so its cost grows quadratically with the
number of constituents ``C`` (and cubically for the paper's dense ``Rr``/``Rs`` matmuls).
This measures one full training step (forward + backward + AdamW step, cross entropy) on
random inputs -- throughput does not depend on the values -- and prints samples/s and the
projected wall time of a teacher training run (``--jets`` x ``--epochs``, validation excluded).

    .venv/bin/python benchmarks/bench_models.py                      # scan, 1 and 2 threads
    .venv/bin/python benchmarks/bench_models.py --quick              # a smaller scan
    .venv/bin/python benchmarks/bench_models.py --config config/paper.yaml --models jedinet deepsets150
    .venv/bin/python benchmarks/bench_models.py --device cuda --threads 1

Results go to stdout (a table) and, with ``--json``, to a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from jetdistill.learn.models import build_model, count_params

ROOT = Path(__file__).resolve().parents[1]

#: Default-config teacher (config/config.yaml ``models.jedinet``) used for the scan.
DEFAULT_IN = {
    "type": "interaction_network", "fr_hidden": [32, 16], "fr_out": 8,
    "fo_hidden": [32, 16], "fo_out": 16, "phi_hidden": [32, 16],
}  # fmt: skip
SMALL_IN = {
    "type": "interaction_network", "fr_hidden": [16], "fr_out": 8,
    "fo_hidden": [16], "fo_out": 16, "phi_hidden": [16],
}  # fmt: skip
STUDENTS = {
    "mlp16": ({"type": "mlp", "hidden": [128, 64, 32]}, (16, 3)),
    "deepsets16": (
        {"type": "deepsets", "phi_hidden": [32, 32], "rho_hidden": [32], "pooling": "mean"},
        (16, 3),
    ),
}

#: Cap on batch x edges so the largest graphs fit in memory (the batch is shrunk, not the model).
MAX_EDGE_ROWS = 1_500_000


@dataclass
class Row:
    model: str
    impl: str
    constituents: int
    features: int
    threads: int
    batch: int
    params: int
    samples_per_s: float
    minutes_for_run: float


def measure(spec: dict, shape: tuple[int, int], batch: int, threads: int, device: torch.device,
            min_time: float) -> tuple[float, int]:  # fmt: skip
    """Samples/s of train steps on ``batch`` random jets (median of >= 3 steps, >= ``min_time`` s)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(spec, shape, 5).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, 5, (batch,), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, kernel selection)
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - t_start < min_time:
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    # median step time: robust to other jobs stealing the (shared) cores for a while
    times.sort()
    return batch / times[len(times) // 2], count_params(model)


def batch_for(spec: dict, shape: tuple[int, ...], batch: int) -> int:
    if spec["type"] != "interaction_network":
        return batch
    edges = shape[0] * (shape[0] - 1)
    return max(8, min(batch, MAX_EDGE_ROWS // edges))


def run(cases: list[tuple[str, dict, tuple[int, int]]], args: argparse.Namespace) -> list[Row]:
    device = torch.device(args.device)
    rows: list[Row] = []
    for name, spec, shape in cases:
        impls = args.impls if spec["type"] == "interaction_network" else ["-"]
        for impl in impls:
            s = dict(spec) | ({"edge_impl": impl} if impl != "-" else {})
            b = batch_for(s, shape, args.batch_size)
            for threads in args.threads:
                sps, params = measure(s, shape, b, threads, device, args.min_time)
                minutes = args.jets * args.epochs / sps / 60
                row = Row(name, impl, shape[0], shape[1], threads, b, params, sps, minutes)
                rows.append(row)
                print(
                    f"{name:<14} {impl:<10} C={shape[0]:<4} F={shape[1]:<3} thr={threads} batch={b:<4} "
                    f"params={params:<7} {sps:10.1f} samples/s  {minutes:8.2f} min/run",
                    flush=True,
                )
    return rows


def config_cases(path: Path, names: list[str]) -> list[tuple[str, dict, tuple[int, int]]]:
    cfg = yaml.safe_load(path.read_text())
    out = []
    for name in names or list(cfg["models"]):
        spec = dict(cfg["models"][name])
        view = cfg["views"][spec.pop("view")]
        out.append((name, spec, (int(view.get("n_constituents", 16)), len(view["features"]))))
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--constituents", type=int, nargs="+", default=[16, 30, 50, 100, 150])
    p.add_argument("--features", type=int, nargs="+", default=[3, 16])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--impls", nargs="+", default=["factorized", "gather", "matmul"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--min-time", type=float, default=1.5, help="seconds per measurement")
    p.add_argument(
        "--jets", type=int, default=8000, help="training jets for the projected run time"
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--config", type=Path, help="benchmark the models of this config instead of the scan"
    )
    p.add_argument("--models", nargs="*", default=[], help="model names in --config (default: all)")
    p.add_argument("--small", action="store_true", help="also scan a smaller teacher (hidden 16)")
    p.add_argument(
        "--quick", action="store_true", help="C in 16 30 50 100, F=16, factorized+matmul"
    )
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.quick:
        args.constituents, args.features, args.impls = (
            [16, 30, 50, 100],
            [16],
            ["factorized", "matmul"],
        )

    if args.config:
        cases = config_cases(args.config, args.models)
    else:
        cases = [
            ("in_default", DEFAULT_IN, (c, f)) for f in args.features for c in args.constituents
        ]
        if args.small:
            cases += [("in_small", SMALL_IN, (c, 16)) for c in args.constituents]
        cases += [(n, s, shape) for n, (s, shape) in STUDENTS.items()]
    print(
        f"torch {torch.__version__}, device {args.device}, projected run = {args.jets} jets x {args.epochs} epochs"
    )
    rows = run(cases, args)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
