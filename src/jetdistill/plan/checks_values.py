"""Config checks of values and names: what must hold before any job may touch an output.

Snakemake removes a job's outputs before it runs the job, and stores the job's params in its
metadata. A value the schema lets through but a job refuses (a NaN fraction, a NaN learning
rate, an empty pTHat window) therefore cost a finished run the job's outputs, and made every
job whose params held it rerun once the config was fixed. Here such values are refused while
Snakemake parses the workflow, naming the full key:

- :func:`check_finite`: every number anywhere in the config is finite (the JSON schema cannot
  say so: NaN passes every ``minimum``/``maximum``), its message saying the key's range;
- :func:`check_names`: model, view and teacher names match their pattern in full (the schema's
  ``$`` also matches before a final newline);
- :func:`check_unique_values`: each entry of a list once, and each swept number once *as its
  canonical text* (:func:`jetdistill.identity.fmt_num`, what paths and wildcards hold): 4.0
  and 4.0000001 would be one job, silently;
- :func:`check_pthat_window`: the generator's pTHat window is not empty;
- :func:`check_job_paths`: no two planned jobs share an output folder or a log/benchmark name
  (the log name joins a job's wildcards with ``_``, which names may contain: students ``mlp``
  and ``mlp_x`` with teachers ``x_jedi`` and ``jedi`` would share one log).

:func:`jetdistill.plan.checks.check_config` calls them.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

from jetdistill import paths
from jetdistill.errors import InputError
from jetdistill.identity import fmt_num

#: model, view and teacher names: a path part, a wildcard value and part of a log name
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

#: the JSON schema the workflow validates with (its ranges make the messages' expected text)
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    import yaml

    try:
        return yaml.safe_load(SCHEMA.read_text()) or {}
    except OSError:  # an installed package without the workflow: messages without ranges
        return {}


def _range_text(node: dict | None) -> str:
    """``a finite number > 0 and <= 10``: what the schema node allows, finite."""
    node = node or {}
    bounds = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">")):
        if key in node:
            bounds.append(f"{op} {node[key]:g}")
    for key, op in (("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            bounds.append(f"{op} {node[key]:g}")
    return "a finite number" + (" " + " and ".join(bounds) if bounds else "")


def check_finite(cfg: dict) -> None:
    """Every float of the config, at any depth, is finite; else an InputError naming its full
    key (``training.teacher.lr``, ``distillation.temperatures[1]``) and the range the schema
    gives it. Runs first: NaN compares false with everything, so every later range or
    cross-field check would pass it."""
    from jetdistill.plan.load import _child, _schema_node

    schema = _schema()

    def walk(value: Any, node: dict | None, where: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                child = _child(schema, node, key) if node is not None else None
                walk(sub, child, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                child = _child(schema, node, i) if node is not None else None
                walk(sub, child, f"{where}[{i}]")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"config: {where}", _range_text(node), repr(value))

    walk(cfg, _schema_node(schema, schema) if schema else None, "")


def check_names(cfg: dict) -> None:
    """Model, view and teacher names match :data:`NAME` in full: letters, digits, ``_`` and
    ``-``, starting with a letter; no ``/``, ``.``, space or line break. The schema's
    ``propertyNames`` pattern ends in ``$``, which also matches before a final newline, so a
    key written ``"mlp\\n"`` passed it."""
    for section in ("views", "models", "teachers"):
        for name in cfg.get(section) or {}:
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise InputError(
                    f"config: {section} ({name!r})",
                    f"names matching {NAME.pattern} in full (a name is a path part and part of "
                    "a log name: no '/', '.', spaces or line breaks)",
                    repr(name),
                )


def _get(cfg: dict, key: str) -> Any:
    """``cfg`` at a dotted key, or None where a section is missing."""
    value: Any = cfg
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


#: lists whose entries name things (each at most once)
NAME_LISTS: tuple[str, ...] = (
    "students", "baselines", "distillation.teachers", "distillation.methods",
    "compression.students", "compression.modes", "fpga.float_students",
    "data.generic.class_names", "data.splits.exclude_from_transfer",
)  # fmt: skip
#: lists of seeds and bit widths (integers, each at most once)
INT_LISTS: tuple[str, ...] = (
    "seeds", "compression.seeds", "compression.bits", "learning_curve.seeds",
    "fpga.frontier_seeds",
)  # fmt: skip
#: swept numbers: paths, wildcards and the jobs hold them as their canonical text (fmt_num)
SWEPT_LISTS: tuple[str, ...] = (
    "distillation.temperatures", "distillation.alphas", "compression.sparsities",
    "compression.cost_penalties", "learning_curve.fractions",
)  # fmt: skip
#: single swept numbers (held as canonical text too)
SWEPT_VALUES: tuple[str, ...] = (
    "compression.kd.temperature", "compression.kd.alpha", "distillation.unlabelled.multiple",
)  # fmt: skip
#: the swept lists and values an arm of ``distillation.arms`` may give
ARM_SWEPT: tuple[str, ...] = ("temperatures", "alphas", "unlabelled.multiple")
ARM_LISTS: tuple[str, ...] = ("methods", "temperatures", "alphas")


def _canonical(where: str, value: Any) -> str:
    """``fmt_num(value)``, refusing a value that its canonical text does not write exactly
    (6 significant digits): the job would run with the rounded value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)  # the schema reports the type
    text = fmt_num(value)
    if float(text) != float(value):
        raise InputError(
            f"config: {where}",
            "a number that 6 significant digits write exactly (paths, wildcards and the job "
            f"hold it as its canonical text {text!r}, so the job would run with {text})",
            repr(value),
        )
    return text


def _once(
    where: str, values: list, keys: list | None = None, what: str = "each value once"
) -> None:
    """Each entry of ``values`` once, compared by ``keys`` (one per entry; default the entries'
    ``repr``); else an InputError naming both entries (``what``: the expected text)."""
    keys = [repr(v) for v in values] if keys is None else keys
    seen: dict[Any, int] = {}
    for i, (v, key) in enumerate(zip(values, keys, strict=True)):
        if key in seen:
            j = seen[key]
            same = "" if values[j] == v else f" (both {key})"
            canonical = " (as its canonical text, the form paths hold)" if same else ""
            raise InputError(
                f"config: {where}",
                what + canonical,
                f"{where}[{j}] = {values[j]!r} and {where}[{i}] = {v!r}{same}",
            )
        seen[key] = i


def _num_text(v: Any) -> str:
    """A swept entry's canonical text (``4.0`` -> ``'4'``), or its repr if no number."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return repr(fmt_num(v)) if ok else repr(v)


def check_unique_values(cfg: dict) -> None:
    """No list entry twice: names (``students``, ``data.generic.class_names``: duplicate class
    names would merge two classes' metrics), seeds (averaged as if distinct), teacher members
    (same model and seed), FPGA targets, and swept numbers whose canonical text is the same
    (4.0 and 4.0000001 are one job, ``T4``). A swept number must also be exactly what its
    canonical text says (:func:`_canonical`)."""
    for key in (*NAME_LISTS, *INT_LISTS):
        values = _get(cfg, key)
        if isinstance(values, list):
            _once(key, values)
    swept = [(key, _get(cfg, key)) for key in SWEPT_LISTS]
    singles = [(key, _get(cfg, key)) for key in SWEPT_VALUES]
    arms = _get(cfg, "distillation.arms")
    for arm, over in arms.items() if isinstance(arms, dict) else ():
        if not isinstance(over, dict):
            continue  # the arms check names it
        base = f"distillation.arms.{arm}"
        for key in ARM_LISTS:
            values = _get(over, key)
            if isinstance(values, list) and key not in ARM_SWEPT:
                _once(f"{base}.{key}", values)
        swept += [(f"{base}.{k}", _get(over, k)) for k in ARM_SWEPT if isinstance(_get(over, k), list)]  # fmt: skip
        singles += [(f"{base}.{k}", _get(over, k)) for k in ARM_SWEPT
                    if not isinstance(_get(over, k), list)]  # fmt: skip
    for key, values in swept:
        if isinstance(values, list):
            _once(key, values, [_num_text(v) for v in values])
            for i, v in enumerate(values):
                _canonical(f"{key}[{i}]", v)
    for key, value in singles:
        if value is not None:
            _canonical(key, value)
    for list_key in ("compression.points", "fpga.targets"):
        for i, entry in enumerate(_get(cfg, list_key) or []):
            for k in ("sparsity", "cost_penalty"):
                if isinstance(entry, dict) and entry.get(k) is not None:
                    _canonical(f"{list_key}[{i}].{k}", entry[k])
    targets = _get(cfg, "fpga.targets") or []
    _once("fpga.targets", targets, [_target_key(t) for t in targets], "each design once")
    for name, t in (cfg.get("teachers") or {}).items():
        members = t.get("members") if isinstance(t, dict) else None
        if isinstance(members, list):  # a member's seed defaults to its index (plan.grid)
            keys = [(m.get("model"), m.get("seed", i)) if isinstance(m, dict) else repr(m)
                    for i, m in enumerate(members)]  # fmt: skip
            _once(f"teachers.{name}.members", members, keys,
                  "each (model, seed) once (two such members are one model trained twice)")  # fmt: skip


def _target_key(t: Any) -> Any:
    """An FPGA target's design: its fields with the numbers as canonical text."""
    if not isinstance(t, dict):
        return repr(t)
    return (t.get("student"), t.get("mode"), t.get("bits"), fmt_num(t.get("sparsity", 0)),
            t.get("seed", 0), fmt_num(t.get("cost_penalty", 0.0)))  # fmt: skip


def check_pthat_window(cfg: dict) -> None:
    """``data.generate``'s hard-process window, as the generator computes it
    (:attr:`jetdistill.data.generate.GenerateConfig.pthat_window`): ``pthat_min`` (or the
    centre of ``[pt_min, pt_max]`` minus ``pthat_halfwidth``) below ``pthat_max`` (or the
    centre plus it). Without this the generator job refused it, after Snakemake had removed
    the job's finished shard."""
    data = cfg["data"]
    if data.get("source") != "generate":
        return
    g = data["generate"]
    centre = 0.5 * (float(g["pt_min"]) + float(g["pt_max"]))
    half = float(g.get("pthat_halfwidth", 0.05))
    lo, hi = g.get("pthat_min"), g.get("pthat_max")
    lo_v = float(lo) if lo is not None else centre * (1 - half)
    hi_v = float(hi) if hi is not None else centre * (1 + half)
    if lo_v < hi_v:
        return

    def said(key: str, v: Any, derived: float) -> str:
        if v is not None:
            return f"{key} {v:g}"
        return f"{key} null (centre of pt_min/pt_max -/+ pthat_halfwidth: {derived:g})"

    where = "data.generate.pthat_min" if lo is not None else "data.generate.pthat_max"
    raise InputError(
        f"config: {where}",
        "a pTHat window with pthat_min < pthat_max",
        f"{said('pthat_min', lo, lo_v)}, {said('pthat_max', hi, hi_v)}",
    )


#: wildcard -> the config key its values come from (for the message of a shared log name)
_FIELD_KEYS = {
    "student": "models", "teacher": "teachers", "method": "distillation.methods",
    "arm": "distillation.arms", "view": "views",
}  # fmt: skip


def _families(cfg: dict) -> list[tuple[str, list[tuple[dict, str]]]]:
    """(rule, [(wildcards, directory template)]) of every model job the plan has: the
    families whose log and benchmark names are built by :func:`paths.stem`."""
    from jetdistill.identity import CURVE_KINDS
    from jetdistill.plan import frontier, grid

    out = []
    for rule, jobs in (
        ("train_teacher", grid.teacher_members(cfg)),
        ("train_student_solo", grid.solo_jobs(cfg)),
        ("train_student_solo_all", grid.solo_all_jobs(cfg)),
        ("distill_student", grid.kd_jobs(cfg)),
        ("train_qat", grid.qat_jobs(cfg)),
        ("convert_hls_float", grid.float_fpga_jobs(cfg)),
        ("train_hgq", frontier.hgq_jobs(cfg)),
    ):
        out.append((rule, [(j.wildcards(), j.DIR) for j in jobs]))
    rules = {"teacher": "train_teacher_fraction", "solo": "train_student_solo_fraction",
             "kd": "distill_student_fraction"}  # fmt: skip
    for kind, rule in rules.items():
        curve_dir = CURVE_KINDS[kind][2]
        pts = [p for p in grid.learning_curve_points(cfg) if p.kind == kind and p.fraction != "1"]
        out.append((rule, [(p.wildcards(), curve_dir) for p in pts]))
    return out


def check_job_paths(cfg: dict) -> None:
    """No two planned jobs of a rule share an output folder or a log/benchmark name.

    A log name joins the job's wildcards with ``_`` (:func:`jetdistill.paths.stem`), and names
    may contain ``_``: students ``mlp`` and ``mlp_x`` distilled from teachers ``x_jedi`` and
    ``jedi`` both logged to ``mlp_x_jedi_hinton_T4_a0.1_seed0.log``, one job overwriting the
    other's log and benchmark. Such a config is refused naming both jobs and the names that
    differ; renaming one (without the ``_``) fixes it, and no existing run's names change."""
    for rule, jobs in _families(cfg):
        by_stem: dict[str, dict] = {}
        by_dir: dict[str, dict] = {}
        for wildcards, directory in jobs:
            stem = paths.stem(directory).format(**wildcards)
            folder = paths.fill("", directory, **wildcards).lstrip("/")
            for seen, key, what in ((by_stem, stem, f"log name logs/{rule}/{stem}.log"),
                                    (by_dir, folder, f"output folder {folder}")):  # fmt: skip
                other = seen.setdefault(key, wildcards)
                if other == wildcards:
                    continue
                differ = [k for k in wildcards if other.get(k) != wildcards.get(k)]
                names = ", ".join(
                    f"{_FIELD_KEYS.get(k, k)} {other.get(k)!r} / {wildcards.get(k)!r}"
                    for k in differ
                )
                a = paths.fill("", directory, **other).lstrip("/")
                b = paths.fill("", directory, **wildcards).lstrip("/")
                raise InputError(
                    f"config: names ({names})",
                    "names that give every job its own log and output (a log name joins the "
                    "job's names with '_', so a '_' inside a name can make two jobs' log names "
                    "equal: rename one)",
                    f"jobs {a} and {b} share the {what}",
                )
