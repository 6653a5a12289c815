"""Semantic config checks: what the JSON schema cannot express.

The schema checks types, ranges and enums; :func:`check_config` checks cross references
between sections, feature names, split fractions and the training budgets, raising an
InputError that names the field (with the nearest valid name, :func:`did_you_mean`). The
checks of the distillation extras, compression and FPGA stages are in
:mod:`jetdistill.plan.checks_stages`.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from jetdistill.data.layout import CLASS_NAMES, JET_FEATURES, LABEL_COLUMNS, PARTICLE_FEATURES
from jetdistill.errors import InputError
from jetdistill.identity import fmt_num
from jetdistill.plan.arms import arm_config, arm_names, check_arms
from jetdistill.plan.checks_stages import (
    check_chip_targets,
    check_cost_penalties,
    check_quant_students,
    check_specialists,
    check_unlabelled,
    check_views_config,
)
from jetdistill.plan.checks_values import (
    check_finite,
    check_job_paths,
    check_names,
    check_pthat_window,
    check_unique_values,
)
from jetdistill.plan.frontier import check_per_weight
from jetdistill.plan.grid import (
    BUDGET_KEYS,
    SPLITS,
    STUDENT_SPLITS,
    _used_models,
    as_wildcards,
    baselines,
    compression_students,
    fpga_jobs,
    member_teachers,
    qat_jobs,
    teacher_names,
    used_views,
)
from jetdistill.tracking.config import check_settings as check_tracking_settings


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


def check_arm_students(cfg: dict, arm: str) -> None:
    """The student checks on the config as ``arm``'s jobs read it; the error names the arm."""
    c = arm_config(cfg, arm)
    try:
        for i, t in enumerate(c["distillation"].get("teachers", [])):
            _ref(f"distillation.teachers[{i}]", t, teacher_names(c))
        check_losses(c)
        check_unlabelled(c)
        check_transfer_splits(c)
        check_student_budget(c)
        check_per_student_training(c)
    except InputError as err:
        where = err.where.removeprefix("config: ")
        raise InputError(f"config: distillation.arms.{arm} (as {where})", err.expected,
                         err.got) from err  # fmt: skip


def check_config(cfg: dict, *, root: str | os.PathLike[str] | None = None) -> None:
    """Cross-reference checks the schema cannot express; raises InputError naming the field.

    ``root``: the project directory Snakemake runs in (default: the current directory),
    against which ``results`` must stay unless ``allow_results_outside_project`` is set.
    """
    check_finite(cfg)  # first: NaN compares false, so it passes every later range check
    check_names(cfg)
    check_unique_values(cfg)
    check_results_dir(cfg, root)
    check_tracking_settings(cfg.get("tracking"))  # a secret in tracking.uri, the experiment name
    check_generated_strings(cfg)
    check_model_blocks(cfg)
    check_arms(cfg)
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
        check_pthat_window(cfg)
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
    for arm in arm_names(cfg)[1:]:
        check_arm_students(cfg, arm)
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
        check_per_weight(cfg)
    lc = cfg.get("learning_curve") or {}
    if lc.get("enabled", False) and lc.get("student"):
        _ref("learning_curve.student", lc["student"], cfg["students"])
    check_job_paths(cfg)  # last: it expands the grid the checks above have validated


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
