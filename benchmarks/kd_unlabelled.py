"""KD's gain against the number of unlabelled transfer jets at a fixed labelled set (issue 21.6).

On a finished default run (its splits, c16 and teacher views, soft targets and teacher), for
each multiple M of the labelled transfer set: the unlabelled jets (generated shards of the
``unlabelled`` seed stream, the run's shard settings), their views with the run's norm.json
(``prepare_unlabelled_view``), the teacher's logits on them, then mlp16 trained

- ``kd``: Hinton KD (T, alpha below) on transfer + M x unlabelled jets (teacher term only),
- ``solo``: alone on the labelled transfer set (M = 0 only: it cannot use the jets),
- ``solo_all``: alone on transfer + M x unlabelled jets *with* their labels (upper reference),

with the workflow's own code (``jobs.context.kd_setup``/``with_unlabelled``, ``learn.training.fit``)
and the run's ``training.distill``/``training.student`` settings, one process per point, 1 thread.
Results: ``WORK/res/{kind}_{M}_s{seed}.json`` and a table on stdout. Generation is resumable
(existing shards are kept); a 3x point needs 5 shards of 3000 jets per class (~10 CPU-min).

    nice -n 15 .venv/bin/python benchmarks/kd_unlabelled.py --run results --work /tmp/kdu \\
        --multiples 0 1 3 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ("data/splits.h5", "data/views/c16/transfer.h5", "data/views/c16/val.h5",
        "data/views/c16/test.h5", "data/views/c16/norm.json", "data/views/teacher/norm.json",
        "soft_targets/jedi.h5", "teachers/jedi/member0/model.pt")  # fmt: skip


def config(path: Path) -> dict:
    import yaml
    from snakemake.utils import validate

    cfg = yaml.safe_load(path.read_text())
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return cfg


def stage(run: Path, work: Path) -> None:
    """Copy what the study reads of a finished run (``COPY``) into ``work`` (never written to)."""
    for rel in COPY:
        dst = work / rel
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / rel, dst)


def generate(cfg: dict, work: Path, multiple: float) -> list[str]:
    """The unlabelled shards a multiple needs (plan.unlabelled_shards), class-major."""
    from jetdistill import plan
    from jetdistill.data.generate import GenerateConfig, generate_shard

    c = {**cfg, "distillation": {**cfg["distillation"], "unlabelled": {"multiple": multiple}}}
    n = plan.unlabelled_shards(c)
    settings = GenerateConfig.from_dict(dict(plan.shard_settings(cfg)))
    files = []
    for cls in cfg["data"]["generate"]["classes"]:
        for shard in range(n):
            out = work / "raw" / f"{cls}_{shard}.h5"
            if not out.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
                generate_shard(out, cls, shard, settings, stream=plan.UNLABELLED_STREAM)
            files.append(str(out))
    return files


def prepare(cfg: dict, work: Path, multiple: float) -> None:
    """Unlabelled views (teacher, c16) and the teacher's logits on them."""
    from jetdistill.data.prepare import prepare_unlabelled_view
    from jetdistill.jobs.context import load_split
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import compute_soft_targets

    out = work / f"u{multiple:g}"
    if (out / "soft_targets.h5").exists():
        return
    files = generate(cfg, work, multiple)
    for view in ("teacher", "c16"):
        prepare_unlabelled_view(work / "data/splits.h5", files, cfg["views"][view],
                                work / f"data/views/{view}/norm.json", out / f"{view}.h5",
                                cfg["data"], multiple=multiple, view_name=view)  # fmt: skip
    model, _ = load_model(work / "teachers/jedi/member0/model.pt")
    u = load_split(str(out / "teacher.h5"))
    splits = {"unlabelled": {"teacher": (u.X, u.y, u.index)}}
    compute_soft_targets([(model, "teacher")], splits, out / "soft_targets.h5")


def train(
    cfg: dict, work: Path, kind: str, multiple: float, seed: int, T: float, alpha: float
) -> dict:
    """One point, as rule distill_student / train_student_solo(_all) trains it (no MLflow)."""
    from jetdistill.jobs import context as C
    from jetdistill.learn import metrics as M
    from jetdistill.learn.training import TrainConfig, fit, predict_logits
    from jetdistill.runtime import set_threads
    from jetdistill.seeding import seed_everything

    set_threads(1)
    spec = {"name": "mlp16", **cfg["models"]["mlp16"]}
    kd = (
        {"method": "hinton", "temperature": T, "alpha": alpha, "params": {}}
        if kind == "kd"
        else None
    )
    train_cfg = dict(cfg["training"]["distill" if kd else "student"])
    v = work / "data/views/c16"
    inputs = {"transfer": str(v / "transfer.h5"), "val": str(v / "val.h5"), "test": str(v / "test.h5"),
              "fidelity": str(work / "soft_targets/jedi.h5"), "soft_targets": str(work / "soft_targets/jedi.h5")}  # fmt: skip
    if multiple > 0:
        inputs["unlabelled"] = str(work / f"u{multiple:g}/c16.h5")
        key = "unlabelled_soft_targets" if kd else "unlabelled_fidelity"
        inputs[key] = str(work / f"u{multiple:g}/soft_targets.h5")
    ctx = C.JobContext("kd_unlabelled", {"student": "mlp16", "seed": str(seed)}, inputs, {},
                       {"model": spec, "train": train_cfg, "kd": kd})  # fmt: skip
    seed_everything(seed)
    tr, val, test = (C.load_split(inputs[s]) for s in ("transfer", "val", "test"))
    model = C.build(spec, tuple(tr.X.shape[1:]), len(tr.class_names))
    setup = C.kd_setup(
        ctx, kd, tr, val, test, label_smoothing=train_cfg.get("label_smoothing", 0.0)
    )
    n_labelled = len(tr.y)
    tr, setup = C.with_unlabelled(ctx, kd, tr, setup)
    t0, c0 = time.perf_counter(), time.process_time()
    result = fit(model, tr.batches(setup.t_train), val.batches(setup.t_val),
                 TrainConfig.from_dict(train_cfg), setup.loss_fn, seed=seed)  # fmt: skip
    logits = predict_logits(model, test.X)
    metrics = M.classification_metrics(logits, test.y, test.class_names)
    metrics.update(C.fidelity(model, tr, logits, setup))
    return {"kind": kind, "multiple": multiple, "seed": seed, "n_labelled": n_labelled,
            "n_unlabelled": len(tr.y) - n_labelled, "epochs": len(result.history),
            "best_epoch": result.best_epoch, "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}  # fmt: skip


def points(multiples: list[float], seeds: list[int]) -> list[tuple[str, float, int]]:
    out = []
    for seed in seeds:
        out.append(("solo", 0.0, seed))
        for m in multiples:
            out.append(("kd", m, seed))
            if m > 0:
                out.append(("solo_all", m, seed))
    return out


def table(work: Path) -> str:
    """Mean +- standard error over seeds of test accuracy (%) and KD - solo (paired, pts)."""
    import numpy as np

    rows = [json.loads(p.read_text()) for p in sorted((work / "res").glob("*.json"))]
    solo = {r["seed"]: r["test_accuracy"] for r in rows if r["kind"] == "solo"}
    lines = ["| point | unlabelled jets | seeds | test acc (%) | Δ vs solo (pts, paired) | train agree |",
             "|---|---|---|---|---|---|"]  # fmt: skip

    def se(x: list[float]) -> float:
        return float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan

    keys = sorted(
        {(r["kind"], r["multiple"]) for r in rows}, key=lambda k: (k[0] != "solo", k[0], k[1])
    )
    for kind, m in keys:
        sub = [r for r in rows if r["kind"] == kind and r["multiple"] == m]
        acc = [100 * r["test_accuracy"] for r in sub]
        diff = [100 * (r["test_accuracy"] - solo[r["seed"]]) for r in sub if r["seed"] in solo]
        agree = np.mean([r.get("train_agreement", math.nan) for r in sub])
        lines.append(f"| {kind} {m:g}x | {sub[0]['n_unlabelled']} | {len(sub)} | "
                     f"{np.mean(acc):.2f} ± {se(acc):.2f} | {np.mean(diff):+.2f} ± {se(diff):.2f} | "
                     f"{agree:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "results", help="a finished default run")
    ap.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (outside results/)")
    ap.add_argument("--multiples", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument(
        "--point", nargs=3, metavar=("KIND", "MULTIPLE", "SEED"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    cfg = config(args.config)
    work = args.work
    if args.point:  # one point in its own process (what the loop below runs)
        kind, m, seed = args.point[0], float(args.point[1]), int(args.point[2])
        rec = train(cfg, work, kind, m, seed, args.temperature, args.alpha)
        (work / "res").mkdir(parents=True, exist_ok=True)
        (work / "res" / f"{kind}_{m:g}_s{seed}.json").write_text(json.dumps(rec, indent=1))
        return
    stage(args.run, work)
    for m in sorted(m for m in args.multiples if m > 0):
        prepare(cfg, work, m)
    for kind, m, seed in points(args.multiples, args.seeds):
        if not (work / "res" / f"{kind}_{m:g}_s{seed}.json").exists():
            cmd = [sys.executable, __file__, "--config", str(args.config), "--work", str(work),
                   "--temperature", str(args.temperature), "--alpha", str(args.alpha),
                   "--point", kind, str(m), str(seed)]  # fmt: skip
            subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    print(table(work))


if __name__ == "__main__":
    main()
