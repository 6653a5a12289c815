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
    for name in used_teachers(cfg):
        for i, m in enumerate(cfg["teachers"][name]["members"]):
            out.append(TeacherMember(name, i, m["model"], int(m.get("seed", i))))
    return out


def member(cfg: dict, teacher: str, member: int | str) -> TeacherMember:
    m = cfg["teachers"][teacher]["members"][int(member)]
    return TeacherMember(teacher, int(member), m["model"], int(m.get("seed", int(member))))


def distill_teachers(cfg: dict) -> list[str]:
    return list(cfg["distillation"].get("teachers") or list(cfg["teachers"]))


def fidelity_teacher(cfg: dict) -> str:
    """The teacher every student (solo ones included) is compared with for fidelity metrics."""
    return distill_teachers(cfg)[0]


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


def compression_students(cfg: dict) -> list[str]:
    c = cfg["compression"]
    if c.get("students"):
        return list(c["students"])
    return [s for s in cfg["students"] if cfg["models"][s]["type"] == "mlp"]


def compression_teacher(cfg: dict) -> str:
    return cfg["compression"].get("teacher") or fidelity_teacher(cfg)


def qat_jobs(cfg: dict) -> list[QATJob]:
    c = cfg["compression"]
    if not c.get("enabled", True):
        return []
    return [
        QATJob(s, mode, int(b), fmt_num(sp), int(seed))
        for s, mode, b, sp, seed in itertools.product(
            compression_students(cfg), c["modes"], c["bits"], c["sparsities"], c["seeds"]
        )
    ]


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
        QATJob(
            t["student"], t["mode"], int(t["bits"]), fmt_num(t["sparsity"]), int(t.get("seed", 0))
        )
        for t in f["targets"]
    ]


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
    tm = member(cfg, teacher, 0)
    student = lc.get("student") or cfg["students"][0]
    seeds = [int(s) for s in lc.get("seeds", [0])]
    kd = cfg["compression"]["kd"]
    points = [CurvePoint(f"teacher {teacher} ({tm.model})", "teacher", f, tm) for f in fractions]
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
    """The KD loss of one distillation job (:func:`kd_settings` of its identity)."""
    return kd_settings(cfg, job.method, job.T, job.alpha)


def qat_settings(cfg: dict, mode: str, sparsity: float | str) -> JobSettings:
    """What a QAT job depends on beyond its wildcards: the quantiser widths, the pruning
    schedule (only when it prunes) and the KD loss (only in mode kd)."""
    c = cfg["compression"]
    out: dict[str, Any] = {
        "input_bits": int(c["input_bits"]),
        "accumulator_bits": int(c["accumulator_bits"]),
    }
    if float(sparsity) > 0:
        out["pruning"] = dict(c["pruning"])
    if mode == "kd":
        kd = c["kd"]
        out["kd"] = kd_settings(cfg, kd["method"], kd["temperature"], kd["alpha"])
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
        _ref(f"distillation.teachers[{i}]", t, teachers)
    check_losses(cfg)
    c = cfg["compression"]
    if c.get("enabled", True) and "kd" in c.get("modes", ()) and c.get("teacher"):
        _ref("compression.teacher", c["teacher"], teachers)
    for name in used_teachers(cfg):
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
    if c.get("enabled", True):
        for i, s in enumerate(c.get("students", [])):
            _ref(f"compression.students[{i}]", s, cfg["students"])
        check_quant_students(cfg)
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
                "a point of the compression grid (compression.students x modes x bits x sparsities x seeds)",
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

    # feature losses (``hint``) need a cached teacher embedding, which no rule writes yet:
    # refused here rather than failing inside the job after its old outputs are deleted
    kd_losses = sorted(
        n for n, spec in LOSSES.items() if spec.needs_teacher and not spec.needs_features
    )
    for i, m in enumerate(cfg["distillation"]["methods"]):
        _ref(f"distillation.methods[{i}]", m, kd_losses)
    _ref("compression.kd.method", cfg["compression"]["kd"]["method"], kd_losses)
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
    for t in used_teachers(cfg):
        used.update(m["model"] for m in cfg["teachers"][t]["members"])
    return used


def used_views(cfg: dict) -> list[str]:
    return sorted({cfg["models"][m]["view"] for m in _used_models(cfg)})
