"""Arms of a study: named overlays of the student jobs' settings, one sweep axis.

A study compares *recipes* for the float students: a longer budget, the teacher's own training
jets in the transfer set, unlabelled jets, another loss. Each recipe is an **arm**
(``distillation.arms``): a name and the settings it changes against the config. The arm is a
field of the student jobs' identity (:class:`jetdistill.identity.KDJob` ``arm``), so it is a
wildcard, a path component, an MLflow tag and param and a column of the comparison table, and
extending the dict of arms runs only the new arms' jobs.

The arm ``default`` always runs: it *is* the config (its overrides must be empty), the
reference every other arm is read against; baselines, learning curves, the float FPGA
students and, unless ``compression.arm`` names another, the compression stage use it.

An arm may set, and nothing else (:data:`ARM_KEYS`):

- ``transfer_splits``, ``unlabelled``, ``loss_params`` and the KD grid ``teachers``,
  ``methods``, ``temperatures``, ``alphas``: the ``distillation`` keys of the same names (the
  run builds every arm's teachers; the fidelity reference of every student stays the
  config's first teacher, so fidelity metrics compare across arms);
- ``training``: ``student``, ``distill`` and ``per_student`` entries merged over the config's.

KD and solo twins share an arm where the setting applies to both: a solo job depends only on
its budget and training jets, so an arm that changes neither (say, unlabelled jets, a loss)
has no solo jobs of its own; its KD students are paired with the solo jobs of the first arm
with the same solo settings (:func:`jetdistill.plan.grid.solo_arm`), which the KD jobs record
as ``solo_arm``.
"""

from __future__ import annotations

import re
from typing import Any

from jetdistill.errors import InputError
from jetdistill.identity import DEFAULT_ARM, fmt_num

#: ``distillation`` keys an arm may replace (lists) or merge into (mappings)
DISTILLATION_KEYS: tuple[str, ...] = (
    "transfer_splits", "unlabelled", "loss_params", "teachers", "methods", "temperatures",
    "alphas",
)  # fmt: skip
#: ``training`` sections an arm may merge into
TRAINING_KEYS: tuple[str, ...] = ("student", "distill", "per_student")
ARM_KEYS: tuple[str, ...] = (*DISTILLATION_KEYS, "training")
#: arm names: a path component, a wildcard and part of a log name; no ``_`` (the log-name
#: separator), no ``/`` or ``.`` (path parts)
ARM_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")


def arm_names(cfg: dict) -> list[str]:
    """The run's arms, ``default`` first, then the config's in their order."""
    given = (cfg.get("distillation") or {}).get("arms") or {}
    return [DEFAULT_ARM, *(a for a in given if a != DEFAULT_ARM)]


def overrides(cfg: dict, arm: str) -> dict[str, Any]:
    """What ``arm`` changes (empty for ``default``)."""
    return dict(((cfg.get("distillation") or {}).get("arms") or {}).get(arm) or {})


def _merged(base: dict | None, extra: dict | None) -> dict:
    out = dict(base or {})
    for k, v in (extra or {}).items():
        out[k] = (
            _merged(out.get(k), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def arm_config(cfg: dict, arm: str) -> dict:
    """The config as the jobs of ``arm`` read it: the arm's keys over the config's (lists
    replaced, mappings merged). Shallow copies of the sections it changes; the rest shared."""
    over = overrides(cfg, arm)
    if not over:
        return cfg
    out = dict(cfg)
    d = dict(cfg["distillation"])
    for k in DISTILLATION_KEYS:
        if k in over:
            v = over[k]
            d[k] = _merged(d.get(k), v) if isinstance(v, dict) else v
    out["distillation"] = d
    if "training" in over:
        out["training"] = _merged(cfg["training"], over["training"])
    return out


def compression_arm(cfg: dict) -> str:
    """The arm whose float students and jets the compression stage starts from
    (``compression.arm``, default ``default``)."""
    return str((cfg.get("compression") or {}).get("arm") or DEFAULT_ARM)


def check_arms(cfg: dict) -> None:
    """``distillation.arms``: safe names, known keys, an empty ``default``, and each arm's
    config valid as a whole (the config's own student checks run on every arm's config)."""
    from jetdistill.plan.checks import did_you_mean

    arms = (cfg.get("distillation") or {}).get("arms") or {}
    for name, over in arms.items():
        key = f"config: distillation.arms.{name}"
        if not isinstance(name, str) or not ARM_NAME.fullmatch(name):
            raise InputError(f"config: distillation.arms ({name!r})",
                             f"arm names matching {ARM_NAME.pattern} (a path part and a log "
                             "name: no '_', '/', '.' or spaces)", repr(name))  # fmt: skip
        if name == DEFAULT_ARM and over:
            raise InputError(key, "{} (the default arm is the config itself: put its settings "
                             "in the config)", repr(over))  # fmt: skip
        if not isinstance(over, dict):
            raise InputError(key, f"a mapping of settings among {list(ARM_KEYS)}", repr(over))
        for k in over:
            if k not in ARM_KEYS:
                why = (" (augmented views change the teacher's soft-target cache: run them in a "
                       "config of their own)") if k == "views" else ""  # fmt: skip
                raise InputError(f"{key}.{k}", f"one of {list(ARM_KEYS)}{why}",
                                 repr(k) + did_you_mean(k, ARM_KEYS))  # fmt: skip
        for k in over.get("training") or {}:
            if k not in TRAINING_KEYS:
                raise InputError(f"{key}.training.{k}", f"one of {list(TRAINING_KEYS)}",
                                 repr(k) + did_you_mean(k, TRAINING_KEYS))  # fmt: skip
    carm = compression_arm(cfg)
    if carm not in arm_names(cfg):
        raise InputError("config: compression.arm", f"one of distillation.arms {arm_names(cfg)}",
                         repr(carm) + did_you_mean(carm, arm_names(cfg)))  # fmt: skip


def multiple_text(multiple: float) -> str:
    """The canonical text of an unlabelled multiple in paths (``3.0`` -> ``3``)."""
    return fmt_num(multiple)
