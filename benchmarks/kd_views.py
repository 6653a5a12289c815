"""Consistent augmented views ("function matching", Beyer et al. 2022) vs plain KD, paired by seed.

Reads a finished run (splits, prepared views, the trained teacher), builds K augmented views
of the transfer jets for the teacher's view and the student's view with the same hashed
transforms (:mod:`jetdistill.data.augment`), caches the teacher's logits of every view in a
soft-target file of the workflow's layout (``/transfer/view_logits``, in a temporary
directory, never in the run), and trains the student four ways with the workflow's loop and
settings (``training.student`` / ``training.distill`` of the config):

- ``solo``: labels, original jets;  ``solo+views``: labels, a drawn view per jet per epoch;
- ``kd``: Hinton KD on the cached logits;  ``kd+views``: a drawn view per jet per epoch with
  the teacher's logits OF THAT VIEW.

Prints accuracy (mean ± std over seeds), the paired difference to ``solo`` and to ``kd``
(± standard error), agreement and KL with the teacher on the test jets, and agreement on the
(original) transfer jets. Nothing is logged to MLflow.

    cd /work/run && PYTHONPATH=/path/to/src nice -n 15 python /path/to/benchmarks/kd_views.py \\
        --results results --config config/config.yaml --k 8 --transforms eta_flip phi_flip --seeds 0
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
from kd_sweep import student_setup  # benchmarks/ is on sys.path when run as a script

from jetdistill import paths
from jetdistill.data.augment import ViewReader, ViewsConfig, draw_transforms
from jetdistill.data.prepare import load_split
from jetdistill.learn.metrics import fidelity_metrics
from jetdistill.learn.models import load_model
from jetdistill.learn.softtargets import compute_soft_targets, load_soft_targets, load_view_logits
from jetdistill.learn.training import Batches, TrainConfig, ViewBatches, fit, predict_logits


def augmented(res: Path, view: str, split: str, cfg: ViewsConfig) -> np.ndarray:
    vdir = res / "data" / "views" / view
    norm = json.loads((vdir / "norm.json").read_text())
    reader = ViewReader.open(res / "data" / "splits.h5", norm["view"], vdir / "norm.json",
                             view_name=view)  # fmt: skip
    x, _ = reader.views(split, lambda g, v, n: draw_transforms(cfg, g, v, n), cfg.k)
    return x


def train_one(spec: dict, data: dict, teacher: dict, train_cfg: dict, seed: int, kd: tuple | None,
              views: tuple | None) -> dict[str, float]:  # fmt: skip
    (xtr, ytr), (xva, yva), (xte, yte) = (data[s] for s in ("transfer", "val", "test"))
    model, loss, t_tr, t_va = student_setup(spec, data, teacher, seed, kd)
    train = Batches.from_numpy(xtr, ytr, t_tr)
    if views is not None:
        xv, tv = views
        train = ViewBatches.from_views(train, xv, tv if kd is not None else None)
    cfg = TrainConfig.from_dict(train_cfg)
    t0 = time.perf_counter()
    res = fit(model, train, Batches.from_numpy(xva, yva, t_va), cfg, loss, seed=seed)
    logits = predict_logits(model, xte)
    out = {"accuracy": float((logits.argmax(1) == yte).mean()), "seconds": time.perf_counter() - t0,
           "best_epoch": res.best_epoch}  # fmt: skip
    out["train_agreement"] = float(
        (predict_logits(model, xtr).argmax(1) == teacher["transfer"].argmax(1)).mean()
    )
    out.update(
        {k.removeprefix("test_"): v for k, v in fidelity_metrics(logits, teacher["test"]).items()}
    )
    return out


def print_row(mode: str, runs: dict[str, dict[int, dict]], seeds: list[int]) -> None:
    """One table row: accuracy, paired differences to solo and kd, fidelity, budget."""
    r = runs[mode]
    acc = np.array([r[s]["accuracy"] for s in seeds])

    def paired(ref: str) -> str:
        if ref not in runs or ref == mode:
            return "–"
        diff = 100 * (acc - np.array([runs[ref][s]["accuracy"] for s in seeds]))
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        return f"{diff.mean():+.2f} ± {se:.2f}"

    def mean(key: str) -> float:
        return float(np.mean([r[s][key] for s in seeds]))

    std = acc.std(ddof=1) if len(acc) > 1 else float("nan")
    print(f"| {mode} | {acc.mean():.4f} ± {std:.4f} | {paired('solo')} | {paired('kd')} | "
          f"{mean('agreement'):.3f} | {mean('kl_teacher'):.3f} | {mean('train_agreement'):.3f} | "
          f"{mean('best_epoch'):.0f} | {mean('seconds'):.0f} |", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--student", default="mlp16")
    ap.add_argument("--teacher", default="jedi")
    ap.add_argument("--member", default="member0")
    ap.add_argument("--teacher-view", default=None, help="default: the config's teacher's view")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--transforms", nargs="*", default=["eta_flip", "phi_flip"])
    ap.add_argument("--pt-smear", type=float, default=0.0)
    ap.add_argument("--views-seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--modes", nargs="+", default=["solo", "solo+views", "kd", "kd+views"])
    ap.add_argument("--epochs", type=int, default=None, help="override the epochs of both budgets")
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    spec = dict(cfg["models"][args.student])
    view = spec.pop("view")
    tview = (
        args.teacher_view
        or cfg["models"][cfg["teachers"][args.teacher]["members"][0]["model"]]["view"]
    )
    res = Path(args.results)
    vcfg = ViewsConfig.from_dict({"k": args.k, "transforms": args.transforms,
                                  "pt_smear": args.pt_smear, "seed": args.views_seed})  # fmt: skip
    t0 = time.perf_counter()
    data, tsplits, index = {}, {}, {}
    for s in ("transfer", "val", "test"):
        x, y, idx, _ = load_split(paths.fill(res, paths.VIEW_SPLIT, view=view, split=s))
        data[s], index[s] = (x, y), idx
        tx, ty, tidx, _ = load_split(paths.fill(res, paths.VIEW_SPLIT, view=tview, split=s))
        tsplits[s] = (tx, ty, tidx)
    xv_student = augmented(res, view, "transfer", vcfg)
    xv_teacher = augmented(res, tview, "transfer", vcfg)
    t_aug = time.perf_counter() - t0
    model, _ = load_model(res / "teachers" / args.teacher / args.member / "model.pt")
    with tempfile.TemporaryDirectory() as d:
        st = Path(d) / "st.h5"
        t1 = time.perf_counter()
        summary = compute_soft_targets([model], tsplits, st, views={"transfer": xv_teacher},
                                       views_attrs=vcfg.__dict__)  # fmt: skip
        t_teacher = time.perf_counter() - t1
        teacher = {s: load_soft_targets(st, s, index[s]) for s in ("transfer", "val", "test")}
        tv = load_view_logits(st, "transfer", index["transfer"], vcfg.__dict__)
    del xv_teacher
    tr = summary["splits"]["transfer"]
    print(f"{args.student} (view {view}) from {args.teacher} (view {tview}); views {vcfg}; "
          f"augmenting {t_aug:.0f} s, teacher on {1 + args.k} x {len(index['transfer'])} jets "
          f"{t_teacher:.0f} s")  # fmt: skip
    print(f"teacher accuracy on transfer: original {tr['accuracy']:.4f}, views "
          f"{np.round(tr['view_accuracy'], 4).tolist()}; test {summary['splits']['test']['accuracy']:.4f}")  # fmt: skip
    print(f"train/distill budget: {cfg['training']['student']} / {cfg['training']['distill']}")
    runs: dict[str, dict[int, dict]] = {}
    kd = (args.temperature, args.alpha)
    for mode in args.modes:
        use_kd, use_views = mode.startswith("kd"), mode.endswith("+views")
        tcfg = dict(cfg["training"]["distill" if use_kd else "student"])
        if args.epochs:
            tcfg["epochs"] = args.epochs
        views = (xv_student, tv) if use_views else None
        runs[mode] = {
            s: train_one(spec, data, teacher, tcfg, s, kd if use_kd else None, views)
            for s in args.seeds
        }
        print_row(mode, runs, args.seeds)
    print(
        "columns: mode | accuracy | vs solo (pts ± SE) | vs kd | test agreement | KL(t||s) | "
        "transfer agreement | best epoch | train s"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({m: {str(s): v for s, v in r.items()} for m, r in runs.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
