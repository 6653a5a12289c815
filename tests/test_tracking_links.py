"""The links printed after a run (jetdistill.report.links) on a real MLflow SQLite store.

The runs are made the way the jobs make them (jobs.context.job_run, the jobs' tags), with
a learning-curve fraction run of the same student and seed next to the full-data ones:
the issue was three ``solo-<student>-s0`` rows in the "best first" table.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from jetdistill.jobs import context as jobs
from jetdistill.report import links
from jetdistill.tracking import config, query, store

KD = {"student": "mlp16", "teacher": "jedi", "method": "hinton", "T": "4", "alpha": "0.1"}


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.TrackingConfig:
    monkeypatch.setenv(config.ENV_INVOCATION, "inv-links")
    monkeypatch.setenv(config.ENV_PARENT_RUN, "")
    c = config.TrackingConfig.from_dict({"experiment": "links"}, root=tmp_path)
    store.init_store(c)
    return c


def _job(cfg: config.TrackingConfig, rule: str, wildcards: dict, method: str, fraction: float,
         accuracy: float, tags: dict | None = None) -> str:  # fmt: skip
    tracking = {"experiment": cfg.experiment, "uri": cfg.uri,
                "artifact_location": cfg.artifact_location}  # fmt: skip
    ctx = jobs.JobContext(rule=rule, wildcards=wildcards, input={}, output={},
                          params={"tracking": tracking})  # fmt: skip
    # the tags jobs/students.py and jobs/compression.py give their runs
    tags = {"student": "mlp16", "seed": 0, "train_fraction": fraction, **(tags or {})}
    with jobs.job_run(ctx, name=f"{method}-{rule}", role="student", method=method,
                      tags=tags) as run:  # fmt: skip
        if method == "kd":
            run.log_params({"kd": {"method": "hinton", "temperature": 4.0, "alpha": 0.1}})
        run.log_metrics({"test_accuracy": accuracy})
        return run.run_id


@pytest.fixture
def runs(cfg: config.TrackingConfig) -> dict[str, str]:
    return {
        "solo": _job(cfg, "train_student_solo", {"student": "mlp16", "seed": "0"}, "solo", 1.0,
                     0.70),
        "kd": _job(cfg, "distill_student", {**KD, "seed": "0"}, "kd", 1.0, 0.72,
                   {"teacher": "jedi"}),
        # the learning curve's runs: same student, seed and method, a fraction of the data
        "solo_f": _job(cfg, "train_student_solo_fraction",
                       {"student": "mlp16", "fraction": "0.25", "seed": "0"}, "solo", 0.25, 0.60),
        "kd_f": _job(cfg, "distill_student_fraction", {**KD, "fraction": "0.5", "seed": "0"},
                     "kd", 0.5, 0.65, {"teacher": "jedi"}),
    }  # fmt: skip


def test_best_first_filter_excludes_the_fraction_runs(cfg, runs) -> None:
    found = query.search(cfg, filter=links.STUDENT_RUNS_FILTER)
    assert set(found["run_id"]) == {runs["solo"], runs["kd"]}
    # the filter is the one MLflow's UI gets: the link's shared view carries exactly this string
    assert (
        _shared_view(cfg, links.student_runs_url(cfg))["searchFilter"] == links.STUDENT_RUNS_FILTER
    )


def _shared_view(cfg: config.TrackingConfig, url: str) -> dict:
    """The view MLflow's UI loads for the link: the experiment tag its viewStateShareKey names."""
    q = parse_qs(urlsplit(url.replace("/#/", "/")).query)
    # any search parameter next to the key would make the UI ignore the key
    assert set(q) == {"workflowType", "viewStateShareKey"} and q["workflowType"] == [
        "machine_learning"
    ]
    tags = store.client(cfg).get_experiment(store.experiment_id(cfg)).tags
    return json.loads(tags[f"{links.TAG_SHARED_VIEW}{q['viewStateShareKey'][0]}"])


def test_best_first_link_shows_accuracy_and_kd_params_as_columns(cfg, runs) -> None:
    url = links.student_runs_url(cfg)
    view = _shared_view(cfg, url)
    assert (view["orderByKey"], view["orderByAsc"]) == ("metrics.`test_accuracy`", False)
    cols = view["selectedColumns"]
    assert cols[0] == "metrics.`test_accuracy`"
    for col in ("params.`kd.method`", "params.`kd.temperature`", "params.`kd.alpha`",
                "tags.`teacher`"):  # fmt: skip
        assert col in cols
    # every column names something the full-data runs carry
    found = query.search(cfg, filter=links.STUDENT_RUNS_FILTER)
    for col in cols:
        kind, name = col.split(".", 1)
        assert f"{kind}.{name.strip('`')}" in found.columns, col
    assert links.student_runs_url(cfg) == url  # idempotent: one shared view, not one per run


def test_kd_vs_solo_compare_link_has_the_full_data_runs_only(cfg, runs) -> None:
    url = links.kd_vs_solo_compare_url(cfg)
    q = parse_qs(urlsplit(url.replace("/#/", "/")).query)
    assert unquote(q["runs"][0]) == f'["{runs["solo"]}","{runs["kd"]}"]'  # solo first, then KD
