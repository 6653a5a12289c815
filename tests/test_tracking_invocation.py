"""One probe and one set-up per invocation: onstart does both, rule init_tracking only records.

Real SQLite store; the hooks are called as rules/common.smk calls them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetdistill.errors import InputError
from jetdistill.jobs import invocation
from jetdistill.jobs.context import JobContext
from jetdistill.tracking import config, query

#: what workflow/scripts/init_tracking.py does, in a fresh process, reporting MLflow's import
INIT_TRACKING = """
import json, sys
from jetdistill.jobs.context import JobContext
from jetdistill.jobs.invocation import init_tracking
init_tracking(JobContext(rule="init_tracking", wildcards={}, input={},
                         output={"marker": sys.argv[1]}, params={"tracking": json.loads(sys.argv[2])}))
print(json.dumps({"mlflow_imported": "mlflow" in sys.modules}))
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (config.ENV_INVOCATION, config.ENV_PARENT_RUN, config.ENV_EXPERIMENT):
        monkeypatch.setenv(name, "")


def test_onstart_sets_up_once_and_the_rule_records_it_without_mlflow(
    tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tracking = {"experiment": "inv"}
    invocation.start_invocation(tracking, {"tracking": tracking, "seeds": [0]})
    exported = json.loads(os.environ[config.ENV_EXPERIMENT])
    cfg = config.TrackingConfig.from_dict(tracking)
    assert exported["experiment"] == "inv" and exported["uri"] == cfg.display_uri
    parent = os.environ[config.ENV_PARENT_RUN]
    assert query.run_info(cfg, parent)["status"] == "RUNNING"
    marker = tmp_path / "experiment.json"
    proc = subprocess.run([sys.executable, "-c", INIT_TRACKING, str(marker), json.dumps(tracking)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"mlflow_imported": False}
    assert json.loads(marker.read_text()) == exported
    invocation.end_invocation(tracking, success=True)
    assert query.run_info(cfg, parent)["status"] == "FINISHED"


def test_the_rule_never_creates_the_experiment(tmp_path: Path, env: None) -> None:
    """Outside an invocation (or with other settings than onstart's) it only looks up."""
    tracking = {"experiment": "never-set-up", "uri": f"sqlite:///{tmp_path / 'm.db'}"}
    ctx = JobContext(rule="init_tracking", wildcards={}, input={},
                     output={"marker": str(tmp_path / "m.json")}, params={"tracking": tracking})  # fmt: skip
    with pytest.raises(InputError, match="never-set-up"):
        invocation.init_tracking(ctx)
    assert not (tmp_path / "m.json").exists()
