"""The per-weight-precision frontier (``compression.per_weight``): its job grid, each job's
settings and the checks that refuse what its quantiser cannot express.

Every chip student of ``per_weight.students`` gets an HGQ twin (a bit width per weight and
per activation, learned with a differentiable EBOPs cost) per EBOPs weight ``beta``, trained
with the compression stage's KD recipe and solo (``modes``); the peer (``per_weight.peer``,
the JEDI-linear recipe: HGQ, solo, from scratch) runs on the same view and jets as mode
``peer``. Each design then gets a da4ml circuit checked bit for bit (rule
``estimate_hgq_rtl``); the Pareto set of each family gets Yosys counts
(``synthesize_frontier``); ``report_chip_frontier`` writes the table.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from jetdistill.errors import InputError
from jetdistill.identity import HGQJob, fmt_num
from jetdistill.plan.arms import arm_config, compression_arm
from jetdistill.plan.data_files import unlabelled_multiple
from jetdistill.plan.settings import JobSettings, job_settings, kd_settings

#: the mode of the peer's jobs (ours are ``kd`` and ``solo``)
PEER_MODE = "peer"
#: KD methods the HGQ training loop implements (jetdistill.compress.hgq_train)
HGQ_KD_METHODS: tuple[str, ...] = ("hinton",)


def per_weight(cfg: dict) -> dict[str, Any]:
    return cfg["compression"].get("per_weight") or {}


def per_weight_on(cfg: dict) -> bool:
    return bool(cfg["compression"].get("enabled", True) and per_weight(cfg).get("enabled"))


def per_weight_students(cfg: dict) -> list[str]:
    """``per_weight.students``, or when it is empty the compression stage's students whose
    type has an HGQ twin (the frontier follows the chip students unless told otherwise)."""
    from jetdistill.learn.models import MODEL_REGISTRY

    given = per_weight(cfg).get("students") or []
    if given:
        return list(given)
    from jetdistill.plan.grid import compression_students

    return [s for s in compression_students(cfg)
            if getattr(MODEL_REGISTRY.get(cfg["models"][s]["type"]), "hgq_twin", None)]  # fmt: skip


def per_weight_seeds(cfg: dict) -> list[int]:
    seeds = per_weight(cfg).get("seeds")
    return [int(s) for s in (cfg["compression"]["seeds"] if seeds is None else seeds)]


def peer_model(cfg: dict) -> str:
    return (per_weight(cfg).get("peer") or {}).get("model") or ""


def peer_modes(cfg: dict) -> list[str]:
    """The peer's modes: ``peer`` (its recipe) and, with ``kd``, its recipe plus our KD."""
    return list((per_weight(cfg).get("peer") or {}).get("modes") or [PEER_MODE])


def on_peer_recipe(cfg: dict, job: HGQJob) -> bool:
    """Whether a job runs the peer's model, schedule and start (mode ``peer``, or ``kd`` of
    the peer's model): from scratch, no float student."""
    return job.mode == PEER_MODE or (bool(peer_model(cfg)) and job.student == peer_model(cfg))


def peer_betas(cfg: dict) -> list[Any]:
    return list((per_weight(cfg).get("peer") or {}).get("betas") or per_weight(cfg)["betas"])


def hgq_jobs(cfg: dict) -> list[HGQJob]:
    """Students x modes x betas x seeds, then the peer's betas x seeds (mode ``peer``)."""
    if not per_weight_on(cfg):
        return []
    pw, arm, seeds = per_weight(cfg), compression_arm(cfg), per_weight_seeds(cfg)
    ours = [
        HGQJob(s, mode, fmt_num(b), int(seed), arm)
        for s, mode, b, seed in itertools.product(
            per_weight_students(cfg), pw["modes"], pw["betas"], seeds
        )
    ]
    peer = peer_model(cfg)
    theirs = [HGQJob(peer, mode, fmt_num(b), int(seed), arm)
              for mode, b, seed in itertools.product(peer_modes(cfg), peer_betas(cfg), seeds)
              ] if peer else []  # fmt: skip
    return list(dict.fromkeys([*ours, *theirs]))


def hgq_job_settings(cfg: dict, job: HGQJob) -> JobSettings:
    """What an HGQ job depends on beyond its wildcards: the schedule, the starting bits and
    (mode kd) the KD loss and its targets; the peer its own schedule, from scratch. KD and
    its twin without KD (solo, or the peer for the peer's model) take the same number of
    optimizer steps: the epochs are scaled by the unlabelled jets' share."""
    pw = per_weight(cfg)
    out: dict[str, Any] = {
        "epochs": int(pw["epochs"]),
        "lr": float(pw["lr"]),
        "batch_size": int(pw["batch_size"]),
        "init_bits": int(pw["init_bits"]),
        "ramp_fraction": float(pw["ramp_fraction"]),
        "init": "finetune",
    }
    if on_peer_recipe(cfg, job):
        peer = pw.get("peer") or {}
        out.update(epochs=int(peer.get("epochs") or pw["epochs"]), lr=float(peer["lr"]),
                   init_bits=int(peer["init_bits"]), init="scratch",
                   batch_size=int(peer.get("batch_size") or pw["batch_size"]))  # fmt: skip
    # equal optimizer steps for KD and its twin without KD: a KD epoch also passes the
    # unlabelled jets (multiple m of the labelled ones), and a bit width moves by about the
    # learning rate per step, so at equal epochs the twin would shed m + 1 times fewer bits
    m = unlabelled_multiple(arm_config(cfg, compression_arm(cfg)))
    if m > 0 and job.mode != "kd" and not on_peer_recipe(cfg, job):
        out["epochs"] = math.ceil(out["epochs"] * (1 + m))
    if m > 0 and job.mode == "kd" and on_peer_recipe(cfg, job):
        out["epochs"] = max(1, math.ceil(out["epochs"] / (1 + m)))
    if job.mode == "kd":
        kd = cfg["compression"]["kd"]
        out["kd"] = kd_settings(cfg, kd["method"], kd["temperature"], kd["alpha"])
        # from scratch there is no float student: the teacher's logits
        out["kd_targets"] = ("teacher" if out["init"] == "scratch"
                             else cfg["compression"].get("kd_targets", "teacher"))  # fmt: skip
    return job_settings(out)


def hgq_rtl_settings(cfg: dict) -> JobSettings:
    """The circuit of one design: da4ml's settings as the Brevitas path's, plus Verilator."""
    f, pw = cfg["fpga"], per_weight(cfg)
    return job_settings({
        "clock_period_ns": float(f["clock_period_ns"]),
        "test_samples": int(f["test_samples"]),
        "verilator_samples": int(pw.get("verilator_samples", 200)),
        "part_name": f["part"],
    })  # fmt: skip


def synthesize_mode(cfg: dict) -> str:
    return per_weight(cfg).get("synthesize", "pareto")


# --------------------------------------------------------------------------- checks
def check_per_weight(cfg: dict) -> None:
    """Refuse at parse time (``snakemake -n``) what the HGQ path cannot run: a student whose
    type has no HGQ twin or whose settings the twin cannot express, a peer that is not a
    set model, a KD method the HGQ loop does not implement, float targets without float
    students."""
    if not per_weight_on(cfg):
        return
    from jetdistill.learn.models import MODEL_REGISTRY, resolve_spec

    pw, models = per_weight(cfg), cfg["models"]
    supported = [n for n, t in MODEL_REGISTRY.items() if getattr(t, "hgq_twin", None)]
    where = "config: compression.per_weight.students"
    students = per_weight_students(cfg)
    if not students and not peer_model(cfg):
        raise InputError(where, "at least one student (or a peer model) when per_weight is enabled",
                         "[]")  # fmt: skip
    for key, name in [*((where, s) for s in students),
                      *(("config: compression.per_weight.peer.model", peer_model(cfg)),) * bool(peer_model(cfg))]:  # fmt: skip
        if name not in models:
            raise InputError(key, f"a model of models: {sorted(models)}", repr(name))
        kind = models[name].get("type")
        if kind not in supported:
            raise InputError(f"{key} ({name}: type)",
                             f"a model type the HGQ quantiser can express: {list(supported)}",
                             repr(kind))  # fmt: skip
        limits = getattr(MODEL_REGISTRY[kind], "hgq_limits", None)
        view = cfg["views"].get(models[name].get("view"), {})
        problem = limits and limits(
            resolve_spec(models[name], name=name), view.get("n_constituents")
        )
        if problem:
            k, expected, got = problem
            raise InputError(f"config: models.{name}.{k} (in {key.removeprefix('config: ')})",
                             expected, got)  # fmt: skip
    for s in students:
        if s not in cfg["students"]:
            raise InputError(where, f"students of the run (their float students start the HGQ "
                             f"twins): {cfg['students']}", repr(s))  # fmt: skip
    if "kd" in pw.get("modes", []) or "kd" in peer_modes(cfg):
        method = cfg["compression"]["kd"]["method"]
        if method not in HGQ_KD_METHODS:
            raise InputError("config: compression.kd.method (per_weight mode kd)",
                             f"a method the HGQ training implements: {list(HGQ_KD_METHODS)}",
                             repr(method))  # fmt: skip
    peer = peer_model(cfg)
    if peer and peer in students:
        raise InputError("config: compression.per_weight.peer.model",
                         "a model that is not one of per_weight.students (the peer is the other "
                         "recipe, not ours)", repr(peer))  # fmt: skip
    if peer and models[peer].get("view") not in {models[s]["view"] for s in students or [peer]}:
        raise InputError("config: compression.per_weight.peer.model",
                         "a model on the view of per_weight.students (same jets, same inputs)",
                         f"view {models[peer].get('view')!r}")  # fmt: skip
