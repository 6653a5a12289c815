"""Which jobs a config asks for: the expansion of its lists into the concrete job grid.

Every function here reads the (checked) config and returns names or job identities
(:mod:`jetdistill.identity`); nothing here decides a job's settings
(:mod:`jetdistill.plan.settings`) or refuses a config (:mod:`jetdistill.plan.checks`).
Keeping the grid here, not in the rule files, makes a sweep a config change and lets the
grid be unit-tested.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from jetdistill.identity import (  # the grid's element types (jetdistill.plan re-exports them)
    CurvePoint,
    FloatFPGAJob,
    KDJob,
    QATJob,
    SoloAllJob,
    SoloJob,
    TeacherMember,
    fmt_num,
)
from jetdistill.plan.arms import arm_config, arm_names, compression_arm
from jetdistill.plan.data_files import unlabelled_multiple, unlabelled_on

SPLITS: tuple[str, ...] = ("teacher_train", "transfer", "val", "test")


# --------------------------------------------------------------------------- jobs
# The job families (their wildcards, paths, log stems, MLflow names and records) are defined
# once, in jetdistill.identity; this module expands the config's lists into them.


def as_wildcards(job: Any) -> dict[str, Any]:
    """A job's wildcards (:meth:`jetdistill.identity.Identity.wildcards`)."""
    return job.wildcards()


def teacher_members(cfg: dict) -> list[TeacherMember]:
    """Members of the teachers this config uses (:func:`used_teachers`); others are not built."""
    out = []
    for name in member_teachers(cfg):
        for i, m in enumerate(cfg["teachers"][name]["members"]):
            out.append(TeacherMember(name, i, m["model"], int(m.get("seed", i))))
    return out


def member(cfg: dict, teacher: str, member: int | str) -> TeacherMember:
    m = cfg["teachers"][teacher]["members"][int(member)]
    return TeacherMember(teacher, int(member), m["model"], int(m.get("seed", int(member))))


#: a teacher with ``specialists.enabled`` also defines the teacher ``<name>`` + this suffix:
#: its generalist combined with its specialists (Hinton et al. 2015, section 5)
SPECIALIST_SUFFIX = "_spec"


def specialist_teachers(cfg: dict) -> dict[str, str]:
    """Combined teacher name -> its generalist, for every teacher with ``specialists.enabled``."""
    return {
        f"{name}{SPECIALIST_SUFFIX}": name
        for name, t in cfg["teachers"].items()
        if (t.get("specialists") or {}).get("enabled", False)
    }


def teacher_names(cfg: dict) -> list[str]:
    """Every teacher a config can name: ``teachers`` and the specialists' combined teachers."""
    return [*cfg["teachers"], *specialist_teachers(cfg)]


def member_teachers(cfg: dict) -> list[str]:
    """The used teachers that are trained members (:func:`used_teachers` with each combined
    teacher replaced by its generalist): the ones ``compute_soft_targets`` runs."""
    spec = specialist_teachers(cfg)
    return list(dict.fromkeys(spec.get(t, t) for t in used_teachers(cfg)))


def wildcard_choice(names: Any) -> str:
    """A wildcard regex matching exactly ``names`` (one that matches nothing when empty): the
    ``{teacher}`` of ``soft_targets/{teacher}.h5`` is a trained teacher's for one rule and a
    combined teacher's for another."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def specialist_groups_count(cfg: dict, generalist: str) -> int:
    """How many specialists the generalist gets: ``len(groups)`` when given, else ``n_groups``."""
    sp = cfg["teachers"][generalist]["specialists"]
    return len(sp["groups"]) if isinstance(sp.get("groups"), list) else int(sp["n_groups"])


def distill_teachers(cfg: dict) -> list[str]:
    return list(cfg["distillation"].get("teachers") or list(cfg["teachers"]))


def fidelity_teacher(cfg: dict) -> str:
    """The teacher every student (solo ones included) is compared with for fidelity metrics."""
    return distill_teachers(cfg)[0]


#: Labelled splits a student may learn from (``distillation.transfer_splits``); ``val`` and
#: ``test`` never: early stopping and the reported accuracy would see the jets they judge.
STUDENT_SPLITS: tuple[str, ...] = ("transfer", "teacher_train")


def transfer_splits(cfg: dict) -> list[str]:
    """The splits every float student (KD and its solo twin, baselines, learning-curve
    points) trains on, in order: ``distillation.transfer_splits`` (default ``[transfer]``).

    A rule param, so changing it reruns the students and nothing upstream: the soft-target
    cache always holds every split of :data:`STUDENT_SPLITS` (teacher inference on
    ``teacher_train`` costs seconds), so the teacher and its cache stay as they are."""
    return [str(s) for s in cfg["distillation"].get("transfer_splits") or ["transfer"]]


def baselines(cfg: dict) -> list[str]:
    """Models trained solo only, as references beside teacher and students (e.g. the MLP on
    high-level jet features a physicist would try first).

    The default config's jet-level baseline (``hlf_mlp``) is inherited by every user config
    (Snakemake merges configs); it is left out where it cannot apply: on generic data (no
    jet-level columns) or when the user's config replaces ``models`` without defining it.
    A baseline the user's config names itself is always checked.
    """
    out = []
    for name in cfg.get("baselines") or []:
        spec = cfg.get("models", {}).get(name)
        if spec is None and "models" in (cfg.get("replace") or []):
            continue
        view = cfg.get("views", {}).get(spec["view"], {}) if spec else {}
        if cfg.get("data", {}).get("source") == "generic" and view.get("level") == "jet":
            continue
        out.append(name)
    return out


def used_teachers(cfg: dict) -> list[str]:
    """Teachers the DAG builds: those of ``distillation.teachers`` (every teacher when that list
    is empty; only the first, the fidelity reference, when distillation is off) and
    ``compression.teacher`` when QAT+KD runs; every arm's (``distillation.arms``). Other entries of ``teachers`` are ignored, so a
    user config can add its own teacher without removing the defaults."""
    used = (
        [t for a in arm_names(cfg) for t in distill_teachers(arm_config(cfg, a))]
        if cfg["distillation"].get("enabled", True)
        else [fidelity_teacher(cfg)]
    )
    c = cfg["compression"]
    if c.get("enabled", True) and "kd" in c.get("modes", ()):
        used.append(compression_teacher(cfg))
    return list(dict.fromkeys(used))


def solo_arm(cfg: dict, arm: str, student: str, *, unlabelled: bool = False) -> str:
    """The arm whose solo job is ``arm``'s solo twin of ``student``: the first arm (``default``
    first) whose solo settings (the budget and training jets a solo job reads; with
    ``unlabelled``, for the solo-on-all reference, the unlabelled multiple too) equal ``arm``'s.
    Why: an arm that changes only what a solo student never reads (a loss, unlabelled jets)
    must not train the same solo student again."""
    from jetdistill.plan.settings import canonical_text  # settings reads this module

    if arm == arm_names(cfg)[0]:
        return arm  # the default arm comes first: its own twin, whatever the others say

    def key(a: str) -> str:
        c = arm_config(cfg, a)
        k: dict[str, Any] = {"train": student_training(c, "student", student),
                             "splits": transfer_splits(c)}  # fmt: skip
        if unlabelled:
            k["unlabelled"] = unlabelled_multiple(c)
        return canonical_text(k)

    mine = key(arm)
    return next((a for a in arm_names(cfg) if key(a) == mine), arm)


def solo_jobs(cfg: dict) -> list[SoloJob]:
    """Students trained alone in every arm with solo settings of its own (:func:`solo_arm`),
    and baselines in the default arm, over ``seeds``."""
    jobs = [SoloJob(s, int(seed), arm) for arm in arm_names(cfg) for s in cfg["students"]
            if solo_arm(cfg, arm, s) == arm for seed in cfg["seeds"]]  # fmt: skip
    jobs += [SoloJob(b, int(seed)) for b in baselines(cfg) for seed in cfg["seeds"]]
    return list(dict.fromkeys(jobs))


def kd_jobs(cfg: dict) -> list[KDJob]:
    """Every arm's KD grid (students x teachers x methods x temperatures x alphas x seeds,
    the lists as the arm gives them)."""
    if not cfg["distillation"].get("enabled", True):
        return []
    jobs = []
    for arm in arm_names(cfg):
        c = arm_config(cfg, arm)
        d = c["distillation"]
        jobs += [
            KDJob(s, t, m, fmt_num(T), fmt_num(a), int(seed), arm)
            for s, t, m, T, a, seed in itertools.product(
                c["students"], distill_teachers(c), d["methods"], d["temperatures"], d["alphas"],
                c["seeds"],
            )
        ]  # fmt: skip
    return jobs


def solo_all_jobs(cfg: dict) -> list[SoloAllJob]:
    """The upper reference of unlabelled transfer jets: every student trained alone on the
    transfer set plus the unlabelled jets *with* their labels, over ``seeds``, in every arm
    with unlabelled jets (and solo-on-all settings of its own)."""
    return [
        SoloAllJob(s, int(seed), arm)
        for arm in arm_names(cfg) if unlabelled_on(arm_config(cfg, arm))
        for s in cfg["students"] if solo_arm(cfg, arm, s, unlabelled=True) == arm
        for seed in cfg["seeds"]
    ]  # fmt: skip


def compression_students(cfg: dict) -> list[str]:
    c = cfg["compression"]
    if c.get("students"):
        return list(c["students"])
    return [s for s in cfg["students"] if cfg["models"][s]["type"] == "mlp"]


def compression_teacher(cfg: dict) -> str:
    return cfg["compression"].get("teacher") or fidelity_teacher(cfg)


def qat_jobs(cfg: dict) -> list[QATJob]:
    """The compression grid (students x modes x bits x sparsities x cost_penalties x seeds),
    then ``compression.points`` in every mode and seed: a chip design off the grid (4-bit
    weights at 90% sparsity, say) costs its own jobs only, not a grid dimension. Each once."""
    c = cfg["compression"]
    if not c.get("enabled", True):
        return []
    carm = compression_arm(cfg)
    grid = [
        QATJob(s, mode, int(b), fmt_num(sp), int(seed), fmt_num(cost), carm)
        for s, mode, b, sp, cost, seed in itertools.product(
            compression_students(cfg), c["modes"], c["bits"], c["sparsities"],
            c.get("cost_penalties", [0.0]), c["seeds"],
        )
    ]  # fmt: skip
    points = [
        QATJob(p["student"], mode, int(p["bits"]), fmt_num(p["sparsity"]), int(seed),
               fmt_num(p.get("cost_penalty", 0.0)), carm)
        for p in c.get("points") or [] for mode in c["modes"] for seed in c["seeds"]
    ]  # fmt: skip
    return list(dict.fromkeys([*grid, *points]))


def kd_reference(cfg: dict, student: str, seed: int) -> KDJob:
    """The float KD student a QAT+KD job fine-tunes from (same student, seed, KD settings, in
    the arm of ``compression.arm``)."""
    kd = cfg["compression"]["kd"]
    return KDJob(student, compression_teacher(cfg), kd["method"], fmt_num(kd["temperature"]),
                 fmt_num(kd["alpha"]), int(seed), compression_arm(cfg))  # fmt: skip


def solo_reference(cfg: dict, student: str, seed: int) -> SoloJob:
    """The float solo student a solo QAT job fine-tunes from: the solo twin of
    :func:`kd_reference` (its arm's solo job, :func:`solo_arm`)."""
    return SoloJob(student, int(seed), solo_arm(cfg, compression_arm(cfg), student))


def fpga_jobs(cfg: dict) -> list[QATJob]:
    f = cfg["fpga"]
    if not f.get("enabled", True) or not cfg["compression"].get("enabled", True):
        return []
    return [
        QATJob(t["student"], t["mode"], int(t["bits"]), fmt_num(t["sparsity"]), int(t.get("seed", 0)),
               fmt_num(t.get("cost_penalty", 0.0)), compression_arm(cfg))
        for t in f["targets"]
    ]  # fmt: skip


def frontier_rtl_jobs(cfg: dict) -> list[QATJob]:
    """QAT points that get an RTL estimate for the accuracy-per-LUT frontier: every point of
    the compression grid at a seed of ``fpga.frontier_seeds`` whose student's type reaches
    ``rtl`` (:func:`fpga_backends`), whatever its other fields (a new QATJob field is swept
    here too). Empty when the stage is off or ``fpga.rtl`` is false."""
    f = cfg["fpga"]
    seeds = {int(s) for s in f.get("frontier_seeds") or []}
    if not seeds or not f.get("enabled", True) or not f.get("rtl", True):
        return []
    return [j for j in qat_jobs(cfg) if j.seed in seeds and "rtl" in fpga_backends(cfg, j.student)]


def rtl_jobs(cfg: dict) -> list[QATJob]:
    """Every ``estimate_rtl`` job: the ``fpga.targets`` that reach ``rtl``, then the frontier's
    points (:func:`frontier_rtl_jobs`), each once."""
    targets = [j for j in fpga_jobs(cfg) if "rtl" in fpga_backends(cfg, j.student)]
    return list(dict.fromkeys([*targets, *frontier_rtl_jobs(cfg)]))


def hls_jobs(cfg: dict) -> list[QATJob]:
    """Every ``convert_hls`` job: the ``fpga.targets`` whose type converts with hls4ml."""
    return [j for j in fpga_jobs(cfg) if "hls4ml" in fpga_backends(cfg, j.student)]


def float_fpga_jobs(cfg: dict) -> list[FloatFPGAJob]:
    f = cfg["fpga"]
    if not f.get("enabled", True):
        return []
    return [FloatFPGAJob(s, int(cfg["seeds"][0])) for s in f.get("float_students", [])]


def learning_curve_points(cfg: dict) -> list[CurvePoint]:
    """Teacher (member 0 of the first of ``distillation.teachers``), every baseline, and one
    student solo and distilled with ``compression.kd``'s settings, at each fraction and at 1
    (the KD curve only where that KD job is part of the distillation grid)."""
    lc = cfg.get("learning_curve") or {}
    if not lc.get("enabled", False):
        return []
    fractions = sorted({fmt_num(f) for f in lc["fractions"]} | {"1"}, key=float)
    teacher = fidelity_teacher(cfg)
    tm = member(cfg, specialist_teachers(cfg).get(teacher, teacher), 0)
    student = lc.get("student") or cfg["students"][0]
    seeds = [int(s) for s in lc.get("seeds", [0])]
    kd = cfg["compression"]["kd"]
    points = [CurvePoint(f"teacher {tm.teacher} ({tm.model})", "teacher", f, tm) for f in fractions]
    for model, label in [
        *((b, f"baseline {b}") for b in baselines(cfg)),
        (student, f"solo {student}"),
    ]:
        points += [
            CurvePoint(label, "solo", f, SoloJob(model, s)) for f in fractions for s in seeds
        ]
    kd_grid = set(kd_jobs(cfg))
    for s in seeds:
        job = KDJob(
            student, teacher, kd["method"], fmt_num(kd["temperature"]), fmt_num(kd["alpha"]), s
        )
        if job not in kd_grid:  # the full-data point must exist in the distillation grid
            continue
        label = f"KD {student} ({kd['method']}, T={fmt_num(kd['temperature'])})"
        points += [CurvePoint(label, "kd", f, job) for f in fractions]
    return points


def chip_model_types(backend: str | None = None) -> list[str]:
    """Model types that reach the chip through ``backend`` (any backend if None): the
    ``chip`` flags of :data:`jetdistill.learn.models.MODEL_REGISTRY`, so a new type or a new
    tracer op needs no change here."""
    from jetdistill.learn.models import MODEL_REGISTRY

    return [n for n, m in MODEL_REGISTRY.items() if (backend in m.chip if backend else m.chip)]


def fpga_backends(cfg: dict, student: str) -> tuple[str, ...]:
    """The FPGA backends the workflow runs for an ``fpga.targets`` student: those its model
    type reaches (registry ``chip`` flags), ``rtl`` only with ``fpga.rtl: true``.

    One place for the rule, so the DAG (which conversion jobs a target gets) and the check
    (a target must get at least one) cannot disagree.
    """
    from jetdistill.learn.models import MODEL_REGISTRY

    chip = MODEL_REGISTRY[cfg["models"][student]["type"]].chip
    return tuple(b for b in chip if b != "rtl" or cfg["fpga"].get("rtl", True))


#: keys of ``training.student`` and ``training.distill`` that are a student's training budget
BUDGET_KEYS: tuple[str, ...] = ("epochs", "patience")


def student_training(cfg: dict, role: str, student: str) -> dict:
    """``training.<role>`` (``student``: solo, ``distill``: KD) for one model, with its
    ``training.per_student`` entry on top. Why per student: one schedule does not fit every
    student (the set student still improves at epoch 40 where mlp16 has stopped at 18), and
    the override applies to both roles, so a KD student and its solo twin keep one budget."""
    own = (cfg["training"].get("per_student") or {}).get(student) or {}
    return {**cfg["training"][role], **own}


def _used_models(cfg: dict) -> set[str]:
    used = set(cfg["students"]) | set(baselines(cfg))
    for t in member_teachers(cfg):
        used.update(m["model"] for m in cfg["teachers"][t]["members"])
    return used


def used_views(cfg: dict) -> list[str]:
    return sorted({cfg["models"][m]["view"] for m in _used_models(cfg)})
