"""Config checks of the stages: specialists, unlabelled jets, augmented views, compression
and the FPGA targets.

Each refuses, while Snakemake parses the workflow, a setting that would otherwise fail inside
a job hours later; :func:`jetdistill.plan.checks.check_config` calls them.
"""

from __future__ import annotations

import os

from jetdistill.data.layout import CLASS_NAMES
from jetdistill.errors import InputError
from jetdistill.plan.data_files import source_files, unlabelled_files, unlabelled_on
from jetdistill.plan.grid import (
    chip_model_types,
    fpga_backends,
    specialist_teachers,
    transfer_splits,
    used_teachers,
)


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
