"""Distillation throughput: cached soft targets vs running the teacher every batch.

Four ways to do the same student training step (Hinton KD, T=4, alpha=0.1, AdamW, student
MLP on 16x3 inputs, teacher an interaction network on 30x16 inputs, batch 256):

1. ``fit + cache``   : ``jetdistill.learn.training.fit`` with teacher logits read from the cache
                       (what the workflow does).
2. ``bare + cache``  : a minimal PyTorch loop over contiguous slices, same model, data, loss,
                       optimizer, clipping; shows the framework's overhead (shuffled fancy
                       indexing, running metrics, validation is excluded from both).
3. ``bare + online`` : the same bare loop but running the teacher forward (no grad) on every
                       batch, i.e. what distillation would cost without the cache.
4. ``teacher pass``  : one-off cost of producing the cache (``compute_soft_targets``).

Synthetic random inputs: throughput does not depend on the values.

    .venv/bin/python benchmarks/bench_distill.py --jets 20000 --epochs 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from jetdistill.learn.losses import build_loss
from jetdistill.learn.models import build_model, count_params
from jetdistill.learn.softtargets import compute_soft_targets, load_soft_targets
from jetdistill.learn.training import Batches, TrainConfig, fit
from jetdistill.seeding import seed_everything

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_TEACHER = {
    "type": "interaction_network", "fr_hidden": [32, 16], "fr_out": 8,
    "fo_hidden": [32, 16], "fo_out": 16, "phi_hidden": [32, 16],
}  # fmt: skip
FALLBACK_STUDENT = {"type": "mlp", "hidden": [128, 64, 32]}


def model_specs(config: Path) -> tuple[dict, dict]:
    """Teacher ``jedinet`` and student ``mlp16`` specs from the default config (if present)."""
    try:
        models = yaml.safe_load(config.read_text())["models"]
        strip = lambda d: {k: v for k, v in d.items() if k != "view"}
        return strip(models["jedinet"]), strip(models["mlp16"])
    except (OSError, KeyError, TypeError):
        return FALLBACK_TEACHER, FALLBACK_STUDENT


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(
    student: nn.Module,
    xs: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    loss_fn,
    *,
    t: torch.Tensor | None = None,
    teacher: nn.Module | None = None,
    xt: torch.Tensor | None = None,
) -> float:
    """Minimal KD loop over slices; returns samples/s. Teacher logits from ``t`` or online."""
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    student.train()
    if teacher is not None:
        teacher.eval()
    n, bs = xs.shape[0], cfg.batch_size
    sync(xs.device)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        for i in range(0, n, bs):
            if teacher is not None:
                with torch.no_grad():
                    tb = teacher(xt[i : i + bs])
            else:
                tb = t[i : i + bs]
            loss = loss_fn(student(xs[i : i + bs]), y[i : i + bs], tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
            opt.step()
    sync(xs.device)
    return n * cfg.epochs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument(
        "--teacher-batch", type=int, default=256, help="batch of the one-off teacher pass"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = seed_everything(0)
    n = args.jets
    xt_np = rng.normal(size=(n, 30, 16)).astype(np.float32)
    xs_np = rng.normal(size=(n, 16, 3)).astype(np.float32)
    y_np = rng.integers(0, 5, n)
    index = np.arange(n)
    t_spec, s_spec = model_specs(args.config)
    teacher = build_model(t_spec, (30, 16), 5).to(device)
    make_student = lambda: build_model(s_spec, (16, 3), 5).to(device)
    cfg = TrainConfig(
        epochs=args.epochs,
        patience=0,
        batch_size=args.batch_size,
        device=args.device,
        schedule="none",
    )
    loss_fn = build_loss("hinton", temperature=4.0, alpha=0.1)
    print(
        f"jets {n}, epochs {args.epochs}, batch {args.batch_size}, threads {args.threads}, device {device}; "
        f"teacher IN {count_params(teacher)} params, student MLP {count_params(make_student())} params"
    )

    # 4. one-off teacher pass producing the cache (transfer split only)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "teacher.h5"
        with torch.no_grad():
            teacher.eval()(torch.as_tensor(xt_np[: args.teacher_batch], device=device))  # warm-up
        t0 = time.perf_counter()
        compute_soft_targets(
            [teacher], {"transfer": (xt_np, y_np, index)}, path, batch_size=args.teacher_batch
        )
        teacher_pass = n / (time.perf_counter() - t0)
        t_np = load_soft_targets(path, "transfer", index)

    xs, y, t = (torch.as_tensor(a, device=device) for a in (xs_np, y_np, t_np))
    xt = torch.as_tensor(xt_np, device=device)
    val = Batches.from_numpy(xs_np[:256], y_np[:256], t_np[:256])
    warm = cfg.replace(epochs=1)

    # warm-up every path once (allocator, kernels), then time
    bare_loop(make_student(), xs[:2048], y[:2048], warm, loss_fn, t=t[:2048])
    bare_loop(make_student(), xs[:2048], y[:2048], warm, loss_fn, teacher=teacher, xt=xt[:2048])

    seed_everything(1)
    result = fit(make_student(), Batches.from_numpy(xs_np, y_np, t_np), val, cfg, loss_fn, seed=1)
    fit_cache = result.samples_per_s
    seed_everything(1)
    bare_cache = bare_loop(make_student(), xs, y, cfg, loss_fn, t=t)
    seed_everything(1)
    bare_online = bare_loop(make_student(), xs, y, cfg, loss_fn, teacher=teacher, xt=xt)

    figures = {
        "fit_cache_samples_per_s": fit_cache,
        "bare_cache_samples_per_s": bare_cache,
        "bare_online_teacher_samples_per_s": bare_online,
        "teacher_pass_samples_per_s": teacher_pass,
        "cache_speedup_vs_online": bare_cache / bare_online,
        "fit_cache_speedup_vs_online": fit_cache / bare_online,
        "fit_overhead_vs_bare": bare_cache / fit_cache,
    }
    print(f"{'mode':<34}{'samples/s':>12}")
    print(f"{'fit + cached soft targets':<34}{fit_cache:>12.0f}")
    print(f"{'bare loop + cached soft targets':<34}{bare_cache:>12.0f}")
    print(f"{'bare loop + teacher every batch':<34}{bare_online:>12.0f}")
    print(f"{'teacher pass (build cache, once)':<34}{teacher_pass:>12.0f}")
    print(
        f"cache speed-up vs online teacher: {bare_cache / bare_online:.1f}x (bare), {fit_cache / bare_online:.1f}x (fit)"
    )
    print(f"fit overhead vs bare loop: bare/fit = {bare_cache / fit_cache:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
