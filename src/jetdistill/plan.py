"""What the workflow runs: semantic config checks and the expansion of sweeps into jobs.

The JSON schema checks types, ranges and enums; this module checks what a schema
cannot (cross references between sections, feature names, split fractions) and
turns the config's lists into the concrete job grid. Keeping it here, not in the
rule files, makes a sweep a config change and lets the grid be unit-tested.
"""

from __future__ import annotations

import copy
import difflib
import glob
import itertools
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jetdistill import paths
from jetdistill.data.layout import CLASS_NAMES, JET_FEATURES, LABEL_COLUMNS, PARTICLE_FEATURES
from jetdistill.errors import InputError
from jetdistill.identity import (  # the grid's element types, re-exported
    CurvePoint,
    FloatFPGAJob,
    KDJob,
    QATJob,
    SoloAllJob,
    SoloJob,
    TeacherMember,
    fmt_num,
)

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


def specialist_group_settings(cfg: dict, generalist: str) -> JobSettings:
    """What the choice of groups depends on: the given groups (or ``auto``), their number and
    size."""
    sp = cfg["teachers"][generalist]["specialists"]
    return job_settings({k: sp[k] for k in ("groups", "n_groups", "max_group_size")})


def specialist_train_settings(cfg: dict, generalist: str) -> JobSettings:
    """A specialist's training: ``training.teacher`` with the specialists' short schedule
    (``epochs``, ``lr``, no early stopping), its enrichment and its seed."""
    sp = cfg["teachers"][generalist]["specialists"]
    train = {**cfg["training"]["teacher"], "epochs": sp["epochs"], "lr": sp["lr"], "patience": 0}
    return job_settings(
        {"train": train, "group_fraction": sp["group_fraction"], "seed": sp["seed"]}
    )


def specialist_combine_settings(cfg: dict, generalist: str) -> JobSettings:
    """The combination's settings (:func:`jetdistill.learn.specialists.combine`)."""
    sp = cfg["teachers"][generalist]["specialists"]
    return job_settings({"active_top": sp["active_top"], "steps": sp["combine_steps"]})


def check_specialists(cfg: dict) -> None:
    """The ``specialists`` blocks of the used generalists: a combined name no teacher has,
    ``groups`` naming known classes (disjoint, >= 2 each, a dustbin left), ``n_groups``
    disjoint pairs possible, ``active_top`` at most the class count."""
    from jetdistill.learn.specialists import resolve_groups

    classes = (
        list(cfg["data"]["generate"]["classes"])
        if cfg["data"]["source"] == "generate"
        else list(CLASS_NAMES)
        if cfg["data"]["source"] == "hls4ml"
        else None
    )
    for combined, name in specialist_teachers(cfg).items():
        where = f"config: teachers.{name}.specialists"
        if combined in cfg["teachers"]:
            raise InputError(f"config: teachers.{combined}",
                             f"no teacher of that name: teachers.{name}.specialists defines it",
                             "a teacher")  # fmt: skip
        sp = cfg["teachers"][name]["specialists"]
        groups = sp.get("groups", "auto")
        if classes is not None:
            if isinstance(groups, list):
                try:
                    resolve_groups(groups, classes)
                except InputError as e:
                    raise InputError(f"{where}.groups", e.expected, e.got) from None
            elif 2 * int(sp["n_groups"]) > len(classes):
                raise InputError(f"{where}.n_groups",
                                 f"at most {len(classes) // 2} disjoint groups of >= 2 of the "
                                 f"{len(classes)} classes", repr(sp["n_groups"]))  # fmt: skip
            if int(sp["active_top"]) > len(classes):
                raise InputError(f"{where}.active_top", f"at most the {len(classes)} classes",
                                 repr(sp["active_top"]))  # fmt: skip


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
    ``compression.teacher`` when QAT+KD runs. Other entries of ``teachers`` are ignored, so a
    user config can add its own teacher without removing the defaults."""
    used = (
        distill_teachers(cfg)
        if cfg["distillation"].get("enabled", True)
        else [fidelity_teacher(cfg)]
    )
    c = cfg["compression"]
    if c.get("enabled", True) and "kd" in c.get("modes", ()):
        used.append(compression_teacher(cfg))
    return list(dict.fromkeys(used))


#: Top-level sections a user config may list under ``replace`` (lists are always replaced).
REPLACEABLE: tuple[str, ...] = (
    "data", "views", "models", "teachers", "training", "distillation", "compression", "fpga",
    "tracking",
)  # fmt: skip


def apply_replace(cfg: dict, user_cfg: dict | None) -> dict:
    """Honour ``replace: [section, ...]``: those sections come from the user's config alone.

    Snakemake merges ``--configfile``/``--config`` over ``config/config.yaml`` key by key,
    so a default model or teacher cannot be removed by merging. ``cfg`` is the merged config
    (changed in place and returned), ``user_cfg`` what the command line gave
    (``workflow.config_settings.overwrite_config``). A section listed in ``replace`` that the
    user's config does not define is an error (replacing it by nothing is never meant).
    """
    sections = cfg.get("replace") or []
    if not isinstance(sections, list):
        raise InputError("config: replace", f"a list of section names among {list(REPLACEABLE)}",
                         repr(sections))  # fmt: skip
    user_cfg = user_cfg or {}
    for name in sections:
        if name not in REPLACEABLE:
            raise InputError(
                "config: replace", f"section names among {list(REPLACEABLE)}", repr(name)
            )
        if name not in user_cfg:
            raise InputError(
                "config: replace",
                f"sections your --configfile/--config defines (it has {sorted(user_cfg)})",
                repr(name),
            )
        cfg[name] = copy.deepcopy(user_cfg[name])
    return cfg


#: the environment variable that names one ``snakemake`` invocation (jetdistill.tracking)
ENV_INVOCATION = "JETDISTILL_INVOCATION_ID"


def prepare_config(
    cfg: dict,
    user_cfg: dict | None,
    validate: Callable[[dict], None],
    *,
    cli_cfg: Any = None,
    schema_path: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """Everything the workflow does to its config and its environment at parse time, once.

    The one place where parsing the Snakefile changes state (rules/common.smk calls it
    first; the rule files only read the config afterwards). In order:

    1. ``replace:`` sections come from the user's config alone (:func:`apply_replace`),
       and with ``schema_path`` nested ``--config`` values (``cli_cfg``) get the types the
       schema asks for back (:func:`coerce_cli_numbers`);
    2. ``validate`` (Snakemake's schema validation) checks types and fills the defaults;
    3. :func:`check_config` checks what a schema cannot;
    4. ``tracking.uri`` is masked in the config (params, the config the jobs see and
       Snakemake's metadata hold ``user:***@host``; a password stays in this process's
       environment, ``tracking.uris.protect``);
    5. the job environment: where jobs log (``JETDISTILL_TRACKING``; through the
       environment, not params, so a new experiment or store reruns nothing) and one
       id per invocation (``JETDISTILL_INVOCATION_ID``, kept when already set: SLURM jobs
       re-parse the Snakefile with their parent's environment). Local and SLURM jobs
       inherit both.

    Returns the environment variables it set.
    """
    import json
    import uuid
    from datetime import UTC, datetime

    from jetdistill.tracking import uris

    apply_replace(cfg, user_cfg)
    if schema_path is not None:
        coerce_cli_numbers(cfg, schema_path, cli_cfg)
    validate(cfg)
    check_config(cfg)
    cfg["tracking"] = uris.protect(cfg["tracking"])  # the real URI: JETDISTILL_TRACKING_URI
    os.environ[uris.ENV_TRACKING] = json.dumps(cfg["tracking"])
    os.environ.setdefault(
        ENV_INVOCATION,
        datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:8],
    )
    return {k: os.environ[k] for k in (uris.ENV_TRACKING, ENV_INVOCATION)}


def solo_jobs(cfg: dict) -> list[SoloJob]:
    """Students and baselines trained alone (same rule, same budget), over ``seeds``."""
    models = list(dict.fromkeys([*cfg["students"], *baselines(cfg)]))
    return [SoloJob(s, int(seed)) for s in models for seed in cfg["seeds"]]


def kd_jobs(cfg: dict) -> list[KDJob]:
    d = cfg["distillation"]
    if not d.get("enabled", True):
        return []
    return [
        KDJob(s, t, m, fmt_num(T), fmt_num(a), int(seed))
        for s, t, m, T, a, seed in itertools.product(
            cfg["students"], distill_teachers(cfg), d["methods"], d["temperatures"], d["alphas"],
            cfg["seeds"],
        )
    ]  # fmt: skip


def solo_all_jobs(cfg: dict) -> list[SoloAllJob]:
    """The upper reference of unlabelled transfer jets: every student trained alone on the
    transfer set plus the unlabelled jets *with* their labels, over ``seeds`` (none while
    ``distillation.unlabelled.multiple`` is 0)."""
    if not unlabelled_on(cfg):
        return []
    return [SoloAllJob(s, int(seed)) for s in cfg["students"] for seed in cfg["seeds"]]


# --------------------------------------------------------------------------- unlabelled jets
# The students' unlabelled transfer jets (distillation.unlabelled): their own shards (a seed
# stream of their own) or the user's files, one view file per view normalised with the
# labelled view's norm.json, and one soft-target file per teacher. Nothing of the labelled
# data depends on them, so turning them on or changing the multiple reruns only these jobs,
# the KD students (and what is built from them) and the solo-on-all references.

#: the seed stream of generated unlabelled shards (jetdistill.data.generate.shard_seed)
UNLABELLED_STREAM = "unlabelled"


def unlabelled_multiple(cfg: dict) -> float:
    """How many unlabelled jets the KD students get, as a multiple of the transfer set (0: off;
    always 0 while distillation is off)."""
    d = cfg["distillation"]
    if not d.get("enabled", True):
        return 0.0
    return float((d.get("unlabelled") or {}).get("multiple") or 0)


def unlabelled_on(cfg: dict) -> bool:
    return unlabelled_multiple(cfg) > 0


def unlabelled_shards(cfg: dict) -> int:
    """Generated unlabelled shards per class: enough for ``multiple`` x the most transfer jets a
    class can get (its fraction of ``shards * jets_per_shard``, rounded up by one)."""
    g, sp = cfg["data"]["generate"], cfg["data"]["splits"]
    per_class = int(g["jets_per_shard"]) * int(g["shards"])
    need = math.ceil(unlabelled_multiple(cfg) * (float(sp["transfer"]) * per_class + 1))
    return max(1, math.ceil(need / int(g["jets_per_shard"])))


def unlabelled_files(cfg: dict, results: str) -> list[str]:
    """Input files of the unlabelled views, in the order that defines their rows: the
    generated unlabelled shards (class-major, as :func:`source_files`), or the files
    ``distillation.unlabelled.files`` names (a directory or glob, as ``data.hls4ml.files``)."""
    if not unlabelled_on(cfg):
        return []
    if cfg["data"]["source"] == "generate":
        g = cfg["data"]["generate"]
        return [
            paths.fill(results, paths.RAW_UNLABELLED_SHARD, cls=cls, shard=shard)
            for cls in g["classes"]
            for shard in range(unlabelled_shards(cfg))
        ]
    pattern = str(cfg["distillation"]["unlabelled"].get("files") or "")
    if os.path.isdir(pattern):
        pattern = str(Path(pattern) / "*_150p_*.h5")
    return sorted(glob.glob(pattern)) if pattern else []


def check_unlabelled(cfg: dict) -> None:
    """``distillation.unlabelled``: a source that can give unlabelled jets, files that exist and
    are not the labelled data's, and KD losses that read labels only through the masked CE
    term (``register_loss(..., unlabelled=False)``: ``dkd`` needs every jet's target class).
    The schema has already checked that ``multiple`` is a number >= 0."""
    from jetdistill.learn.losses import LOSSES

    u = cfg["distillation"].get("unlabelled") or {}
    key = "config: distillation.unlabelled"
    if not unlabelled_on(cfg):
        return
    src = cfg["data"]["source"]
    if src == "generic":
        raise InputError(f"{key}.multiple", "0 for data.source generic (unlabelled jets come "
                         "from the generator or from hls4ml files)", repr(u.get("multiple")))  # fmt: skip
    if src == "generate" and u.get("files"):
        raise InputError(f"{key}.files", "no files with data.source generate (the generator "
                         "makes the unlabelled jets)", repr(u["files"]))  # fmt: skip
    if src == "hls4ml":
        files = unlabelled_files(cfg, cfg["results"])
        if not files:
            raise InputError(f"{key}.files", "a directory or glob of hls4ml jet files for the "
                             "unlabelled jets (data.source hls4ml)", repr(u.get("files", "")))  # fmt: skip
        shared = sorted(set(map(os.path.realpath, files))
                        & set(map(os.path.realpath, source_files(cfg, cfg["results"]))))  # fmt: skip
        if shared:
            raise InputError(f"{key}.files", "files disjoint from data.hls4ml.files (unlabelled "
                             "jets must not be labelled ones)", str(shared[:3]))  # fmt: skip
    for i, m in enumerate(cfg["distillation"]["methods"]):
        if m in LOSSES and not LOSSES[m].unlabelled:
            raise InputError(f"config: distillation.methods[{i}] (distillation.unlabelled)",
                             "a KD loss that reads labels only through its CE term "
                             f"({sorted(n for n, sp in LOSSES.items() if sp.unlabelled)})", repr(m))  # fmt: skip


def unlabelled_settings(cfg: dict) -> JobSettings:
    """What an unlabelled view depends on besides its inputs: the multiple and the seed that
    picks rows of user files."""
    return job_settings({"multiple": unlabelled_multiple(cfg),
                         "seed": int(cfg["data"]["splits"]["seed"])})  # fmt: skip


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
    grid = [
        QATJob(s, mode, int(b), fmt_num(sp), int(seed), fmt_num(cost))
        for s, mode, b, sp, cost, seed in itertools.product(
            compression_students(cfg), c["modes"], c["bits"], c["sparsities"],
            c.get("cost_penalties", [0.0]), c["seeds"],
        )
    ]  # fmt: skip
    points = [
        QATJob(p["student"], mode, int(p["bits"]), fmt_num(p["sparsity"]), int(seed),
               fmt_num(p.get("cost_penalty", 0.0)))
        for p in c.get("points") or [] for mode in c["modes"] for seed in c["seeds"]
    ]  # fmt: skip
    return list(dict.fromkeys([*grid, *points]))


def kd_reference(cfg: dict, student: str, seed: int) -> KDJob:
    """The float KD student a QAT+KD job fine-tunes from (same student, seed, KD settings)."""
    kd = cfg["compression"]["kd"]
    return KDJob(student, compression_teacher(cfg), kd["method"], fmt_num(kd["temperature"]),
                 fmt_num(kd["alpha"]), int(seed))  # fmt: skip


def fpga_jobs(cfg: dict) -> list[QATJob]:
    f = cfg["fpga"]
    if not f.get("enabled", True) or not cfg["compression"].get("enabled", True):
        return []
    return [
        QATJob(t["student"], t["mode"], int(t["bits"]), fmt_num(t["sparsity"]), int(t.get("seed", 0)),
               fmt_num(t.get("cost_penalty", 0.0)))
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


# --------------------------------------------------------------------------- job settings
# Rules pass these leaf values as params, never a whole config section. Snakemake reruns a
# job whose params changed, so each job gets exactly the settings that change its result:
# extending a sweep list (bits, sparsities, modes, seeds, shards, fpga targets, ...) then
# plans the new jobs only, while changing e.g. training.qat.lr reruns every QAT job.
# Every dict a rule passes is a JobSettings (through job_settings): Snakemake compares a
# param by its repr, and a JobSettings' repr is canonical, so only values decide a rerun.


def canonical_text(value: Any) -> str:
    """The text a job setting is compared by: mapping keys sorted, numbers by value.

    A config written back in another key order (``yaml.safe_dump`` sorts keys) or with
    ``1`` for ``1.0`` or ``1.0e-03`` for ``0.001`` gives the same text; any other change of a
    value gives another. Integral numbers are written as integers (``4.0`` -> ``4``), others
    by their shortest round-trip form (``repr(float)``); bools stay ``True``/``False``.
    """
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        x = float(value)
        return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    if isinstance(value, dict):
        items = sorted((str(k), canonical_text(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical_text(v) for v in value) + "]"
    return repr(value)


class JobSettings(dict):
    """A job's settings (a plain dict to the job) whose ``repr`` is :func:`canonical_text`.

    Snakemake decides "Params have changed" by comparing the ``repr`` of each param with
    the one it recorded, and a dict's ``repr`` follows its key order and spells ``1`` and
    ``1.0`` differently. The content is left as the config gave it (jobs read keys by name,
    so key order never changes a result); only the compared text is canonical.
    :class:`jetdistill.jobs.context.JobContext` turns it back into a plain dict.
    """

    def __repr__(self) -> str:
        return canonical_text(self)


def job_settings(value: dict[str, Any]) -> JobSettings:
    """``value`` as a job param Snakemake compares canonically (:class:`JobSettings`)."""
    return JobSettings(value)


#: ``fpga`` keys that are hls4ml settings (jetdistill.fpga.hls.HLSConfig; a test keeps them equal).
HLS_KEYS: tuple[str, ...] = (
    "backend", "io_type", "strategy", "reuse_factor", "clock_period_ns", "part",
    "agreement_tolerance", "vendor",
)  # fmt: skip


def shard_settings(cfg: dict) -> JobSettings:
    """What one generated shard depends on: ``data.generate`` without the shard count and the
    class list (a shard's seed hashes its class and index, so adding shards or classes leaves
    the existing ones as they are)."""
    g = cfg["data"]["generate"]
    return job_settings({k: v for k, v in g.items() if k not in ("shards", "classes")})


def data_settings(cfg: dict) -> JobSettings:
    """``data`` as the split and view jobs read it: the generator's knobs are left out (they
    reach these jobs through the shard files), its class list kept (it names the classes)."""
    data = {k: v for k, v in cfg["data"].items() if k != "generate"}
    if data["source"] == "generate":
        data["generate"] = {"classes": list(cfg["data"]["generate"]["classes"])}
    return job_settings(data)


def kd_settings(
    cfg: dict, method: str, temperature: float | str, alpha: float | str
) -> JobSettings:
    """The KD loss of one job: method, T, alpha and the method's own hyper-parameters
    (registered defaults overridden by ``distillation.loss_params.<method>``)."""
    from jetdistill.learn.losses import loss_params

    given = (cfg["distillation"].get("loss_params") or {}).get(method)
    return job_settings({
        "method": method,
        "temperature": float(temperature),
        "alpha": float(alpha),
        "params": loss_params(method, given),
    })  # fmt: skip


def kd_job_settings(cfg: dict, job: KDJob) -> JobSettings:
    """The KD loss of one distillation job (:func:`kd_settings` of its identity), plus its
    consistent augmented views (``views``) when ``distillation.views.k > 0``."""
    out = kd_settings(cfg, job.method, job.T, job.alpha)
    views = views_settings(cfg)
    if views is not None:
        out["views"] = views
    return out


def views_settings(cfg: dict) -> JobSettings | None:
    """``distillation.views`` as the augmenting jobs read it (None when off, ``k == 0``).

    ``solo`` is left out: it says who reads the views, not what they are."""
    v = (cfg.get("distillation") or {}).get("views") or {}
    if int(v.get("k", 0)) <= 0:
        return None
    return job_settings({"k": int(v["k"]), "transforms": list(v.get("transforms", [])),
                         "pt_smear": float(v.get("pt_smear", 0.0)), "seed": int(v.get("seed", 0))})  # fmt: skip


def soft_target_params(cfg: dict) -> dict[str, JobSettings]:
    """Extra params of ``compute_soft_targets``: none when views are off (so a config
    without views reruns nothing), else the views and the data settings to read raw jets."""
    views = views_settings(cfg)
    return {} if views is None else {"views": views, "data": data_settings(cfg)}


def solo_views(cfg: dict, model: str) -> bool:
    """Whether the solo student ``model`` trains on the same augmented views (with labels) as
    the KD students: ``distillation.views.solo`` (default true: the fair twin sees the same
    jets and views), for ``students`` only (baselines have no KD twin)."""
    v = (cfg.get("distillation") or {}).get("views") or {}
    on = views_settings(cfg) is not None and bool(v.get("solo", True))
    return on and model in cfg["students"]


def solo_params(cfg: dict) -> dict[str, Callable[[Any], JobSettings | None]]:
    """Extra params of a solo student: none when views are off (a config without views reruns
    nothing), else ``views``, per job: the views settings where :func:`solo_views`, else None."""
    settings = views_settings(cfg)
    if settings is None:
        return {}
    return {"views": lambda w: settings if solo_views(cfg, w.student) else None}


def check_views_config(cfg: dict) -> None:
    """``distillation.views``: known transform names (did-you-mean), and only constituent
    views for the students and teachers that would read augmented copies."""
    from jetdistill.data.augment import ViewsConfig

    raw = dict((cfg.get("distillation") or {}).get("views") or {})
    raw.pop("solo", None)
    vc = ViewsConfig.from_dict(raw)
    if not vc.enabled or not cfg["distillation"].get("enabled", True):
        return
    if cfg["data"]["source"] == "generic":
        raise InputError("config: distillation.views.k", "0 for data.source=generic (jet "
                         "symmetries need jet constituents)", str(vc.k))  # fmt: skip
    # the views are made of the transfer split only: a larger or unlabelled transfer set
    # would mix augmented and plain jets (not built; refused rather than half-applied)
    if transfer_splits(cfg) != ["transfer"]:
        raise InputError("config: distillation.views.k", "0 when distillation.transfer_splits "
                         "is not [transfer] (views are made of the transfer split only)",
                         str(vc.k))  # fmt: skip
    if unlabelled_on(cfg):
        raise InputError("config: distillation.views.k", "0 when distillation.unlabelled.multiple "
                         "> 0 (views of unlabelled jets are not built)", str(vc.k))  # fmt: skip
    from jetdistill.learn.losses import LOSSES

    if any(m in LOSSES and LOSSES[m].needs_features for m in cfg["distillation"]["methods"]):
        raise InputError("config: distillation.views.k", "0 with a feature loss (the teacher's "
                         "embedding is cached for the original jets only)", str(vc.k))  # fmt: skip
    readers = [*cfg["students"], *(m["model"] for t in used_teachers(cfg)
                                   for m in cfg["teachers"][t]["members"])]  # fmt: skip
    for name in readers:
        view = cfg["models"][name]["view"]
        if cfg["views"][view].get("level", "constituent") != "constituent":
            raise InputError(f"config: distillation.views (model {name}, view {view})",
                             "constituent-level views only (jet-level columns cannot be "
                             "recomputed from transformed constituents)",
                             f"level {cfg['views'][view].get('level')!r}")  # fmt: skip


def qat_settings(cfg: dict, mode: str, sparsity: float | str) -> JobSettings:
    """What a QAT job depends on beyond its wildcards: the quantiser widths, the pruning
    schedule (only when it prunes) and the KD loss (only in mode kd)."""
    c = cfg["compression"]
    out: dict[str, Any] = {
        "input_bits": int(c["input_bits"]),
        "accumulator_bits": int(c["accumulator_bits"]),
    }
    # non-default values only, so the jobs of earlier runs keep their settings
    if c.get("input_scaling", "tensor") != "tensor":
        out["input_scaling"] = c["input_scaling"]
    if c.get("activation_bits") is not None:
        out["activation_bits"] = int(c["activation_bits"])
    if float(sparsity) > 0:
        out["pruning"] = dict(c["pruning"])
    if mode == "kd":
        kd = c["kd"]
        out["kd"] = kd_settings(cfg, kd["method"], kd["temperature"], kd["alpha"])
        if c.get("kd_targets", "teacher") != "teacher":
            out["kd_targets"] = c["kd_targets"]
    return job_settings(out)


def qat_job_settings(cfg: dict, job: QATJob) -> JobSettings:
    """The settings of one QAT job (:func:`qat_settings` of its identity)."""
    return qat_settings(cfg, job.mode, job.sparsity)


def hls_settings(cfg: dict, *, float_model: bool = False) -> JobSettings:
    """hls4ml settings of a conversion job (not ``fpga.targets``/``float_students``)."""
    f = cfg["fpga"]
    out = {k: f[k] for k in HLS_KEYS}
    out["test_samples"] = int(f["test_samples"])
    if float_model:
        out["float_precision"] = f["float_precision"]
    return job_settings(out)


def rtl_settings(cfg: dict) -> JobSettings:
    """Settings of the open-source RTL estimate (da4ml, Verilator, Yosys ``synth_xilinx``).

    ``part`` goes into da4ml's generated project (for a vendor build); Yosys maps to generic
    Xilinx primitives, not to one device, so the LUT/FF counts do not depend on it."""
    f = cfg["fpga"]
    return job_settings({
        "clock_period_ns": float(f["clock_period_ns"]),
        "test_samples": int(f["test_samples"]),
        "yosys": bool(f["yosys"]),
        "part": f["part"],
    })  # fmt: skip


def frontier_kd_reference(cfg: dict) -> JobSettings:
    """Which float KD students the frontier compares QAT+KD with (``compression.kd``)."""
    kd = cfg["compression"]["kd"]
    return job_settings({
        "method": kd["method"],
        "temperature": float(kd["temperature"]),
        "alpha": float(kd["alpha"]),
    })  # fmt: skip


# --------------------------------------------------------------------------- data
def source_files(cfg: dict, results: str) -> list[str]:
    """Input files of the data stage, in global order (their concatenation defines jet indices)."""
    data = cfg["data"]
    src = data["source"]
    if src == "generate":
        g = data["generate"]
        return [
            paths.fill(results, paths.RAW_SHARD, cls=cls, shard=shard)
            for cls in g["classes"]
            for shard in range(int(g["shards"]))
        ]
    if src == "hls4ml":
        pattern = data["hls4ml"]["files"]
        if not pattern:
            raise InputError(
                "config: data.hls4ml.files", "a directory or glob of hls4ml jet files (*_150p_*.h5)"
            )
        if os.path.isdir(pattern):
            pattern = str(Path(pattern) / "*_150p_*.h5")
        files = sorted(glob.glob(pattern))
        if not files:
            raise InputError(
                f"config: data.hls4ml.files ({pattern})", "at least one matching .h5 file", "none"
            )
        return files
    path = data["generic"]["file"]
    if not path:
        raise InputError(
            "config: data.generic.file", "the path of an HDF5 file with features and labels"
        )
    if not os.path.exists(path):
        raise InputError(
            f"{path}", "an existing HDF5 file (config data.generic.file)", "missing file"
        )
    return [path]


# --------------------------------------------------------------------------- checks
def did_you_mean(name: Any, known: Any) -> str:
    """`` (did you mean 'x'?)`` with the known name nearest to ``name`` (difflib), or ''."""
    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _ref(where: str, name: str, known: Any) -> None:
    if name not in known:
        raise InputError(
            f"config: {where}", f"one of {sorted(known)}", repr(name) + did_you_mean(name, known)
        )


def check_config(cfg: dict, *, root: str | os.PathLike[str] | None = None) -> None:
    """Cross-reference checks the schema cannot express; raises InputError naming the field.

    ``root``: the project directory Snakemake runs in (default: the current directory),
    against which ``results`` must stay unless ``allow_results_outside_project`` is set.
    """
    check_results_dir(cfg, root)
    check_generated_strings(cfg)
    check_model_blocks(cfg)
    views, models, teachers = cfg["views"], cfg["models"], cfg["teachers"]
    data = cfg["data"]
    # only what the DAG uses is cross-checked: entries of the default config that a user's
    # config leaves unused (a default teacher, a jet view on generic data) cannot break it
    for i, t in enumerate(cfg["distillation"].get("teachers", [])):
        _ref(f"distillation.teachers[{i}]", t, teacher_names(cfg))
    check_losses(cfg)
    check_views_config(cfg)
    check_unlabelled(cfg)
    c = cfg["compression"]
    if c.get("enabled", True) and "kd" in c.get("modes", ()) and c.get("teacher"):
        _ref("compression.teacher", c["teacher"], teacher_names(cfg))
    check_specialists(cfg)
    for name in member_teachers(cfg):
        for i, m in enumerate(teachers[name]["members"]):
            _ref(f"teachers.{name}.members[{i}].model", m["model"], models)
    for i, s in enumerate(cfg["students"]):
        _ref(f"students[{i}]", s, models)
    for i, s in enumerate(baselines(cfg)):
        _ref(f"baselines[{i}]", s, models)
    for name in sorted(_used_models(cfg)):
        _ref(f"models.{name}.view", models[name]["view"], views)
    check_views(cfg)
    if data["source"] == "generic":
        for name, m in models.items():
            if m["type"] != "mlp" and name in _used_models(cfg):
                raise InputError(
                    f"config: models.{name}.type", "mlp for data.source=generic", m["type"]
                )
    if data["source"] == "generate":
        g = data["generate"]
        if g["pt_min"] >= g["pt_max"]:
            raise InputError(
                "config: data.generate.pt_min", f"< pt_max ({g['pt_max']})", str(g["pt_min"])
            )
    sp = data["splits"]
    total = sum(sp[s] for s in SPLITS)
    if sp["overlap_transfer_with_teacher"]:
        total -= sp["transfer"]
    if total > 1.0 + 1e-9:
        raise InputError("config: data.splits", "fractions summing to <= 1", f"{total:g}")
    for s in SPLITS:
        if sp[s] <= 0:
            raise InputError(f"config: data.splits.{s}", "a fraction > 0", str(sp[s]))
    check_exclude_from_transfer(cfg)
    check_transfer_splits(cfg)
    check_student_budget(cfg)
    check_per_student_training(cfg)
    if c.get("enabled", True):
        check_cost_penalties(cfg)
        for i, s in enumerate(c.get("students", [])):
            _ref(f"compression.students[{i}]", s, cfg["students"])
        check_quant_students(cfg)
        for i, p in enumerate(c.get("points") or []):
            _ref(f"compression.points[{i}].student", p["student"], compression_students(cfg))
        if "kd" in c["modes"] and not cfg["distillation"].get("enabled", True):
            raise InputError(
                "config: compression.modes", "no 'kd' mode when distillation.enabled is false"
            )
        if c["init"] == "finetune" and "kd" in c["modes"]:
            ref_kd = cfg["compression"]["kd"]
            d = cfg["distillation"]
            if (ref_kd["method"] not in d["methods"]
                    or fmt_num(ref_kd["temperature"]) not in {fmt_num(x) for x in d["temperatures"]}
                    or fmt_num(ref_kd["alpha"]) not in {fmt_num(x) for x in d["alphas"]}):  # fmt: skip
                raise InputError(
                    "config: compression.kd",
                    "method/temperature/alpha among distillation.methods/temperatures/alphas "
                    "(init=finetune starts from that float KD student)",
                    str(ref_kd),
                )
        if c.get("kd_targets", "teacher") == "float_student" and c["init"] != "finetune":
            raise InputError(
                "config: compression.kd_targets",
                "teacher (float_student reads the float student that init: finetune starts from)",
                f"float_student with compression.init: {c['init']}",
            )
        for s in c["seeds"]:
            if c["init"] == "finetune" and s not in cfg["seeds"]:
                raise InputError(
                    "config: compression.seeds",
                    f"seeds among seeds {cfg['seeds']} (init=finetune)",
                    str(s),
                )
    grid = set(qat_jobs(cfg))  # whole identities: a new QAT field is checked too
    for i, j in enumerate(fpga_jobs(cfg)):
        if j not in grid:
            raise InputError(
                f"config: fpga.targets[{i}]",
                "a point of the compression grid (compression.students x modes x bits x "
                "sparsities x cost_penalties x seeds) or of compression.points x modes x seeds",
                str(as_wildcards(j)),
            )
    if cfg["fpga"].get("enabled", True):  # a disabled stage is not validated
        for i, s in enumerate(cfg["fpga"].get("float_students", [])):
            _ref(f"fpga.float_students[{i}]", s, cfg["students"])
        if c.get("enabled", True):
            for i, s in enumerate(cfg["fpga"].get("frontier_seeds") or []):
                if s not in c["seeds"]:
                    raise InputError(
                        f"config: fpga.frontier_seeds[{i}]",
                        f"seeds among compression.seeds {c['seeds']} (QAT points to estimate)",
                        str(s),
                    )
        check_chip_targets(cfg)
    lc = cfg.get("learning_curve") or {}
    if lc.get("enabled", False) and lc.get("student"):
        _ref("learning_curve.student", lc["student"], cfg["students"])


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


def _chip_types_text(cfg: dict) -> str:
    hls, rtl = chip_model_types("hls4ml"), chip_model_types("rtl")
    off = "" if cfg["fpga"].get("rtl", True) else " (rtl is off: fpga.rtl is false)"
    return f"hls4ml: {hls}; rtl: {rtl}{off}"


def check_cost_penalties(cfg: dict) -> None:
    """``compression.cost_penalties``: a list of finite numbers >= 0 (the strengths of
    :class:`jetdistill.compress.precision.CostPenalty`; 0 trains without the term). The
    schema refuses negatives and non-numbers too; this also catches ``.inf``/``.nan`` and
    callers that bypass the schema, and names the entry."""
    values = cfg["compression"].get("cost_penalties", [0.0])
    if not isinstance(values, list) or not values:
        raise InputError("config: compression.cost_penalties", "a non-empty list of numbers >= 0",
                         repr(values))  # fmt: skip
    for i, v in enumerate(values):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or not 0.0 <= float(v) < float("inf"):
            raise InputError(f"config: compression.cost_penalties[{i}]", "a finite number >= 0",
                             repr(v))  # fmt: skip


def check_quant_students(cfg: dict) -> None:
    """``compression.students`` must name students whose model type has a quantised twin
    (the registry's ``quant_twin``; read without importing Brevitas, which parsing avoids)."""
    from jetdistill.learn.models import MODEL_REGISTRY

    twins = [n for n, m in MODEL_REGISTRY.items() if m.quant_twin]
    for i, s in enumerate(cfg["compression"].get("students", [])):
        mtype = cfg["models"][s]["type"]
        if mtype not in twins:
            raise InputError(
                f"config: compression.students[{i}]",
                f"a student whose model type has a quantised twin ({twins})",
                f"{s!r} (models.{s}.type: {mtype})",
            )


def check_chip_targets(cfg: dict) -> None:
    """Every ``fpga.targets[i].student`` must reach the chip through a backend that runs, and
    every ``fpga.float_students`` entry must convert with hls4ml (the float path is hls4ml's).

    Why here: a type without a converter, or a spec its converter cannot build (the type's
    registered ``chip_limits``: a mean pool that needs a divider), would otherwise pass
    ``snakemake -n`` and fail inside the conversion job after QAT has run.
    """
    from jetdistill.learn.models import MODEL_REGISTRY, resolve_spec

    targets = cfg["fpga"].get("targets", []) if cfg["compression"].get("enabled", True) else []
    for i, t in enumerate(targets):
        s = t["student"]
        if s not in cfg["models"]:
            continue
        if not fpga_backends(cfg, s):
            raise InputError(
                f"config: fpga.targets[{i}].student",
                f"a student whose model type reaches the chip ({_chip_types_text(cfg)})",
                f"{s!r} (models.{s}.type: {cfg['models'][s]['type']})",
            )
        limits = MODEL_REGISTRY[cfg["models"][s]["type"]].chip_limits
        view = cfg["views"].get(cfg["models"][s].get("view"), {})
        problem = limits and limits(
            resolve_spec(cfg["models"][s], name=s), view.get("n_constituents")
        )
        if problem:
            key, expected, got = problem
            raise InputError(f"config: models.{s}.{key} (fpga.targets[{i}])", expected, got)
    for i, s in enumerate(cfg["fpga"].get("float_students", [])):
        mtype = cfg["models"][s]["type"]
        if mtype not in chip_model_types("hls4ml"):
            raise InputError(
                f"config: fpga.float_students[{i}]",
                f"a student whose model type converts with hls4ml ({chip_model_types('hls4ml')})",
                f"{s!r} (models.{s}.type: {mtype})",
            )


def check_losses(cfg: dict) -> None:
    """KD method names and ``distillation.loss_params`` against the loss registry
    (:mod:`jetdistill.learn.losses`), so a new loss needs no schema change."""
    from jetdistill.learn.losses import LOSSES, loss_params

    # feature losses (``hint``) read the teacher embedding compute_soft_targets caches; QAT
    # (compression.kd) does not feed features to its Brevitas students, so it takes logit losses
    kd_losses = sorted(n for n, spec in LOSSES.items() if spec.needs_teacher)
    logit_losses = [n for n in kd_losses if not LOSSES[n].needs_features]
    for i, m in enumerate(cfg["distillation"]["methods"]):
        _ref(f"distillation.methods[{i}]", m, kd_losses)
    _ref("compression.kd.method", cfg["compression"]["kd"]["method"], logit_losses)
    for name, given in (cfg["distillation"].get("loss_params") or {}).items():
        _ref("distillation.loss_params", name, kd_losses)
        loss_params(name, given)


def check_views(cfg: dict) -> None:
    """Every key of every view against the data layout, with the nearest valid name.

    Why while parsing: Snakemake deletes a job's outputs before it runs the job, so a typo
    that only ``prepare_view`` finds (``views.c4.log_features: [j1_ptrell]``) cost a finished
    run the view's five files. ``features`` and ``log_features`` must be constituent features
    of the layout (``level: constituent``) or jet-level columns without the truth labels
    (``level: jet``), and the view must build as :class:`~jetdistill.data.prepare.ViewConfig`
    (``log_features`` among ``features``, the enums and ranges). Jet sources check every view,
    as before; generic data only the views a model uses (generic data name no features, so
    the default config's jet views cannot apply to them).
    """
    from jetdistill.data.prepare import ViewConfig

    views = cfg["views"]
    generic = cfg["data"]["source"] == "generic"
    for vname in used_views(cfg) if generic else list(views):
        v = views[vname]
        if not generic:
            if not v.get("features"):
                raise InputError(f"config: views.{vname}.features",
                                 f"a non-empty list of constituent features among {list(PARTICLE_FEATURES)}",
                                 "none (only data.source=generic may omit them)")  # fmt: skip
            known = PARTICLE_FEATURES
            if v.get("level") == "jet":  # the one-hot truth columns would leak the label
                known = tuple(f for f in JET_FEATURES if f not in (*LABEL_COLUMNS, "j_undef"))
            for key in ("features", "log_features"):
                for f in v.get(key) or []:
                    _ref(f"views.{vname}.{key}", f, known)
        ViewConfig.from_dict(v, vname)


def check_exclude_from_transfer(cfg: dict) -> None:
    """``data.splits.exclude_from_transfer`` names classes of the data and leaves the transfer
    set at least one: the generated classes (``data.generate.classes``), the five hls4ml
    classes, or ``data.generic.class_names`` (unchecked when generic data name no classes)."""
    data = cfg["data"]
    excluded = list(data["splits"].get("exclude_from_transfer") or [])
    if not excluded:
        return
    known: list[str] = []
    if data["source"] == "generate":
        known = [k for k in CLASS_NAMES if k in data["generate"]["classes"]]
    elif data["source"] == "hls4ml":
        known = list(CLASS_NAMES)
    else:
        known = [str(k) for k in (data.get("generic") or {}).get("class_names") or []]
    if not known:
        return
    for i, name in enumerate(excluded):
        _ref(f"data.splits.exclude_from_transfer[{i}]", name, known)
    if set(known) <= set(excluded):
        raise InputError(
            "config: data.splits.exclude_from_transfer",
            f"at least one of the classes {known} left in the transfer set",
            str(excluded),
        )


def check_transfer_splits(cfg: dict) -> None:
    """``distillation.transfer_splits``: known student splits, each once, never ``val`` or
    ``test`` (the KD loss on val stops training and test is the reported accuracy: a student
    trained on either would be judged on jets it learned), and ``teacher_train`` only where
    it adds jets the transfer set does not already hold and classes it was meant to lack."""
    key = "config: distillation.transfer_splits"
    chosen = list(cfg["distillation"].get("transfer_splits") or ["transfer"])
    for i, name in enumerate(chosen):
        if name in ("val", "test"):
            raise InputError(
                f"{key}[{i}]",
                f"splits among {list(STUDENT_SPLITS)} ({name!r} would leak: "
                + ("early stopping watches it" if name == "val" else "it is the reported accuracy")
                + ")",
                repr(name),
            )
        _ref(f"distillation.transfer_splits[{i}]", name, STUDENT_SPLITS)
    dup = sorted({n for n in chosen if chosen.count(n) > 1})
    if dup:
        raise InputError(key, "each split at most once", f"{chosen} (repeated: {dup})")
    if "teacher_train" in chosen:
        sp = cfg["data"]["splits"]
        if sp.get("overlap_transfer_with_teacher"):
            raise InputError(
                key,
                "no 'teacher_train' with data.splits.overlap_transfer_with_teacher: true "
                "(the transfer jets are drawn from it, so jets would repeat)",
                str(chosen),
            )
        if sp.get("exclude_from_transfer"):
            raise InputError(
                key,
                "no 'teacher_train' with data.splits.exclude_from_transfer (it would give the "
                f"students the excluded classes {list(sp['exclude_from_transfer'])} back)",
                str(chosen),
            )


#: keys of ``training.student`` and ``training.distill`` that are a student's training budget
BUDGET_KEYS: tuple[str, ...] = ("epochs", "patience")


def student_training(cfg: dict, role: str, student: str) -> dict:
    """``training.<role>`` (``student``: solo, ``distill``: KD) for one model, with its
    ``training.per_student`` entry on top. Why per student: one schedule does not fit every
    student (the set student still improves at epoch 40 where mlp16 has stopped at 18), and
    the override applies to both roles, so a KD student and its solo twin keep one budget."""
    own = (cfg["training"].get("per_student") or {}).get(student) or {}
    return {**cfg["training"][role], **own}


def check_per_student_training(cfg: dict) -> None:
    """``training.per_student`` names defined models (an entry for a model the run does not
    train is unused, like the model itself: a config that swaps the students keeps working).
    With ``replace: [models]`` the default config's entries may name models the user's
    config no longer defines (the default's ``set16``): those are unused, not typos."""
    replaced = "models" in (cfg.get("replace") or [])
    for name in cfg["training"].get("per_student") or {}:
        if replaced and name not in cfg["models"]:
            continue
        _ref(f"training.per_student.{name}", name, cfg["models"])


def check_student_budget(cfg: dict) -> None:
    """A KD student and its solo twin get the same budget (``epochs`` cap and early-stopping
    ``patience``): a KD gain measured against a solo student stopped earlier is partly a
    gain of training longer (Stanton et al. 2021: agreement grows with training length)."""
    if not cfg["distillation"].get("enabled", True):
        return
    tr = cfg["training"]
    for k in BUDGET_KEYS:
        solo, kd = tr["student"].get(k), tr["distill"].get(k)
        if solo != kd:
            raise InputError(
                f"config: training.distill.{k}",
                f"the same value as training.student.{k} ({solo!r}): a KD student and its "
                "solo twin get the same training budget",
                repr(kd),
            )


def check_generated_strings(cfg: dict) -> None:
    """``fpga.part`` and ``fpga.float_precision`` whole, as hls4ml will get them.

    The schema's patterns end in ``$``, which in Python's ``re.search`` (what the schema
    validator runs) also matches before a final newline, so a YAML block scalar
    (``part: |``) passed with ``\\n`` at the end, to reach hls4ml's Tcl hours later. Here the
    patterns of :mod:`jetdistill.fpga.hls` must match the full string.
    """
    from jetdistill.fpga.hls import SAFE_PART, SAFE_PRECISION, check_generated_string

    for key, pattern in (("part", SAFE_PART), ("float_precision", SAFE_PRECISION)):
        value = cfg["fpga"].get(key)
        if isinstance(value, str) and value != value.strip():
            raise InputError(
                f"config: fpga.{key}",
                "a value without surrounding whitespace or line breaks (a YAML block scalar, "
                "'|' or '>', ends in a newline: write the value on one line)",
                repr(value),
            )
        check_generated_string(f"config: fpga.{key}", value, pattern)


#: Number literals as a config file writes them (YAML 1.1 wants a dot in 1.0e-3; 1e-3 counts too).
_INT_TEXT = re.compile(r"[-+]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_BOOL_TEXT = {"true": True, "false": False}
_NULL_TEXT = ("null", "Null", "NULL", "~")


def _schema_node(schema: dict, node: Any) -> dict:
    """``node`` with its local ``$ref`` (``#/definitions/x``) merged in."""
    if not isinstance(node, dict):
        return {}
    while "$ref" in node:
        target: Any = schema
        for part in str(node["$ref"]).lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _child(schema: dict, node: dict, key: Any) -> dict | None:
    """The schema of ``key`` inside ``node`` (a property, an ``additionalProperties`` entry or
    an array item), or None where the schema says nothing about it (untyped)."""
    if isinstance(key, int):
        sub = node.get("items")
    else:
        sub = (node.get("properties") or {}).get(key, node.get("additionalProperties"))
    return _schema_node(schema, sub) if isinstance(sub, dict) else None


def _coerce_text(text: str, types: list[str]) -> tuple[bool, Any]:
    """(True, value) if ``text`` is a literal of one of the JSON ``types`` (never when
    ``string`` is allowed: then the text is what was meant)."""
    if "string" in types:
        return False, text
    if ("integer" in types or "number" in types) and _INT_TEXT.fullmatch(text):
        return True, int(text)
    if "number" in types and _FLOAT_TEXT.fullmatch(text):
        return True, float(text)
    if "boolean" in types and text.lower() in _BOOL_TEXT:
        return True, _BOOL_TEXT[text.lower()]
    if "null" in types and text in _NULL_TEXT:
        return True, None
    return False, text


def _looks_typed(text: str) -> bool:
    """Whether a config file would read ``text`` as something other than a string."""
    return bool(
        _INT_TEXT.fullmatch(text) or _FLOAT_TEXT.fullmatch(text)
        or text.lower() in _BOOL_TEXT or text in _NULL_TEXT
    )  # fmt: skip


def coerce_cli_numbers(
    config: dict, schema_path: str | os.PathLike[str], cli: Any = None
) -> list[str]:
    """Give nested ``--config`` values back the types the schema asks for; returns the keys
    changed (dotted). Call it before ``validate()``.

    Why: Snakemake parses a nested ``--config`` value with YAML's BaseLoader, which keeps
    every scalar inside it a string, so ``--config 'tracking={"timeout_s": 5}'`` reached the
    schema as ``'5'`` and was refused (``'5' is not of type 'number'``). Guided by the schema,
    a string becomes an integer, number, boolean or null only where the schema allows that
    type and no string, so a string meant as one (a class named "3") is never touched. With
    ``cli`` (``workflow.config_settings.config``, the ``--config`` values alone) only values
    that came from the command line are coerced: a quoted ``"5"`` in a config file stays the
    schema error it is. Where the schema does not type a key (``models.<name>`` hyper-
    parameters, ``distillation.loss_params``), guessing is unsafe: a command-line string that a
    config file would read as a number, boolean or null is an InputError saying to put it in
    a config file.
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    changed: list[str] = []

    def walk(value: Any, given: Any, node: dict | None, where: str) -> Any:
        if isinstance(value, dict) and isinstance(given, Mapping):
            for key in list(value):
                if key in given:
                    sub = _child(schema, node, key) if node is not None else None
                    value[key] = walk(value[key], given[key], sub, f"{where}.{key}".lstrip("."))
        elif isinstance(value, list) and isinstance(given, list) and len(value) == len(given):
            for i in range(len(value)):
                sub = _child(schema, node, i) if node is not None else None
                value[i] = walk(value[i], given[i], sub, f"{where}[{i}]")
        elif isinstance(value, str) and value == given:
            types = (node or {}).get("type")
            if node is None or types is None:
                if _looks_typed(value):
                    raise InputError(
                        f"config: {where} (from --config)",
                        "a value in a config file (--configfile): Snakemake passes values "
                        "nested in --config as strings, and the schema does not say this "
                        "key's type",
                        repr(value),
                    )
                return value
            ok, out = _coerce_text(value, types if isinstance(types, list) else [types])
            if ok:
                changed.append(where)
                return out
        return value

    walk(config, config if cli is None else cli, _schema_node(schema, schema), "")
    return changed


def check_model_blocks(cfg: dict) -> None:
    """Validate every ``models.NAME`` block's hyper-parameters now, as the model builder will.

    The schema only knows ``type`` and ``view``; without this a typo (``models.mlp.hiden``)
    passes ``snakemake -n`` and fails only once the training job starts, after Snakemake
    has already deleted that job's earlier outputs (it removes a job's outputs before
    running it). Imports torch (through ``jetdistill.learn.models``), about a second.
    """
    from jetdistill.learn.models import resolve_spec

    for name, spec in cfg["models"].items():
        resolve_spec(spec, name=name)


def check_results_dir(cfg: dict, root: str | os.PathLike[str] | None = None) -> None:
    """``results`` must lie inside the project unless ``allow_results_outside_project`` is true.

    Lexical check (``..`` and absolute paths), so a ``results`` symlink the user made inside
    the project (to scratch space) is fine, but ``results: ../outside`` or ``/etc/x`` is not
    silently accepted: every rule writes and replaces files there. Braces are refused
    whatever the opt-in (``results: "res{x}"`` was a KeyError in rules/data.smk).
    """
    results = str(cfg["results"])
    if any(ch in results for ch in "{}"):
        raise InputError(
            "config: results",
            "a folder name without '{' or '}' (every output path starts with it, and Snakemake "
            "reads braces in a path as wildcards)",
            repr(results),
        )
    if cfg.get("allow_results_outside_project", False):
        return
    base = os.path.abspath(root if root is not None else os.getcwd())
    res = os.path.normpath(os.path.join(base, str(cfg["results"])))
    if os.path.commonpath([base, res]) != base or res == base:
        raise InputError(
            "config: results",
            f"a folder inside the project {base} (or allow_results_outside_project: true)",
            repr(cfg["results"]),
        )


def _used_models(cfg: dict) -> set[str]:
    used = set(cfg["students"]) | set(baselines(cfg))
    for t in member_teachers(cfg):
        used.update(m["model"] for m in cfg["teachers"][t]["members"])
    return used


def used_views(cfg: dict) -> list[str]:
    return sorted({cfg["models"][m]["view"] for m in _used_models(cfg)})
