"""Shared fixtures: a copy of the workflow in a temporary directory and one end-to-end run.

The end-to-end run of config/test.yaml is session-scoped: the e2e, report, resume and
determinism tests all read from it, so CI runs the real DAG once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_ITEMS = ("Snakefile", "rules", "workflow", "config", "report", "profiles", "envs")


def copy_workflow(dest: Path) -> Path:
    """Copy what `snakemake` needs (not results, not the venv) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_ITEMS:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / item)
    return dest


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JETDISTILL_INVOCATION_ID", None)
    env.pop("JETDISTILL_PARENT_RUN_ID", None)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_snakemake(
    workdir: Path, *args: str, timeout: int = 1800, check: bool = True
) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-12000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Snakemake DAG on config/test.yaml, run once per test session."""
    work = copy_workflow(tmp_path_factory.mktemp("e2e"))
    run_snakemake(work, "--cores", "2", "--configfile", "config/test.yaml")
    return work
