"""The default config keeps its science promises: a teacher that is a teacher.

A KD result is only credible if the teacher has clearly more capacity and more input than
every student (issue: "a teacher must be a teacher"); these checks fail the moment someone
shrinks the default teacher or grows a student past it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from jetdistill.learn.models import build_model, count_params

REPO = Path(__file__).resolve().parents[1]


def _params(cfg: dict, name: str) -> int:
    spec = {k: v for k, v in cfg["models"][name].items() if k != "view"}
    view = cfg["views"][cfg["models"][name]["view"]]
    shape = (len(view["features"]),) if view.get("level") == "jet" else (
        view.get("n_constituents", 16), len(view["features"]))  # fmt: skip
    return count_params(build_model(spec, shape, 5))


def test_default_teacher_has_3x_the_parameters_and_more_input_than_any_student() -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    members = [m["model"] for t in cfg["distillation"].get("teachers", cfg["teachers"])
               for m in cfg["teachers"][t]["members"]]  # fmt: skip
    teacher_params = min(_params(cfg, m) for m in members)
    for s in [*cfg["students"], *cfg.get("baselines", [])]:
        assert teacher_params >= 3 * _params(cfg, s), s
    for m in members:
        tv = cfg["views"][cfg["models"][m]["view"]]
        assert tv["n_constituents"] >= 30 and len(tv["features"]) >= 16
        for s in cfg["students"]:
            sv = cfg["views"][cfg["models"][s]["view"]]
            assert sv["n_constituents"] * len(sv["features"]) < tv["n_constituents"] * len(
                tv["features"]
            )


def test_default_run_generates_at_least_60k_jets() -> None:
    g = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["data"]["generate"]
    assert 5 * g["shards"] * g["jets_per_shard"] >= 60_000
