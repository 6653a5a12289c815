"""Patient distillation and the students' transfer set, measured (issue 21 items 1-2).

Reads a finished run (the prepared views, the teacher's checkpoint and its cached soft
targets) and trains one student solo and with KD under each training schedule (epoch cap,
early-stopping patience: the same for both, as the workflow now requires) on the transfer
jets alone or on transfer + teacher_train, with the workflow's own loop and loss. Every
epoch records the validation loss (the KD loss with the cached val soft targets for KD, the
one early stopping watches) and the test accuracy, so the curves show what a longer budget
buys. Nothing is logged to MLflow; this is a measurement, not part of the DAG.

    python benchmarks/kd_patience.py --results /tmp/me/results --student mlp16 \
        --schedules 40:6 150:20 --splits transfer transfer+teacher_train --seeds 0 1 2 \
        --out /tmp/me/patience.jsonl

Soft targets on ``teacher_train`` are taken from the cache when it has them (the workflow
caches them from this change on), else computed here from the teacher checkpoint (member 0).
Prints one row per (schedule, transfer set): solo and KD accuracy, the paired difference,
agreement and KL with the teacher on the training jets and on the test jets, epochs run
and the CPU seconds of one job (process time, 1 thread).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import yaml

from jetdistill import paths
from jetdistill.data.prepare import load_split
from jetdistill.learn.losses import build_loss
from jetdistill.learn.metrics import fidelity_metrics
from jetdistill.learn.models import build_model, load_model
from jetdistill.learn.softtargets import load_soft_targets
from jetdistill.learn.training import Batches, TrainConfig, fit, predict_logits
from jetdistill.seeding import seed_everything

ROOT = Path(__file__).resolve().parents[1]


def teacher_logits(res: Path, teacher: str, split: str, index: np.ndarray) -> np.ndarray:
    """Cached soft targets of ``split``; computed from member 0's checkpoint if not cached."""
    st = paths.fill(res, paths.SOFT_TARGETS, teacher=teacher)
    with h5py.File(st, "r") as f:
        cached = split in f
    if cached:
        return load_soft_targets(st, split, index)
    model, meta = load_model(
        paths.fill(res, paths.TEACHER_DIR, paths.MODEL, teacher=teacher, member=0)
    )
    x, _, t_index, _ = load_split(paths.fill(res, paths.VIEW_SPLIT, view=meta["view"], split=split))
    if not np.array_equal(t_index, index):
        raise SystemExit(f"teacher and student views of {split} do not align")
    return predict_logits(model, x, batch_size=256)


def train_one(spec: dict, data: dict, cfg: TrainConfig, seed: int, kd: tuple | None) -> dict:
    """One student; its per-epoch val loss / test accuracy and final metrics."""
    (xtr, ytr, ttr), (xva, yva, tva), (xte, yte, tte) = (data[s] for s in ("train", "val", "test"))
    seed_everything(seed)
    model = build_model(spec, xtr.shape[1:], int(ytr.max()) + 1)
    loss = build_loss("ce") if kd is None else build_loss("hinton", temperature=kd[0], alpha=kd[1])
    curve: list[dict] = []
    xte_t = torch.as_tensor(xte)

    def on_epoch(epoch: int, rec: dict) -> None:
        with torch.no_grad():
            model.eval()
            acc = float((model(xte_t).argmax(1).numpy() == yte).mean())
            model.train()
        curve.append({"epoch": epoch, "val_loss": rec["val_loss"], "test_accuracy": acc})

    c0 = time.process_time()
    res = fit(model, Batches.from_numpy(xtr, ytr, None if kd is None else ttr),
              Batches.from_numpy(xva, yva, None if kd is None else tva), cfg, loss, seed=seed,
              epoch_callback=on_epoch)  # fmt: skip
    cpu = time.process_time() - c0
    logits = predict_logits(model, xte)
    out = {"accuracy": float((logits.argmax(1) == yte).mean()), "epochs_run": len(res.history),
           "best_epoch": res.best_epoch, "cpu_s": cpu, "curve": curve}  # fmt: skip
    out.update(fidelity_metrics(logits, tte, prefix="test_"))
    out.update(fidelity_metrics(predict_logits(model, xtr), ttr, prefix="train_"))
    return out


HEADER = (
    "| schedule | train jets | seeds | solo acc | KD acc | Δ KD−solo (pts ±SE) | KD agree train / test | "
    "solo agree train / test | KD KL train / test | epochs solo / KD | CPU s solo / KD |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(sched: str, choice: str, n_train: int, runs: dict[str, dict[int, dict]]) -> str:
    """One table row: seeds paired (those with both a solo and a KD run)."""
    seeds = sorted(set(runs["solo"]) & set(runs["kd"]))

    def m(mode: str, key: str) -> np.ndarray:
        return np.array([runs[mode][s][key] for s in seeds], dtype=float)

    def pm(v: np.ndarray) -> str:
        return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v.mean():.4f}"

    diff = 100 * (m("kd", "accuracy") - m("solo", "accuracy"))
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return (f"| {sched} | {choice} ({n_train}) | {len(seeds)} | {pm(m('solo', 'accuracy'))} | "
            f"{pm(m('kd', 'accuracy'))} | {diff.mean():+.2f} ± {se:.2f} | "
            f"{m('kd', 'train_agreement').mean():.3f} / {m('kd', 'test_agreement').mean():.3f} | "
            f"{m('solo', 'train_agreement').mean():.3f} / {m('solo', 'test_agreement').mean():.3f} | "
            f"{m('kd', 'train_kl_teacher').mean():.3f} / {m('kd', 'test_kl_teacher').mean():.3f} | "
            f"{m('solo', 'epochs_run').mean():.0f} / {m('kd', 'epochs_run').mean():.0f} | "
            f"{m('solo', 'cpu_s').mean():.0f} / {m('kd', 'cpu_s').mean():.0f} |")  # fmt: skip


def summarize(
    files: list[str], at_epochs: tuple[int, ...] = (10, 20, 40, 60, 80, 120, 150)
) -> None:
    """The table and the curves (test accuracy and val loss at given epochs, mean over the
    runs still training then) from ``--out`` files; a repeated (schedule, set, seed, mode)
    counts once (reruns are bit-identical)."""
    recs: dict[tuple, dict] = {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            r = json.loads(line)
            recs.setdefault((r["student"], r["schedule"], r["splits"], r["seed"], r["mode"]), r)
    cells: dict[tuple, dict] = {}
    for (student, sched, choice, seed, mode), r in recs.items():
        cell = cells.setdefault((student, sched, choice), {"n": r["n_train"], "solo": {}, "kd": {}})
        cell[mode][seed] = r
    print(HEADER)
    for (student, sched, choice), cell in sorted(cells.items()):
        if set(cell["solo"]) & set(cell["kd"]):  # a cell still being measured has no pair yet
            print(row(f"{student} {sched}", choice, cell["n"], cell))
    print("\ncurves: test accuracy / val loss at epoch e, mean over runs still training (n)")
    for (student, sched, choice), cell in sorted(cells.items()):
        for mode in ("solo", "kd"):
            parts = []
            for e in at_epochs:
                pts = [c for r in cell[mode].values() for c in r["curve"] if c["epoch"] == e - 1]
                if pts:
                    acc = np.mean([c["test_accuracy"] for c in pts])
                    vl = np.mean([c["val_loss"] for c in pts])
                    parts.append(f"{e}: {acc:.4f}/{vl:.3f} ({len(pts)})")
            print(f"{student} {sched} {choice} {mode}: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--student", default="mlp16")
    ap.add_argument("--spec", default="{}", help="JSON merged into the student's model block")
    ap.add_argument("--teacher", default="jedi")
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--schedules", nargs="+", default=["40:6", "150:20"], help="epochs:patience")
    ap.add_argument("--splits", nargs="+", default=["transfer", "transfer+teacher_train"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--out", default=None, help="append one JSON line per trained student")
    ap.add_argument("--summarize", nargs="+", default=None, help="only tabulate these --out files")
    args = ap.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    cfg = yaml.safe_load(Path(args.config).read_text())
    spec = dict(cfg["models"][args.student])
    view = spec.pop("view")
    spec.update(json.loads(args.spec))
    res = Path(args.results)
    split = {}
    for s in ("transfer", "teacher_train", "val", "test"):
        x, y, index, _ = load_split(paths.fill(res, paths.VIEW_SPLIT, view=view, split=s))
        split[s] = (x, y, teacher_logits(res, args.teacher, s, index))
    print(f"{args.student} on {view}; teacher test accuracy "
          f"{(split['test'][2].argmax(1) == split['test'][1]).mean():.4f}", flush=True)  # fmt: skip
    print(HEADER, flush=True)
    for sched in args.schedules:
        epochs, patience = (int(v) for v in sched.split(":"))
        base = dict(cfg["training"]["student"], epochs=epochs, patience=patience)
        tcfg = TrainConfig.from_dict(base)
        for choice in args.splits:
            parts = choice.split("+")
            data = {"train": tuple(np.concatenate([split[p][i] for p in parts]) for i in range(3)),
                    "val": split["val"], "test": split["test"]}  # fmt: skip
            runs: dict[str, dict[int, dict]] = {"solo": {}, "kd": {}}
            for seed in args.seeds:
                for mode in ("solo", "kd"):
                    kd = None if mode == "solo" else (args.temperature, args.alpha)
                    r = train_one(spec, data, tcfg, seed, kd)
                    runs[mode][seed] = r
                    if args.out:
                        with open(args.out, "a") as fh:
                            fh.write(json.dumps({"student": args.student, "spec": spec, "schedule": sched,
                                                 "splits": choice, "seed": seed, "mode": mode,
                                                 "n_train": len(data["train"][1]), **r}) + "\n")  # fmt: skip

            print(row(sched, choice, len(data["train"][1]), runs), flush=True)


if __name__ == "__main__":
    main()
