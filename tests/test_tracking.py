"""jetdistill.tracking (config, store, parents, runs, query) against a real MLflow SQLite store (no mocks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from jetdistill.errors import InputError
from jetdistill.tracking import config, parents, query, runs, store, tags


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised SQLite store per module: the migrations take several seconds."""
    root = tmp_path_factory.mktemp("store")
    store.init_store(config.TrackingConfig.from_dict({"experiment": "bootstrap"}, root=root))
    return root


@pytest.fixture
def cfg(store_root: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """A fresh experiment and invocation per test in the shared store."""
    name = request.node.name.replace("[", "_").replace("]", "_")
    monkeypatch.setenv(config.ENV_INVOCATION, f"inv-{name}")
    monkeypatch.setenv(config.ENV_PARENT_RUN, "")
    c = config.TrackingConfig.from_dict({"experiment": name}, root=store_root)
    store.init_store(c)
    return c


def test_config_resolves_paths_against_root(tmp_path: Path) -> None:
    c = config.TrackingConfig.from_dict({}, root=tmp_path)
    assert c.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert c.artifact_location == (tmp_path.resolve() / "mlruns").as_uri()
    assert c.experiment == "jetdistill"
    c = config.TrackingConfig.from_dict(
        {"uri": "sqlite:///db/x.db", "artifact_location": "/abs/art"}, root=tmp_path
    )
    assert c.uri == f"sqlite:///{tmp_path.resolve()}/db/x.db"
    assert c.artifact_location == "file:///abs/art"
    http = config.TrackingConfig.from_dict({"uri": "http://127.0.0.1:5000"}, root=tmp_path)
    assert http.uri == "http://127.0.0.1:5000" and http.is_server
    with pytest.raises(InputError, match="tracking"):
        config.TrackingConfig.from_dict({"url": "x"}, root=tmp_path)
    with pytest.raises(InputError, match="tracking.uri"):
        config.TrackingConfig.from_dict({"uri": "sqlite://x.db"}, root=tmp_path)
    with pytest.raises(InputError, match="tracking.uri"):
        config.TrackingConfig.from_dict({"uri": "./mlruns"}, root=tmp_path)


def test_flatten_params_nests_stringifies_and_truncates() -> None:
    flat = runs.flatten_params(
        {"opt": {"lr": 1e-3, "betas": [0.9, 0.99]}, "layers": [{"n": 8}, {"n": 4}], "s": "x" * 7000}
    )
    assert flat["opt.lr"] == "0.001"
    assert flat["opt.betas"] == "[0.9,0.99]"
    assert flat["layers.0.n"] == "8" and flat["layers.1.n"] == "4"
    assert len(flat["s"]) == 6000 and flat["s"].endswith("...[truncated]")
    with pytest.raises(InputError):
        runs.flatten_params([1, 2])


def test_init_store_is_idempotent(cfg: config.TrackingConfig, store_root: Path) -> None:
    assert store.init_store(cfg) == store.init_store(cfg)


def test_job_run_logs_everything_and_reads_back(cfg: config.TrackingConfig, tmp_path: Path) -> None:
    extra = tmp_path / "plots"
    extra.mkdir()
    (extra / "roc.txt").write_text("roc")
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 5))
    with runs.job_run(
        cfg,
        name="student-kd-s1",
        rule="train_student",
        wildcards={"student": "mlp16", "seed": 1},
        role="student",
        method="kd",
        tags={"model": "mlp16", "seed": 1, "teacher": "in"},
    ) as run:
        run.log_params({"train": {"lr": 0.01, "epochs": 3}, "loss": "hinton"})
        run.log_params({"loss": "hinton"})  # same value again: fine
        run.log_params({"loss": "dkd"})  # changed value: kept first, recorded as tag
        n = run.log_history(
            [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 2.0 - e} for e in range(3)]
        )
        assert n == 6
        logged = run.log_metrics(
            {"test_accuracy": 0.75, "test_rej50_top": math.inf, "test_kl_teacher": float("nan")}
        )
        assert logged == 1
        run.log_dict({"a": {"b": [1, 2]}}, "config/resolved.yaml")
        run.log_dict({"k": 1}, "card.json")
        run.log_artifacts(extra, "plots")
        run.log_artifact(extra / "roc.txt")
        uri = run.log_state_dict(model, card={"spec": {"kind": "mlp", "hidden": [4]}})
        run_id = run.run_id

    info = query.run_info(cfg, run_id)
    assert info["status"] == "FINISHED"
    assert info["params"]["train.lr"] == "0.01"
    assert info["params"]["train.epochs"] == "3"
    assert info["params"]["loss"] == "hinton"
    tags = info["tags"]
    assert tags["jetdistill.param_conflict.loss"] == "dkd"
    assert tags["jetdistill.rule"] == "train_student"
    assert json.loads(tags["jetdistill.wildcards"]) == {"seed": "1", "student": "mlp16"}
    assert tags["jetdistill.invocation"] == "inv-test_job_run_logs_everything_and_reads_back"
    assert (tags["role"], tags["method"], tags["model"], tags["seed"]) == (
        "student",
        "kd",
        "mlp16",
        "1",
    )
    assert tags["mlflow.runName"] == "student-kd-s1"
    assert json.loads(tags[runs.TAG_NONFINITE]) == {
        "test_kl_teacher": "nan",
        "test_rej50_top": "inf",
    }
    assert info["metrics"] == {
        "train_loss": pytest.approx(1 / 3),
        "val_loss": 0.0,
        "test_accuracy": 0.75,
    }
    assert query.metric_history(cfg, run_id, "val_loss") == [(0, 2.0), (1, 1.0), (2, 0.0)]

    # nested under the invocation's parent run
    parent = parents.ensure_parent_run(cfg, "inv-test_job_run_logs_everything_and_reads_back")
    assert tags["mlflow.parentRunId"] == parent
    ptags = query.run_info(cfg, parent)["tags"]
    assert ptags["mlflow.runName"] == "invocation-inv-test_job_run_logs_everything_and_reads_back"

    # artifacts live under ./mlruns/<experiment>/<run_id>/artifacts in the project root
    art = Path(info["artifact_uri"].removeprefix("file://"))
    assert uri == info["artifact_uri"] + "/model"
    assert Path(cfg.artifact_location.removeprefix("file://")) in art.parents
    assert yaml.safe_load((art / "config" / "resolved.yaml").read_text()) == {"a": {"b": [1, 2]}}
    assert json.loads((art / "card.json").read_text()) == {"k": 1}
    assert (art / "plots" / "roc.txt").read_text() == "roc"
    assert (art / "roc.txt").is_file()
    card = json.loads((art / "model" / "model_card.json").read_text())
    assert card["spec"] == {"kind": "mlp", "hidden": [4]}
    assert card["n_state_elements"] == 3 * 4 + 4 + 4 * 5 + 5
    assert card["class"] == "torch.nn.modules.container.Sequential"
    state = torch.load(art / "model" / "state_dict.pt", weights_only=True)
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 5))
    fresh.load_state_dict(state)
    x = torch.randn(2, 3)
    assert torch.equal(fresh(x), model(x))
    dl = query.download_artifacts(cfg, run_id, "model", tmp_path / "dl")
    assert (dl / "state_dict.pt").is_file()


def test_failure_marks_run_failed_and_propagates(cfg: config.TrackingConfig) -> None:
    with (
        pytest.raises(ValueError, match="boom"),
        runs.job_run(
            cfg, name="bad", rule="train_teacher", wildcards={}, role="teacher", method="solo"
        ) as run,
    ):
        run.log_metrics({"train_loss": 1.0}, step=0)
        raise ValueError("boom")
    info = query.run_info(cfg, run.run_id)
    assert info["status"] == "FAILED"
    assert info["tags"]["jetdistill.error"] == "ValueError: boom"
    assert info["metrics"] == {"train_loss": 1.0}


def test_parent_from_env_and_search_by_invocation(
    cfg: config.TrackingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = parents.ensure_parent_run(cfg, "inv-other")
    assert parents.ensure_parent_run(cfg, "inv-other") == parent  # found, not re-created
    monkeypatch.setenv(config.ENV_INVOCATION, "inv-other")
    monkeypatch.setenv(config.ENV_PARENT_RUN, parent)
    for seed in range(2):
        with runs.job_run(
            cfg, name=f"t{seed}", rule="r", wildcards={"seed": seed}, role="teacher", method="solo"
        ) as run:
            run.log_metrics({"test_accuracy": 0.5 + seed / 10})
    monkeypatch.setenv(config.ENV_INVOCATION, "inv-third")
    monkeypatch.setenv(config.ENV_PARENT_RUN, "")
    with runs.job_run(cfg, name="x", rule="r", wildcards={}, role="teacher", method="solo"):
        pass

    df = query.search(cfg, invocation_id="inv-other")
    assert len(df) == 2
    assert set(df["tags.mlflow.parentRunId"]) == {parent}
    assert sorted(df["metrics.test_accuracy"]) == [0.5, 0.6]
    assert len(query.search(cfg)) == 3  # parents are not job runs
    assert len(query.search(cfg, include_parents=True)) == 5
    only = query.search(cfg, invocation_id="inv-other", filter="metrics.test_accuracy > 0.55")
    assert list(only["tags.mlflow.runName"]) == ["t1"]


def test_unknown_experiment_is_an_input_error(store_root: Path) -> None:
    c = config.TrackingConfig.from_dict({"experiment": "never-initialised"}, root=store_root)
    with (
        pytest.raises(InputError, match="init_store"),
        runs.job_run(c, name="x", rule="r", wildcards={}, role="teacher", method="solo"),
    ):
        pass


def test_invocation_id_generated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_INVOCATION, "")
    first = tags.invocation_id()
    assert first and tags.invocation_id() == first
    monkeypatch.setenv(config.ENV_INVOCATION, "given")
    assert tags.invocation_id() == "given"
