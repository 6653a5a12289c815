"""Per-weight precision benchmark: QAT of mlp16 at several hardware-cost penalties.

For each penalty strength (``jetdistill.compress.precision.CostPenalty``; 0 = plain QAT) and
seed: the 5-bit Brevitas twin of mlp16 (48-128-64-32-5, 8-bit input) is fine-tuned from a
float checkpoint (if given) with the KD loss (Hinton, T=4, alpha=0.1) plus the penalty,
optionally pruned first (``--sparsity``, the workflow's iterative schedule), then measured:
test accuracy, exact CSD digit counts, da4ml's LUT estimate and latency, da4ml's integer
emulation bit-exact against Brevitas on ``--samples`` test jets, and optionally hls4ml
C simulation (``--hls``) and Yosys LUT/FF counts (``--yosys``).

Data: the default run's 16x3 views and soft targets::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_precision.py \\
        --views /work/run/results/data/views/c16 --soft-targets /work/run/results/soft_targets/jedi.h5 \\
        --float-model '/work/run/results/students/kd/mlp16/jedi/hinton/T4_a0.1/seed{seed}/model.pt' \\
        --penalties 0 0.003 0.01 0.03 --epochs 12

or ``--synthetic`` (a random linear teacher on Gaussian inputs) to try it without a run.
Prints a table and writes ``results.json`` into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from jetdistill.compress.precision import CostPenalty, precision_metrics
from jetdistill.compress.quant import build_quant_model, calibrate, load_float_weights
from jetdistill.seeding import seed_everything

SPEC = {"type": "mlp", "hidden": [128, 64, 32]}
INPUT_SHAPE = (16, 3)


def load_data(
    args: argparse.Namespace,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """split -> (X, y, teacher logits) for transfer (training), val and test."""
    if args.synthetic:
        rng = np.random.default_rng(123)
        w = rng.normal(size=(48, 5))
        out = {}
        for split, n in (("transfer", 6000), ("val", 2000), ("test", 3000)):
            x = rng.normal(size=(n, *INPUT_SHAPE)).astype(np.float32)
            t = (x.reshape(n, -1) @ w + rng.normal(scale=2.0, size=(n, 5))).astype(np.float32)
            out[split] = (x, t.argmax(1), t)
        return out
    from jetdistill.data.prepare import load_split
    from jetdistill.learn.softtargets import load_soft_targets

    out = {}
    for split in ("transfer", "val", "test"):
        x, y, index, _ = load_split(os.path.join(args.views, f"{split}.h5"))
        t = load_soft_targets(args.soft_targets, split, index) if args.mode == "kd" else None
        out[split] = (x, y, t)
    return out


def train_point(
    penalty: float, seed: int, data: dict, args: argparse.Namespace
) -> tuple[torch.nn.Module, dict]:
    from jetdistill.compress.prune import prune_and_retrain
    from jetdistill.learn.losses import build_loss
    from jetdistill.learn.models import load_model
    from jetdistill.learn.training import Batches, TrainConfig, fit, predict_logits

    seed_everything(seed)
    (x_tr, y_tr, t_tr), (x_va, y_va, t_va), (x_te, y_te, _) = (
        data[s] for s in ("transfer", "val", "test")
    )
    model = build_quant_model(SPEC, INPUT_SHAPE, 5, args.bits, args.input_bits)
    calib = torch.as_tensor(x_tr[:2048])
    if args.float_model:
        fmodel, _ = load_model(args.float_model.format(seed=seed))
        load_float_weights(model, fmodel, calib_x=calib)
    else:
        calibrate(model, calib)
    if args.mode == "kd":
        task = build_loss("hinton", temperature=4.0, alpha=0.1, params={})
    else:
        task = build_loss("ce")
    loss = CostPenalty(model, INPUT_SHAPE, penalty, surrogate=args.surrogate).wrap(task)
    train, val = Batches.from_numpy(x_tr, y_tr, t_tr), Batches.from_numpy(x_va, y_va, t_va)
    cfg = {"lr": 0.001, "epochs": args.epochs, "patience": 0, "batch_size": 256, "device": "cpu"}
    t0 = time.perf_counter()
    hook = None
    if args.sparsity > 0:
        pruner, _ = prune_and_retrain(
            model, train, val, sparsity=args.sparsity, steps=args.prune_steps, epochs_per_step=2,
            scope=args.scope, criterion="magnitude", train_cfg=cfg, loss_fn=loss, seed=seed,
        )  # fmt: skip
        hook = pruner.apply
    fit(model, train, val, TrainConfig.from_dict(cfg), loss, seed=seed, step_hook=hook)
    train_s = time.perf_counter() - t0
    logits = predict_logits(model, x_te)
    row = {"penalty": penalty, "seed": seed, "test_accuracy": float((logits.argmax(1) == y_te).mean()),
           "train_s": round(train_s, 1), **precision_metrics(model, INPUT_SHAPE)}  # fmt: skip
    return model.eval(), row


def hardware(
    model: torch.nn.Module, row: dict, x_test: np.ndarray, args: argparse.Namespace
) -> dict:
    from jetdistill.fpga import rtl

    out = Path(args.out_dir) / f"p{row['penalty']:g}_s{row['seed']}"
    x = x_test[: args.samples]
    t0 = time.perf_counter()
    m = rtl.estimate_rtl(model, INPUT_SHAPE, x, out / "rtl", yosys=args.yosys, verilator=False)
    res = {
        "da4ml_luts": m["da4ml_cost_luts"],
        "latency_cycles": m["latency_cycles"],
        "rtl_emulation_exact": m["rtl_emulation_exact_fraction"],
        "rtl_s": round(time.perf_counter() - t0, 1),
    }
    if args.yosys:
        res.update(yosys_luts=m["luts"], yosys_ffs=m["ffs"])
    if args.hls:
        from jetdistill.fpga import hls

        h = hls.convert_quantized(model, INPUT_SHAPE, x, out / "hls")
        res["hls_exact"] = h["hls_exact_fraction"]
    return res


def print_table(rows: list[dict]) -> None:
    cols = ["penalty", "seed", "test_accuracy", "csd_digits", "csd_digit_bits", "zero_weight_fraction",
            "da4ml_luts", "yosys_luts", "yosys_ffs", "latency_cycles", "rtl_emulation_exact", "hls_exact",
            "train_s"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "-")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", default="/work/run/results/data/views/c16")
    p.add_argument("--soft-targets", default="/work/run/results/soft_targets/jedi.h5")
    p.add_argument("--float-model", default="", help="checkpoint path, '{seed}' filled in")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--mode", choices=["kd", "solo"], default="kd")
    p.add_argument("--penalties", type=float, nargs="+", default=[0.0, 0.003, 0.01, 0.03])
    p.add_argument("--surrogate", choices=["csd", "log"], default="csd")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--sparsity", type=float, default=0.0)
    p.add_argument("--prune-steps", type=int, default=3)
    p.add_argument("--scope", choices=["global", "layer"], default="global", help="pruning scope")
    p.add_argument("--bits", type=int, default=5)
    p.add_argument("--input-bits", type=int, default=8)
    p.add_argument("--samples", type=int, default=2000, help="emulation / C-sim test jets")
    p.add_argument("--yosys", action="store_true")
    p.add_argument("--hls", action="store_true")
    p.add_argument("--out-dir", default="/tmp/bench_precision")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    data = load_data(args)
    rows = []
    for seed in args.seeds:
        for penalty in args.penalties:
            model, row = train_point(penalty, seed, data, args)
            ckpt = Path(args.out_dir) / f"p{penalty:g}_s{seed}" / "model_state.pt"
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), ckpt)
            row.update(hardware(model, row, data["test"][0], args))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print_table(rows)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.out_dir) / "results.json").write_text(
        json.dumps({"args": vars(args), "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
