"""Configs that compose: `replace`, only the teachers in use, disabled stages not validated,
generic views without constituent features."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _merge(a: dict, b: dict) -> dict:
    """What Snakemake does with --configfile over the workflow's configfile."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolved(user: dict) -> dict:
    """The user's config merged over config/config.yaml, `replace` applied, schema-validated."""
    cfg = _merge(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), user)
    plan.apply_replace(cfg, copy.deepcopy(user))
    validate(cfg, str(SCHEMA))
    return cfg


OWN = {
    "data": {"source": "generic", "generic": {"file": "x.h5"}},
    "views": {"flat": {}},
    "models": {"big": {"type": "mlp", "view": "flat", "hidden": [64, 64]},
               "small": {"type": "mlp", "view": "flat", "hidden": [8]}},
    "teachers": {"mine": {"members": [{"model": "big"}]}},
    "students": ["small"],
    # the default's generated unlabelled jets do not exist for generic data: off, as a user
    # config on its own data says (config/README.md, "Your own data")
    "distillation": {"teachers": ["mine"], "unlabelled": {"multiple": 0}},
    "compression": {"enabled": False},
    "fpga": {"enabled": False},
}  # fmt: skip


def test_replace_drops_the_default_models_and_teachers():
    cfg = resolved({**OWN, "replace": ["views", "models", "teachers"]})
    assert set(cfg["models"]) == {"big", "small"}
    assert set(cfg["teachers"]) == {"mine"} and set(cfg["views"]) == {"flat"}
    plan.check_config(cfg)
    # without `replace` the defaults stay (dictionaries merge) ...
    merged = resolved(OWN)
    assert {"jedinet", "mlp16", "big"} <= set(merged["models"])
    assert {"jedi", "mine"} <= set(merged["teachers"])
    # ... but only the teacher that is used is built, and the unused jet models do not count
    plan.check_config(merged)
    assert plan.used_teachers(merged) == ["mine"]
    assert [m.teacher for m in plan.teacher_members(merged)] == ["mine"]
    assert plan.used_views(merged) == ["flat"]


def test_replace_of_a_section_the_user_does_not_define_is_an_error():
    with pytest.raises(InputError, match=r"config: replace.*'training'"):
        resolved({**OWN, "replace": ["models", "training"]})
    with pytest.raises(InputError, match=r"config: replace.*'students'"):
        plan.apply_replace({"replace": ["students"]}, {"students": ["a"]})


def test_compression_teacher_is_used_only_when_qat_kd_runs():
    cfg = resolved({**OWN, "teachers": {"mine": {"members": [{"model": "big"}]},
                                        "other": {"members": [{"model": "big", "seed": 1}]}},
                    "compression": {"enabled": True, "teacher": "other", "students": ["small"]},
                    "replace": ["teachers"]})  # fmt: skip
    cfg["compression"]["kd"] = {**cfg["compression"]["kd"], "temperature": 4.0, "alpha": 0.1}
    cfg["distillation"]["temperatures"], cfg["distillation"]["alphas"] = [4.0], [0.1]
    assert plan.used_teachers(cfg) == ["mine", "other"]
    cfg["compression"]["modes"] = ["solo"]
    assert plan.used_teachers(cfg) == ["mine"]
    cfg["compression"]["enabled"] = False
    cfg["distillation"]["enabled"] = False
    assert plan.used_teachers(cfg) == ["mine"]  # still the fidelity reference of solo students


def test_disabled_fpga_stage_is_not_validated():
    user = {**OWN, "replace": ["views", "models", "teachers"],
            "compression": {"enabled": True, "students": ["small"], "modes": ["solo"]}}  # fmt: skip
    cfg = resolved(user)  # fpga disabled: its default float_students [mlp32] is not checked
    assert cfg["fpga"]["float_students"] == ["mlp32"]
    plan.check_config(cfg)
    cfg["fpga"]["enabled"] = True  # enabled, its default targets and float students are checked
    with pytest.raises(InputError, match=r"fpga\.targets\[0\]"):
        plan.check_config(cfg)
    cfg["fpga"]["targets"] = []
    with pytest.raises(InputError, match=r"fpga\.float_students\[0\]"):
        plan.check_config(cfg)


def test_jet_views_need_features_generic_views_do_not():
    cfg = resolved({**OWN, "replace": ["views", "models", "teachers"]})
    assert cfg["views"]["flat"]["features"] == []  # generic: every column is used
    plan.check_config(cfg)
    jets = resolved({"views": {"c16": {"features": []}}})
    with pytest.raises(InputError, match=r"views\.c16\.features"):
        plan.check_config(jets)
