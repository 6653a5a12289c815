"""jetdistill.report.summary on a few fake runs in a real MLflow SQLite store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from jetdistill import cli
from jetdistill.report.summary import collect_summary, summary_table, to_markdown
from jetdistill.tracking import config, runs, store


def _run(cfg, rule, wildcards, role, method, metrics, tags=None, fail=False):
    try:
        with runs.job_run(
            cfg,
            name=f"{rule}-{'-'.join(map(str, wildcards.values()))}",
            rule=rule,
            wildcards=wildcards,
            role=role,
            method=method,
            tags=tags,
        ) as run:
            run.log_history([{"epoch": 0, "train_loss": 1.0}, {"epoch": 1, "train_loss": 0.5}])
            run.log_metrics(metrics)
            if fail:
                raise RuntimeError("fail")
    except RuntimeError:
        pass
    return run.run_id


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.TrackingConfig, dict]:
    root = tmp_path_factory.mktemp("proj")
    cfg = config.TrackingConfig.from_dict({"experiment": "summ"}, root=root)
    store.init_store(cfg)
    mp = pytest.MonkeyPatch()
    ids: dict[str, str] = {}
    try:
        mp.setenv(config.ENV_PARENT_RUN, "")
        mp.setenv(config.ENV_INVOCATION, "inv-A")
        ids["teacher"] = _run(
            cfg,
            "train_teacher",
            {"teacher": "in", "seed": "0"},
            "teacher",
            "solo",
            {"test_accuracy": 0.80, "test_auc_mean": 0.95, "test_auc_top": 0.99, "params": 1e5},
            tags={"model": "in", "seed": 0},
        )
        ids["kd_old"] = _run(
            cfg,
            "train_student",
            {"student": "mlp", "teacher": "in", "seed": "0"},
            "student",
            "kd",
            {"test_accuracy": 0.60, "test_auc_mean": 0.85},
        )
        ids["prep"] = _run(cfg, "prepare_view", {"view": "s16"}, "data", "prep", {"n_jets": 100.0})
        mp.setenv(config.ENV_INVOCATION, "inv-B")
        mp.setenv(config.ENV_PARENT_RUN, "")
        ids["kd_new"] = _run(
            cfg,
            "train_student",
            {"student": "mlp", "teacher": "in", "seed": "0"},
            "student",
            "kd",
            {"test_accuracy": 0.70, "test_auc_mean": 0.90, "bops": 1234.0, "luts": 321.0},
            tags={"model": "mlp", "student": "mlp", "teacher": "in", "seed": 0},
        )
        ids["failed"] = _run(
            cfg,
            "train_student",
            {"student": "mlp", "teacher": "in", "seed": "1"},
            "student",
            "kd",
            {"test_accuracy": 0.99},
            fail=True,
        )
        ids["hls"] = _run(
            cfg,
            "hls",
            {"student": "mlp", "bits": "6"},
            "student",
            "hls",
            {"hls_exact_fraction": 1.0, "latency_cycles": 7.0, "test_rej50_top": math.inf},
        )
    finally:
        mp.undo()
    return cfg, ids


def test_whole_experiment_latest_run_per_rule_and_wildcards(populated, tmp_path: Path) -> None:
    cfg, ids = populated
    out_csv, out_md = tmp_path / "s" / "summary.csv", tmp_path / "s" / "summary.md"
    table = collect_summary(cfg, None, out_csv=out_csv, out_md=out_md)
    assert set(table["run_id"]) == {ids["teacher"], ids["kd_new"], ids["hls"]}
    csv = pd.read_csv(out_csv)
    assert list(csv.columns[:12]) == [
        "run_id",
        "run_name",
        "rule",
        "role",
        "method",
        "model",
        "student",
        "teacher",
        "seed",
        "wildcards",
        "invocation",
        "start_time",
    ]
    assert list(csv.columns[12:14]) == ["test_accuracy", "test_auc_mean"]
    assert "train_loss" not in csv.columns and "n_jets" not in csv.columns
    rows = csv.set_index("run_id")
    kd = rows.loc[ids["kd_new"]]
    assert (kd["rule"], kd["role"], kd["method"], kd["student"], kd["teacher"]) == (
        "train_student",
        "student",
        "kd",
        "mlp",
        "in",
    )
    assert kd["test_accuracy"] == pytest.approx(0.70) and kd["bops"] == 1234 and kd["luts"] == 321
    assert kd["invocation"] == "inv-B"
    te = rows.loc[ids["teacher"]]
    assert te["test_auc_top"] == pytest.approx(0.99) and te["params"] == 1e5
    assert json.loads(te["wildcards"]) == {"seed": "0", "teacher": "in"}
    assert te["model"] == "in" and te["seed"] == 0
    hls = rows.loc[ids["hls"]]
    assert hls["latency_cycles"] == 7 and hls["student"] == "mlp"  # student from wildcards
    assert math.isnan(hls["test_accuracy"])
    # cost columns follow the fixed order after the test_* columns
    cols = list(csv.columns)
    assert (
        cols.index("test_auc_top") < cols.index("params") < cols.index("bops") < cols.index("luts")
    )
    # summary.md: short readable tables (the wide per-run table is the CSV)
    md = out_md.read_text()
    assert md.startswith("# Run summary") and "summary.csv" in md
    assert "## Teachers" in md and "## Students" in md and "## FPGA" in md
    assert "| mlp | KD ← in" in md and "| 70.0 |" in md  # accuracy in %
    assert "| 80.0 |" in md  # the teacher
    assert ids["kd_new"] not in md and "run_id" not in md


def test_one_invocation_only(populated, tmp_path: Path) -> None:
    cfg, ids = populated
    table = collect_summary(cfg, "inv-A", out_csv=tmp_path / "a.csv", out_md=None)
    assert set(table["run_id"]) == {ids["teacher"], ids["kd_old"]}
    assert not (tmp_path / "a.md").exists()
    empty = collect_summary(cfg, "inv-none", out_csv=tmp_path / "e.csv", out_md=tmp_path / "e.md")
    assert empty.empty
    assert "no finished model runs" in (tmp_path / "e.md").read_text()
    assert list(pd.read_csv(tmp_path / "e.csv").columns)[:3] == ["run_id", "run_name", "rule"]


def test_cli_summary_and_init(populated, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg, ids = populated
    root = Path(cfg.uri.removeprefix("sqlite:///")).parent
    conf = tmp_path / "config.yaml"
    conf.write_text("tracking:\n  experiment: summ\n")
    rc = cli.main(
        [
            "init-tracking",
            "--config",
            str(conf),
            "--root",
            str(root),
            "--out",
            str(tmp_path / "init.json"),
        ]
    )
    assert rc == 0
    marker = json.loads((tmp_path / "init.json").read_text())
    assert marker["experiment"] == "summ" and marker["uri"] == cfg.uri
    assert marker["parent_run_id"] is None
    rc = cli.main(
        [
            "summary",
            "--config",
            str(conf),
            "--root",
            str(root),
            "--invocation",
            "inv-B",
            "--out-csv",
            str(tmp_path / "b.csv"),
            "--out-md",
            str(tmp_path / "b.md"),
        ]
    )
    assert rc == 0
    assert set(pd.read_csv(tmp_path / "b.csv")["run_id"]) == {ids["kd_new"], ids["hls"]}
    assert cli.main(["summary", "--config", str(tmp_path / "nope.yaml"), "--out-csv", "x"]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_summary_table_and_markdown_are_pure() -> None:
    runs = pd.DataFrame(
        [
            {
                "run_id": "a",
                "status": "FINISHED",
                "start_time": pd.Timestamp(1, unit="s"),
                "metrics.test_accuracy": 0.5,
                "tags.jetdistill.rule": "r",
                "tags.jetdistill.wildcards": '{"seed": "1"}',
                "tags.role": "student",
            },
            {
                "run_id": "b",
                "status": "FINISHED",
                "start_time": pd.Timestamp(2, unit="s"),
                "metrics.test_accuracy": 0.25,
                "tags.jetdistill.rule": "r",
                "tags.jetdistill.wildcards": '{"seed": "1"}',
                "tags.role": "student|x",
            },
            {
                "run_id": "c",
                "status": "RUNNING",
                "start_time": pd.Timestamp(3, unit="s"),
                "metrics.test_accuracy": 0.9,
                "tags.jetdistill.rule": "r",
                "tags.jetdistill.wildcards": '{"seed": "1"}',
                "tags.role": "student",
            },
        ]
    )
    t = summary_table(runs)
    assert list(t["run_id"]) == ["b"] and t.loc[0, "seed"] == "1"
    md = to_markdown(t)
    assert "student\\|x" in md and "| 0.25 |" in md


def test_cli_server_command_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(["server"])
    cmd = cli.server_command(args)
    i = cmd.index("server")
    assert cmd[i + 1 : i + 5] == ["--host", "127.0.0.1", "--port", "5000"]
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert cmd[cmd.index("--artifacts-destination") + 1] == (tmp_path.resolve() / "mlruns").as_uri()
    pg = cli.build_parser().parse_args(
        ["server", "--backend-store-uri", "postgresql://u@db/ml", "--port", "5555", "--", "--dev"]
    )
    cmd = cli.server_command(pg)
    assert cmd[cmd.index("--backend-store-uri") + 1] == "postgresql://u@db/ml"
    assert cmd[-1] == "--dev"
