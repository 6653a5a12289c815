"""Why does (or doesn't) a student gain from distillation? Accuracy, agreement and KL to the
teacher against temperature and alpha, paired with the solo student seed by seed.

Reads a finished run (the prepared views and the teacher's cached soft targets) and trains
one student solo and with Hinton KD at every (T, alpha) of the grid, with the workflow's own
training loop, loss and settings (``training.student`` / ``training.distill`` of the config).
Nothing is logged to MLflow; this is a measurement, not part of the DAG.

    .venv/bin/python benchmarks/kd_sweep.py --student deepsets16 \
        --temperatures 1 2 4 8 --alphas 0.1 0.5 --seeds 0 1 2 [--results results]

Prints one row per (T, alpha): KD accuracy (mean ± std over seeds), the paired difference
KD - solo (± standard error), agreement with the teacher (top-1) and mean KL(teacher||student)
at T=1 on the test set, and the agreement on the transfer jets the student was trained on
(Stanton et al. 2021: if that is high and the test agreement low, more transfer jets would
help; if both are low, the student cannot represent the teacher). First row: the solo student.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from jetdistill import paths
from jetdistill.data.prepare import load_split
from jetdistill.learn.losses import build_loss
from jetdistill.learn.metrics import fidelity_metrics
from jetdistill.learn.models import build_model, count_params
from jetdistill.learn.softtargets import load_soft_targets
from jetdistill.learn.training import Batches, TrainConfig, fit, predict_logits
from jetdistill.seeding import seed_everything

ROOT = Path(__file__).resolve().parents[1]


def student_setup(spec: dict, splits: dict, teacher: dict, seed: int, kd: tuple | None):
    """A seeded student, its loss (CE, or Hinton at (T, alpha)) and the teacher's transfer and
    val logits it trains against (None for solo); shared with kd_views.py."""
    xtr, ytr = splits["transfer"]
    seed_everything(seed)
    model = build_model(spec, xtr.shape[1:], int(ytr.max()) + 1)
    if kd is None:
        return model, build_loss("ce"), None, None
    loss = build_loss("hinton", temperature=kd[0], alpha=kd[1])
    return model, loss, teacher["transfer"], teacher["val"]


def train_one(
    spec: dict, splits: dict, teacher: dict, train_cfg: dict, seed: int, kd: tuple | None
) -> dict[str, float]:
    """Train one student (solo if ``kd`` is None, else Hinton at (T, alpha)); test metrics."""
    (xtr, ytr), (xva, yva), (xte, yte) = (splits[s] for s in ("transfer", "val", "test"))
    model, loss, t_tr, t_va = student_setup(spec, splits, teacher, seed, kd)
    cfg = TrainConfig.from_dict(train_cfg)
    fit(model, Batches.from_numpy(xtr, ytr, t_tr), Batches.from_numpy(xva, yva, t_va), cfg, loss,
        seed=seed)  # fmt: skip
    logits = predict_logits(model, xte)
    out = {"accuracy": float((logits.argmax(1) == yte).mean())}
    # fidelity on the jets the student was trained on: low -> the student cannot represent the
    # teacher (capacity / input); high on transfer but low on test -> too few transfer jets
    out["train_agreement"] = float(
        (predict_logits(model, xtr).argmax(1) == teacher["transfer"].argmax(1)).mean()
    )
    out.update(
        {k.removeprefix("test_"): v for k, v in fidelity_metrics(logits, teacher["test"]).items()}
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--student", default="deepsets16")
    ap.add_argument("--teacher", default="jedi")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--spec",
        default="{}",
        help="JSON merged into the student's model block, e.g. '{\"phi_hidden\": [64, 64]}'",
    )
    ap.add_argument(
        "--distill-epochs", type=int, default=None, help="override training.distill.epochs"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    if args.distill_epochs:
        cfg["training"]["distill"]["epochs"] = args.distill_epochs
    spec = dict(cfg["models"][args.student])
    view = spec.pop("view")
    spec.update(json.loads(args.spec))
    res = Path(args.results)
    splits, teacher = {}, {}
    for s in ("transfer", "val", "test"):
        x, y, index, _ = load_split(paths.fill(res, paths.VIEW_SPLIT, view=view, split=s))
        splits[s] = (x, y)
        teacher[s] = load_soft_targets(
            paths.fill(res, paths.SOFT_TARGETS, teacher=args.teacher), s, index
        )
    t_acc = float((teacher["test"].argmax(1) == splits["test"][1]).mean())
    n_params = count_params(build_model(spec, splits["transfer"][0].shape[1:], 5))
    print(f"{args.student} ({n_params} parameters, view {view}), teacher {args.teacher} "
          f"(test accuracy {t_acc:.4f}), seeds {args.seeds}, {len(splits['transfer'][1])} transfer jets")  # fmt: skip
    t0 = time.perf_counter()
    solo = {
        s: train_one(spec, splits, teacher, cfg["training"]["student"], s, None) for s in args.seeds
    }
    header = (
        "| T | alpha | accuracy | Δ vs solo (±SE, pts) | agreement | KL(t‖s) | transfer agreement |"
    )
    print(header + "\n|---|---|---|---|---|---|---|")

    def row(name_t: str, name_a: str, runs: dict[int, dict]) -> None:
        acc = np.array([runs[s]["accuracy"] for s in args.seeds])
        diff = 100 * (acc - np.array([solo[s]["accuracy"] for s in args.seeds]))
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        agree = np.mean([runs[s]["agreement"] for s in args.seeds])
        kl = np.mean([runs[s]["kl_teacher"] for s in args.seeds])
        train_agree = np.mean([runs[s]["train_agreement"] for s in args.seeds])
        print(f"| {name_t} | {name_a} | {acc.mean():.4f} ± {acc.std(ddof=1):.4f} | "
              f"{diff.mean():+.2f} ± {se:.2f} | {agree:.3f} | {kl:.3f} | {train_agree:.3f} |", flush=True)  # fmt: skip

    row("solo", "–", solo)
    for temp in args.temperatures:
        for alpha in args.alphas:
            runs = {s: train_one(spec, splits, teacher, cfg["training"]["distill"], s, (temp, alpha))
                    for s in args.seeds}  # fmt: skip
            row(f"{temp:g}", f"{alpha:g}", runs)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
