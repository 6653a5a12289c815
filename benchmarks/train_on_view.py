"""Train one model of the config on another prepared view of a finished run: how much of a
teacher-student gap is the input, and how much the capacity?

Example (the teacher's architecture on the students' 16 x 3 input, trained like the teacher):

    .venv/bin/python benchmarks/train_on_view.py --model jedinet --view c16 [--threads 2]

Reads ``results/data/views/<view>/{teacher_train,val,test}.h5`` (``--split transfer`` trains on
the students' split instead), builds ``models.<model>`` of ``--config`` for that view's input
shape, trains it with ``training.<role>`` (default ``teacher``) and the workflow's own loop and
seed, and prints the parameter count, best epoch and test accuracy. No MLflow logging.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
import yaml

from jetdistill import paths
from jetdistill.data.prepare import load_split
from jetdistill.learn.models import build_model, count_params
from jetdistill.learn.training import Batches, TrainConfig, cross_entropy_loss, fit, predict_logits
from jetdistill.seeding import seed_everything

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="jedinet")
    ap.add_argument("--view", default="c16")
    ap.add_argument("--split", default="teacher_train", choices=["teacher_train", "transfer"])
    ap.add_argument("--role", default="teacher", choices=["teacher", "student"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    spec = {k: v for k, v in cfg["models"][args.model].items() if k != "view"}
    (xtr, ytr, *_), (xva, yva, *_), (xte, yte, *_) = (
        load_split(paths.fill(args.results, paths.VIEW_SPLIT, view=args.view, split=s))
        for s in (args.split, "val", "test")
    )
    seed_everything(args.seed)
    model = build_model(spec, xtr.shape[1:], int(ytr.max()) + 1, name=args.model)
    train_cfg = TrainConfig.from_dict(cfg["training"][args.role])
    t0 = time.perf_counter()
    result = fit(model, Batches.from_numpy(xtr, ytr), Batches.from_numpy(xva, yva), train_cfg,
                 cross_entropy_loss(train_cfg.label_smoothing), seed=args.seed)  # fmt: skip
    acc = float((predict_logits(model, xte).argmax(1) == yte).mean())
    print(f"models.{args.model} on view {args.view} {tuple(xtr.shape[1:])} ({count_params(model):,} "
          f"parameters), {len(ytr):,} {args.split} jets, seed {args.seed}: best epoch "
          f"{result.best_epoch}, test accuracy {acc:.4f} ({time.perf_counter() - t0:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
