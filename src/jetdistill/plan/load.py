"""Reading, merging and coercing the config at parse time.

:func:`prepare_config` is the one place where parsing the Snakefile changes state: it
applies ``replace:`` (:func:`apply_replace`), types nested ``--config`` values
(:func:`coerce_cli_numbers`), validates, runs :func:`jetdistill.plan.checks.check_config`
and sets the job environment.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jetdistill.errors import InputError
from jetdistill.plan.checks import check_config

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
    validate_arms(cfg, validate)
    check_config(cfg)
    cfg["tracking"] = uris.protect(cfg["tracking"])  # the real URI: JETDISTILL_TRACKING_URI
    os.environ[uris.ENV_TRACKING] = json.dumps(cfg["tracking"])
    os.environ.setdefault(
        ENV_INVOCATION,
        datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:8],
    )
    return {k: os.environ[k] for k in (uris.ENV_TRACKING, ENV_INVOCATION)}


def validate_arms(cfg: dict, validate: Callable[[dict], None]) -> None:
    """Each arm's config (:func:`jetdistill.plan.arms.arm_config`) against the schema too: an
    arm's settings are merged over the checked config, so their types, ranges and keys are
    checked as the config's own are; the error names the arm."""
    from jetdistill.plan.arms import arm_config, arm_names

    for arm in arm_names(cfg)[1:]:
        try:
            validate(arm_config(cfg, arm))
        except Exception as err:  # noqa: BLE001  (Snakemake's WorkflowError wraps jsonschema's)
            raise InputError(f"config: distillation.arms.{arm}", "settings the schema accepts "
                             "(workflow/schemas/config.schema.yaml)", str(err))  # fmt: skip


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
