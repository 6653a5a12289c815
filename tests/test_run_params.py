"""What a user sees in MLflow: a classic ML experiment and common params on every run.

Real MLflow SQLite store, real jobs.* context manager; no mocks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jetdistill.jobs import context as jobs
from jetdistill.report import links
from jetdistill.tracking import config, query, store


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.TrackingConfig:
    monkeypatch.setenv(config.ENV_INVOCATION, "inv-params")
    monkeypatch.setenv(config.ENV_PARENT_RUN, "")
    c = config.TrackingConfig.from_dict({"experiment": "ui"}, root=tmp_path)
    store.init_store(c)
    return c


def test_common_params_are_formatted_like_the_job_params() -> None:
    solo = links.common_params(
        role="student", method="solo", student="mlp16", bits=32, sparsity=0.0, seed="1"
    )
    assert solo == {"role": "student", "student": "mlp16", "method": "solo", "kd.temperature": "none",
                    "kd.alpha": "none", "bits": "32", "sparsity": "0.0", "seed": "1"}  # fmt: skip
    kd = links.common_params(role="student", method="qat_kd", student="mlp16", temperature="4",
                         alpha=0.1, bits="5", sparsity="0.87", seed=0)  # fmt: skip
    # the same strings the jobs log for kd.temperature (float(w.T)), bits (int), sparsity (float)
    assert (kd["kd.temperature"], kd["kd.alpha"], kd["bits"], kd["sparsity"]) == (
        str(4.0), str(0.1), "5", str(0.87),
    )  # fmt: skip
    assert set(links.common_params(role="comparison", method="compare").values()) == {
        "comparison", "compare", "none",
    }  # fmt: skip


def test_experiment_is_a_classic_ml_experiment(cfg: config.TrackingConfig) -> None:
    client = store.client(cfg)
    exp = client.get_experiment_by_name("ui")
    assert (
        exp.tags[store.TAG_EXPERIMENT_KIND]
        == store.EXPERIMENT_KIND_ML
        == "custom_model_development"
    )
    # a kind the user picked in the UI survives the next run's init_store
    client.set_experiment_tag(exp.experiment_id, store.TAG_EXPERIMENT_KIND, "genai_development")
    store.init_store(cfg)
    assert (
        client.get_experiment(exp.experiment_id).tags[store.TAG_EXPERIMENT_KIND]
        == "genai_development"
    )


def _ctx(rule: str, wildcards: dict, params: dict, tracking: dict) -> jobs.JobContext:
    return jobs.JobContext(rule=rule, wildcards=wildcards, input={}, output={},
                           params={"tracking": tracking, **params})  # fmt: skip


def test_solo_kd_and_qat_runs_line_up_on_the_common_params(
    cfg: config.TrackingConfig, tmp_path: Path
) -> None:
    tracking = {"experiment": "ui", "uri": cfg.uri, "artifact_location": cfg.artifact_location}
    qat = {"kd": {"method": "hinton", "temperature": 4, "alpha": 0.1, "params": {}}}
    cases = {
        "solo": (_ctx("train_student_solo", {"student": "mlp16", "seed": "0"}, {}, tracking), "solo"),
        "kd": (_ctx("distill_student", {"student": "mlp16", "teacher": "jedi", "method": "hinton",
                                        "T": "4", "alpha": "0.1", "seed": "0"}, {}, tracking), "kd"),
        "qat": (_ctx("train_qat", {"student": "mlp16", "mode": "kd", "bits": "5", "sparsity": "0.87",
                                   "seed": "0"}, {"qat": qat}, tracking), "qat_kd"),
        "teacher": (_ctx("train_teacher", {"teacher": "jedi", "member": "0"}, {"seed": 3}, tracking),
                    "teacher"),
    }  # fmt: skip
    ids = {}
    for key, (ctx, method) in cases.items():
        role = "teacher" if key == "teacher" else "student"
        with jobs.job_run(ctx, name=key, role=role, method=method) as run:
            # what the jobs themselves log afterwards must not conflict with the common params
            if key == "kd":
                run.log_params(
                    {"kd": {"method": "hinton", "temperature": 4.0, "alpha": 0.1}, "seed": 0}
                )
            if key == "qat":
                run.log_params({"bits": 5, "sparsity": 0.87, "seed": 0})
            ids[key] = run.run_id
    got = {k: query.run_info(cfg, rid) for k, rid in ids.items()}
    for info in got.values():
        assert set(links.COMMON_PARAMS) <= set(info["params"])
        assert not any(t.startswith("jetdistill.param_conflict") for t in info["tags"])
    p = {k: v["params"] for k, v in got.items()}
    assert (p["solo"]["kd.temperature"], p["solo"]["kd.alpha"], p["solo"]["bits"]) == (
        "none",
        "none",
        "32",
    )
    assert (p["kd"]["kd.temperature"], p["kd"]["kd.alpha"], p["kd"]["method"]) == (
        "4.0",
        "0.1",
        "kd",
    )
    assert (p["qat"]["kd.temperature"], p["qat"]["bits"], p["qat"]["sparsity"]) == (
        "4.0",
        "5",
        "0.87",
    )
    assert (p["teacher"]["student"], p["teacher"]["seed"], p["teacher"]["role"]) == (
        "none",
        "3",
        "teacher",
    )
