"""Issue 21's study table: each arm alone (and combinations) against the default arm, every
student solo and distilled, paired by seed, on a finished run's real teacher.

An arm changes one thing of the default distillation (Hinton T=4, alpha=0.1, the
``training.student``/``training.distill`` budget with the student's ``training.per_student``
entry on top, the transfer jets only):

- ``patient``: a long cap whose cosine decays over the whole cap, patience = cap (never cut
  early; the best-validation-loss weights are kept), the solo twin under the same budget;
- ``nostop``: the same long cap with patience 0: the final weights are kept (Stanton et al.'s
  fidelity on the training jets grows with training length; the restored best-validation
  weights of ``patient`` hide that);
- ``teacher_train``: the students learn from transfer + teacher_train (solo: the same jets);
- ``dist`` / ``hint``: the DIST loss (``--dist-temperature``) / Hinton + FitNets hint on the
  teacher's cached embedding; the solo twin is the default arm's;
- ``views``: K consistent augmented views per transfer jet, the teacher's logits computed
  per view with the run's teacher (solo twin: the same views with labels, ``views.solo``);
- ``unlabelled``: ``--unlabelled-multiple`` x the transfer set of generated unlabelled jets
  for the KD student (teacher term only; the solo twin is the default arm's); ``unlabelled@3``
  names another multiple (3x) beside it;
- ``specialists``: the KD student learns the run's ``jedi_spec`` soft targets (the generalist
  combined with its specialists, Hinton et al. 2015 section 5: rule ``combine_specialists``
  with ``teachers.jedi.specialists.enabled``); the solo twin is the default arm's.

Arms combine with ``+`` (``patient+teacher_train``). Every job is built as rule
``distill_student`` / ``train_student_solo`` builds it (:mod:`jetdistill.jobs.context`:
the union of the chosen splits, ``kd_setup``, ``with_unlabelled``, ``learn.training.fit``),
without MLflow, one job at a time in this process (1 thread); each job's record is one JSON
file under ``--out`` (resumable: an existing record is not rerun; reruns are bit-identical).
Run it from the run's directory (the raw shards are named relative to it), e.g.

    cd /work/run && PYTHONPATH=$REPO/src nice -n 10 python $REPO/benchmarks/kd_study.py \\
        --results results --config $REPO/config/config.yaml --out /tmp/kdstudy \\
        --arms default patient teacher_train dist hint views --seeds 0 1 2
    python $REPO/benchmarks/kd_study.py --out /tmp/kdstudy --summarize --arms default patient ...

Columns of the table: solo and KD test accuracy (mean ± std over seeds), KD − solo paired by
seed (± standard error of the paired differences), the share of the solo-to-teacher gap KD
closes, KD − the default arm's KD (paired), agreement of the KD student with the teacher on
the jets it trained on and on the test jets, epochs run, and the CPU seconds of one training
(process time, 1 thread, data loading excluded) solo / KD.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from jetdistill import paths, plan
from jetdistill.jobs import context as C
from jetdistill.learn.losses import loss_params
from jetdistill.learn.training import TrainConfig, fit, predict_logits
from jetdistill.seeding import seed_everything

log = logging.getLogger("kd_study")
SPLITS = ("transfer", "teacher_train", "val", "test")


@dataclass(frozen=True)
class Arm:
    """What an arm changes against the default; ``epochs``/``patience`` None: the config's."""

    epochs: int | None = None
    patience: int | None = None
    splits: tuple[str, ...] = ("transfer",)
    method: str = "hinton"
    temperature: float = 4.0
    alpha: float = 0.1
    params: dict = field(default_factory=dict)
    views: dict | None = None
    unlabelled: float = 0.0
    teacher: str = "jedi"  # the run's teacher whose cached soft targets the KD student learns

    def budget(self, cfg: dict, student: str) -> tuple[int, int]:
        """(epochs, patience): the arm's, else the student's as the workflow gives it
        (``training.distill`` with its ``training.per_student`` entry on top)."""
        d = plan.student_training(cfg, "distill", student)
        e = self.epochs or int(d["epochs"])
        return e, int(d["patience"]) if self.patience is None else self.patience

    def solo_key(self, cfg: dict, student: str) -> str:
        """The solo twin's identity: what it depends on (budget, training jets, views)."""
        e, p = self.budget(cfg, student)
        key = f"solo_e{e}p{p}_{'+'.join(self.splits)}"
        return key + (f"_v{views_tag(self.views)}" if self.views else "")

    def kd_key(self, cfg: dict, student: str) -> str:
        e, p = self.budget(cfg, student)
        own = "".join(f"_{k}{v:g}" for k, v in sorted(self.params.items()))
        key = f"kd_{self.method}_T{self.temperature:g}_a{self.alpha:g}{own}_e{e}p{p}_{'+'.join(self.splits)}"  # fmt: skip
        key += f"_v{views_tag(self.views)}" if self.views else ""
        key += f"_t{self.teacher}" if self.teacher != "jedi" else ""
        return key + (f"_u{self.unlabelled:g}" if self.unlabelled else "")

    def solo_all_key(self, cfg: dict, student: str) -> str:
        """The upper reference of the unlabelled jets: solo on them with their labels."""
        return (
            self.solo_key(cfg, student).replace("solo_", "solo_all_", 1) + f"_u{self.unlabelled:g}"
        )

    def kd_settings(self) -> dict:
        """The ``kd`` param of rule distill_student (:func:`jetdistill.plan.kd_job_settings`)."""
        kd = {"method": self.method, "temperature": float(self.temperature),
              "alpha": float(self.alpha), "params": loss_params(self.method, self.params)}  # fmt: skip
        if self.views:
            kd["views"] = dict(self.views)
        return kd


def views_tag(views: dict | None) -> str:
    return hashlib.sha1(json.dumps(views, sort_keys=True).encode()).hexdigest()[:8]


def arm_table(args: argparse.Namespace) -> dict[str, dict]:
    """Each named arm's changes to the default (names combine with ``+``)."""
    views = {"k": args.views_k, "transforms": list(args.views_transforms),
             "pt_smear": float(args.views_pt_smear), "seed": 0}  # fmt: skip
    return {
        "default": {},
        "patient": {"epochs": args.patient_epochs, "patience": args.patient_epochs},
        "nostop": {"epochs": args.patient_epochs, "patience": 0},
        "teacher_train": {"splits": ("transfer", "teacher_train")},
        "dist": {"method": "dist", "temperature": args.dist_temperature},
        "hint": {"method": "hint"},
        "views": {"views": views},
        "unlabelled": {"unlabelled": args.unlabelled_multiple},
        "specialists": {"teacher": "jedi_spec"},  # the workflow's teacher jedi_spec (Hinton sec. 5)
    }


def parse_arm(name: str, table: dict[str, dict]) -> Arm:
    arm = Arm()
    for part in name.split("+"):
        if part.startswith("unlabelled@"):  # another multiple beside --unlabelled-multiple's
            arm = replace(arm, unlabelled=float(part.split("@", 1)[1]))
            continue
        if part not in table:
            raise SystemExit(f"unknown arm {part!r}: one of {sorted(table)}")
        arm = replace(arm, **table[part])
    return arm


# --------------------------------------------------------------------------- preparation
def prepare_views(res: Path, views: dict, student_views: set[str], out: Path) -> Path:
    """The K augmented copies of the transfer jets of each student view (``{view}.npy``)
    and a soft-target file in the workflow's layout whose ``transfer/view_logits`` are the
    run's teacher (member 0) on the same K views of its own view; its other splits are
    recomputed with the same teacher and checked against the run's cache."""
    from kd_views import augmented  # benchmarks/ is on sys.path when run as a script

    from jetdistill.data.augment import ViewsConfig
    from jetdistill.learn.models import load_model
    from jetdistill.learn.softtargets import compute_soft_targets, load_soft_targets

    d = out / "cache" / f"views_{views_tag(views)}"
    d.mkdir(parents=True, exist_ok=True)
    st = d / "soft_targets.h5"
    vcfg = ViewsConfig.from_dict(views)
    c0, t0 = time.process_time(), time.perf_counter()
    for view in sorted(student_views):
        if not (d / f"{view}.npy").exists():
            np.save(d / f"{view}.npy", augmented(res, view, "transfer", vcfg))
    if not st.exists():
        model, meta = load_model(
            paths.fill(res, paths.TEACHER_DIR, paths.MODEL, teacher="jedi", member=0)
        )
        tview = meta["view"]
        xt = augmented(res, tview, "transfer", vcfg)
        tsplits = {}
        for s in SPLITS:
            sp = C.load_split(paths.fill(res, paths.VIEW_SPLIT, view=tview, split=s))
            tsplits[s] = (sp.X, sp.y, sp.index)
        summary = compute_soft_targets([model], tsplits, st, views={"transfer": xt},
                                       views_attrs=views)  # fmt: skip
        cached = paths.fill(res, paths.SOFT_TARGETS, teacher="jedi")
        for s in SPLITS:
            diff = np.abs(
                load_soft_targets(st, s, tsplits[s][2])
                - load_soft_targets(cached, s, tsplits[s][2])
            )
            if diff.max() > 1e-4:
                raise SystemExit(
                    f"recomputed soft targets of {s} differ from the run's by {diff.max():.2g}"
                )
        rec = {"views": views, "summary": summary, "cpu_s": time.process_time() - c0,
               "wall_s": time.perf_counter() - t0}  # fmt: skip
        (d / "prep.json").write_text(json.dumps(rec, indent=1))
        print(f"views {views}: teacher accuracy on transfer views "
              f"{np.round(summary['splits']['transfer']['view_accuracy'], 4).tolist()} "
              f"(original {summary['splits']['transfer']['accuracy']:.4f}); prepared in "
              f"{rec['cpu_s']:.0f} CPU-s", flush=True)  # fmt: skip
    return st


def prepare_unlabelled(
    run: Path, config: Path, multiple: float, work: Path, shards: Path | None
) -> Path:
    """kd_unlabelled.py's preparation (its generated shards, views with the run's norm.json,
    the run's teacher on them) in ``work``; existing shards of the same stream are copied
    from ``shards`` first (their seeds are checked by name: generation is deterministic)."""
    import kd_unlabelled as U  # benchmarks/ is on sys.path when run as a script

    cfg = U.config(config)
    U.stage(run, work)
    if shards is not None:
        for f in sorted(shards.glob("*_[0-9]*.h5")):
            if f.name.startswith("."):  # a shard still being written
                continue
            dst = work / "raw" / f.name
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dst)
    c0, t0 = time.process_time(), time.perf_counter()
    U.prepare(cfg, work, multiple)
    rec = {
        "multiple": multiple,
        "cpu_s": time.process_time() - c0,
        "wall_s": time.perf_counter() - t0,
    }
    (work / f"u{multiple:g}" / "prep.json").write_text(json.dumps(rec))
    return work / f"u{multiple:g}"


# --------------------------------------------------------------------------- one job
def train_job(res: Path, cfg: dict, student: str, arm: Arm, seed: int, mode: str,
              prepared: dict) -> dict:  # fmt: skip
    """One student as rule distill_student (``mode`` kd) / train_student_solo (solo) /
    train_student_solo_all (solo_all: the unlabelled jets with their labels) builds it."""
    kd = mode == "kd"
    spec = {"name": student, **cfg["models"][student]}
    view = spec["view"]
    epochs, patience = arm.budget(cfg, student)
    role = "distill" if kd else "student"
    train_cfg = dict(plan.student_training(cfg, role, student), epochs=epochs, patience=patience)
    st = str(prepared.get("views_st") or paths.fill(res, paths.SOFT_TARGETS, teacher=arm.teacher))
    inputs = {s: paths.fill(res, paths.VIEW_SPLIT, view=view, split=s) for s in SPLITS}
    inputs.update(soft_targets=st, fidelity=st)
    kd_cfg = arm.kd_settings() if kd else None
    if arm.unlabelled and mode != "solo":
        u = prepared["unlabelled"]
        key = "unlabelled_soft_targets" if kd else "unlabelled_fidelity"
        inputs.update({"unlabelled": str(u / f"{view}.h5"), key: str(u / "soft_targets.h5")})
    ctx = C.JobContext("kd_study", {"student": student, "seed": str(seed)}, inputs, {},
                       {"model": spec, "train": train_cfg, "kd": kd_cfg,
                        "transfer_splits": list(arm.splits)})  # fmt: skip
    seed_everything(seed)
    parts = {n: C.load_split(inputs[n]) for n in arm.splits}
    train = C.concat_splits(list(parts.values()))
    val, test = C.load_split(inputs["val"]), C.load_split(inputs["test"])
    if arm.views:
        train.views = np.load(prepared["views_dir"] / f"{view}.npy")
    model = C.build(spec, tuple(train.X.shape[1:]), len(train.class_names))
    setup = C.kd_setup(ctx, kd_cfg, train, val, test, label_smoothing=train_cfg.get("label_smoothing", 0.0),
                       parts=parts, model=model)  # fmt: skip
    n_labelled = len(train.y)
    train, setup = C.with_unlabelled(ctx, kd_cfg, train, setup)
    curve: list[dict] = []
    eval_cpu = [0.0]

    def on_epoch(epoch: int, rec: dict) -> None:
        # test accuracy every 10 epochs and at the cap: the final weights' accuracy beside the
        # restored best's (patience = cap never stops, so it is what patience 0 would keep)
        if (epoch + 1) % 10 and epoch + 1 != epochs:
            return
        e0 = time.process_time()
        acc = float((predict_logits(model, test.X).argmax(1) == test.y).mean())
        curve.append({"epoch": epoch + 1, "test_accuracy": acc})
        eval_cpu[0] += time.process_time() - e0

    c0, t0 = time.process_time(), time.perf_counter()
    result = fit(model, train.batches(setup.t_train, setup.f_train, setup.tv_train),
                 val.batches(setup.t_val, setup.f_val), TrainConfig.from_dict(train_cfg),
                 setup.loss_fn, seed=seed, epoch_callback=on_epoch)  # fmt: skip
    cpu, wall = time.process_time() - c0 - eval_cpu[0], time.perf_counter() - t0
    logits = predict_logits(model, test.X)
    out = {"student": student, "seed": seed, "mode": mode, "arm": asdict(arm),
           "kd": kd_cfg, "train": train_cfg, "n_train": len(train.y), "n_unlabelled": len(train.y) - n_labelled,
           "test_accuracy": float((logits.argmax(1) == test.y).mean()), "epochs_run": len(result.history),
           "best_epoch": result.best_epoch, "cpu_s": cpu, "wall_s": wall,
           "val_loss": [h["val_loss"] for h in result.history], "curve": curve}  # fmt: skip
    if len(result.history) == epochs:
        out["final_test_accuracy"] = curve[-1]["test_accuracy"]
    out.update(C.fidelity(model, train, logits, setup))
    # the same reference jets for every arm: agreement on the labelled transfer jets
    tr = slice(0, len(parts["transfer"].y))
    out["transfer_agreement"] = float(
        (predict_logits(model, train.X[tr]).argmax(1) == setup.fidelity_train[tr].argmax(1)).mean()
    )
    return out


# --------------------------------------------------------------------------- table
def teacher_accuracy(res: Path) -> float:
    from jetdistill.learn.softtargets import load_soft_targets

    test = C.load_split(paths.fill(res, paths.VIEW_SPLIT, view="c16", split="test"))
    t = load_soft_targets(paths.fill(res, paths.SOFT_TARGETS, teacher="jedi"), "test", test.index)
    return float((t.argmax(1) == test.y).mean())


def record_path(out: Path, student: str, key: str, seed: int) -> Path:
    return out / "jobs" / f"{student}__{key}__s{seed}.json"


def load(out: Path, student: str, key: str, seeds: list[int]) -> dict[int, dict]:
    got = {}
    for s in seeds:
        p = record_path(out, student, key, s)
        if p.exists():
            got[s] = json.loads(p.read_text())
    return got


HEADER = (
    "| arm | student | seeds | solo acc | KD acc | Δ KD−solo (pts ± paired SE) | gap closed | "
    "Δ KD vs default KD (pts ± SE) | KD agree train / test | solo agree train / test | "
    "epochs solo / KD (KD best) | CPU-s per job solo / KD |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _paired(a: np.ndarray, b: np.ndarray) -> str:
    """``a - b`` in points, paired by seed: mean ± standard error (the mean alone for one seed)."""
    d = 100 * (a - b)
    if len(d) < 2:
        return f"{d.mean():+.2f}"
    return f"{d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f}"


def table(out: Path, cfg: dict, names: list[str], table_: dict, students: list[str],
          seeds: list[int], t_acc: float) -> str:  # fmt: skip
    rows = [HEADER]
    base = parse_arm("default", table_)
    for name in names:
        arm = parse_arm(name, table_)
        for student in students:
            solo = load(out, student, arm.solo_key(cfg, student), seeds)
            kd = load(out, student, arm.kd_key(cfg, student), seeds)
            ref = load(out, student, base.kd_key(cfg, student), seeds)
            ss = sorted(set(solo) & set(kd))
            if not ss:
                continue

            def v(runs: dict, key: str, ss: list[int] = ss) -> np.ndarray:
                return np.array([runs[s][key] for s in ss], dtype=float)

            def pm(x: np.ndarray) -> str:
                return f"{x.mean():.4f} ± {x.std(ddof=1):.4f}" if len(x) > 1 else f"{x.mean():.4f}"

            a_s, a_k = v(solo, "test_accuracy"), v(kd, "test_accuracy")
            gap = (a_k - a_s).mean() / (t_acc - a_s.mean())
            rs = sorted(set(ref) & set(kd))
            vs_ref = "–" if name == "default" or not rs else _paired(v(kd, "test_accuracy", rs), v(ref, "test_accuracy", rs))  # fmt: skip
            rows.append(
                f"| {name} | {student} | {','.join(map(str, ss))} | {pm(a_s)} | {pm(a_k)} | "
                f"{_paired(a_k, a_s)} | {100 * gap:.0f}% | {vs_ref} | "
                f"{v(kd, 'train_agreement').mean():.3f} / {v(kd, 'test_agreement').mean():.3f} | "
                f"{v(solo, 'train_agreement').mean():.3f} / {v(solo, 'test_agreement').mean():.3f} | "
                f"{v(solo, 'epochs_run').mean():.0f} / {v(kd, 'epochs_run').mean():.0f} "
                f"({v(kd, 'best_epoch').mean() + 1:.0f}) | "
                f"{v(solo, 'cpu_s').mean():.1f} / {v(kd, 'cpu_s').mean():.1f} |"
            )  # fmt: skip
    for name in names:  # runs that reached their cap: the final weights beside the restored best
        arm = parse_arm(name, table_)
        for student in students:
            solo = load(out, student, arm.solo_key(cfg, student), seeds)
            kd = load(out, student, arm.kd_key(cfg, student), seeds)
            ss = [s for s in sorted(set(solo) & set(kd))
                  if "final_test_accuracy" in solo[s] and "final_test_accuracy" in kd[s]]  # fmt: skip
            if name == "default" or not ss:
                continue
            a_s = np.array([solo[s]["final_test_accuracy"] for s in ss])
            a_k = np.array([kd[s]["final_test_accuracy"] for s in ss])
            rows.append(f"\n{name} {student}: final weights (epoch {solo[ss[0]]['epochs_run']}, no "
                        f"restore), seeds {ss}: solo {a_s.mean():.4f}, KD {a_k.mean():.4f}, "
                        f"Δ {_paired(a_k, a_s)} pts")  # fmt: skip
    for name in names:
        arm = parse_arm(name, table_)
        for student in students if arm.unlabelled else []:
            ref = load(out, student, arm.solo_all_key(cfg, student), seeds)
            if ref:
                acc = np.array([r["test_accuracy"] for r in ref.values()])
                rows.append(f"\n{name} {student}: solo on all jets with labels (upper reference), "
                            f"seeds {sorted(ref)}: {acc.mean():.4f}")  # fmt: skip
    return "\n".join(rows)


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--results", default="results", help="a finished run's results folder")
    ap.add_argument(
        "--config", default=str(Path(__file__).resolve().parents[1] / "config/config.yaml")
    )
    ap.add_argument("--out", type=Path, default=Path("/tmp/kdstudy"))
    ap.add_argument(
        "--arms",
        nargs="+",
        default=["default", "patient", "teacher_train", "dist", "hint", "views"],
    )
    ap.add_argument("--students", nargs="+", default=None, help="default: the config's students")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--order",
        choices=("arm", "seed"),
        default="arm",
        help="'seed': every arm's seed 0 first (a paired first look), then seed 1 ...",
    )
    ap.add_argument("--patient-epochs", type=int, default=120)
    ap.add_argument("--dist-temperature", type=float, default=1.0)
    ap.add_argument("--views-k", type=int, default=4)
    ap.add_argument("--views-transforms", nargs="+", default=["eta_flip", "phi_flip", "rotate"])
    ap.add_argument("--views-pt-smear", type=float, default=0.0)
    ap.add_argument("--unlabelled-multiple", type=float, default=1.0)
    ap.add_argument(
        "--unlabelled-shards",
        type=Path,
        default=None,
        help="existing generated shards of the unlabelled stream to copy first",
    )
    ap.add_argument(
        "--solo-all",
        action="store_true",
        help="unlabelled arms: also solo on the unlabelled jets with labels (upper reference)",
    )
    ap.add_argument("--smoke-epochs", type=int, default=0, help="cap every budget (a smoke test)")
    ap.add_argument("--summarize", action="store_true", help="only print the table of --out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    cfg = yaml.safe_load(Path(args.config).read_text())
    if args.smoke_epochs:
        for role in ("student", "distill"):
            cfg["training"][role].update(epochs=args.smoke_epochs, patience=args.smoke_epochs)
        cfg["training"]["per_student"] = {}  # the cap applies to every student
        args.patient_epochs = args.smoke_epochs + 1
    students = args.students or list(cfg["students"])
    res = Path(args.results)
    table_ = arm_table(args)
    arms = {n: parse_arm(n, table_) for n in args.arms}
    t_acc = teacher_accuracy(res)
    if args.summarize:
        print(table(args.out, cfg, args.arms, table_, students, args.seeds, t_acc))
        return
    prepared: dict[str, dict] = {n: {} for n in arms}
    jobs = [(n, st, s) for n in arms for st in students for s in args.seeds]
    if args.order == "seed":
        jobs.sort(key=lambda j: (j[2], list(arms).index(j[0])))
    print(f"teacher test accuracy {t_acc:.4f}; {len(jobs)} (arm, student, seed) cells", flush=True)
    for name, student, seed in jobs:
        arm = arms[name]
        modes = [("solo", arm.solo_key(cfg, student)), ("kd", arm.kd_key(cfg, student))]
        if arm.unlabelled and args.solo_all:
            modes.append(("solo_all", arm.solo_all_key(cfg, student)))
        for mode, key in modes:
            path = record_path(args.out, student, key, seed)
            if path.exists():
                continue
            p = prepared[name]
            if arm.views and "views_st" not in p:
                p["views_st"] = prepare_views(
                    res, arm.views, {cfg["models"][s]["view"] for s in students}, args.out
                )
                p["views_dir"] = p["views_st"].parent
            if mode != "solo" and arm.unlabelled and "unlabelled" not in p:
                p["unlabelled"] = prepare_unlabelled(res, Path(args.config), arm.unlabelled,
                                                     args.out / "unlabelled", args.unlabelled_shards)  # fmt: skip
            rec = train_job(res, cfg, student, arm, seed, mode, p)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rec))
            print(f"{name} {student} seed {seed} {rec['mode']}: acc {rec['test_accuracy']:.4f}, "
                  f"agree train/test {rec['train_agreement']:.3f}/{rec['test_agreement']:.3f}, "
                  f"{rec['epochs_run']} epochs (best {rec['best_epoch'] + 1}), {rec['cpu_s']:.1f} CPU-s, "
                  f"{rec['wall_s']:.0f} s", flush=True)  # fmt: skip
    print(table(args.out, cfg, args.arms, table_, students, args.seeds, t_acc))


if __name__ == "__main__":
    main()
