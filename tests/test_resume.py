"""Resuming after a hard kill: SIGKILL Snakemake in the middle of training, then re-run.

Why: on a cluster a login-node session or a whole allocation can die at any moment. A
re-run must finish the work without anyone deleting files by hand, and no job may have
consumed the half-written output of the killed job.

The test works on a copy of the session's finished end-to-end run (``e2e_workdir``),
rewound to the state of a first run that has reached distillation: the outputs of every
``distill_student`` job and of everything downstream of it (the jobs a
``--forcerun distill_student`` dry run lists) are deleted. A plain ``snakemake`` then
starts the KD jobs; the Snakemake process group is SIGKILLed as soon as the first of them
has started (its log file appears), and the same plain command is run again. The only
command in between is ``snakemake --unlock``: a SIGKILLed Snakemake cannot release its
directory lock (SIGINT/SIGTERM do), and removing a stale lock is Snakemake's documented,
file-preserving step. ``rerun-incomplete`` comes from profiles/default.

Why rewind instead of ``--forcerun`` on the finished run: Snakemake 9 does not rebuild a
missing intermediate file while the final outputs are present and newer than their
other inputs, so after killing a forced re-run on a *finished* workflow a plain re-run
reports "Nothing to be done"; there, the interrupted ``--forcerun`` command itself has to
be repeated.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clone_run, run_snakemake, snakemake_env

pytestmark = pytest.mark.slow

CONFIG = ("--configfile", "config/test.yaml")
KILL_RULE = "distill_student"
START_TIMEOUT_S = 900
#: Keys of metrics.json that measure the machine, not the model.
VOLATILE = ("run_id", "train_seconds", "samples_per_s")


def stable_record(path: Path) -> dict:
    """A job's metrics.json without the fields that legitimately differ between runs."""
    rec = json.loads(path.read_text())
    rec = {k: v for k, v in rec.items() if k not in VOLATILE}
    rec["metrics"] = {k: v for k, v in rec.get("metrics", {}).items() if k not in VOLATILE}
    return rec


def incomplete_outputs(work: Path) -> set[str]:
    """Outputs Snakemake marked as incomplete (file names are base64 under .snakemake/incomplete)."""
    d = work / ".snakemake" / "incomplete"
    if not d.is_dir():
        return set()
    out = set()
    for f in d.iterdir():
        try:
            out.add(base64.b64decode(f.name).decode())
        except ValueError:
            continue
    return out


def kd_job_dir(work: Path, log: Path) -> Path:
    """The output directory of the distill_student job that owns ``log``.

    rules/students.smk: outputs in
    ``students/kd/{student}/{teacher}/{method}/T{T}_a{alpha}/{arm}/seed{seed}``, log
    ``logs/distill_student/{student}_{teacher}_{method}_T{T}_a{alpha}_{arm}_seed{seed}.log``.
    """
    root = work / "results/students/kd"
    matches = [
        d for d in root.glob("*/*/*/*/*/seed*") if "_".join(d.relative_to(root).parts) == log.stem
    ]
    assert len(matches) == 1, (log, matches)
    return matches[0]


def nothing_to_do(proc: subprocess.CompletedProcess) -> bool:
    """Whether a ``--dry-run`` planned no job (Snakemake 9 prints either form)."""
    text = proc.stdout + proc.stderr
    return (
        "Nothing to be done" in text or re.search(r"^total\s+0\s*$", text, re.MULTILINE) is not None
    )


def planned_outputs(text: str) -> list[str]:
    """Every ``output:`` file of the jobs listed by a Snakemake (dry) run."""
    files: list[str] = []
    for line in re.findall(r"^\s+output: (.*)$", text, re.MULTILINE):
        files.extend(f.strip() for f in line.split(", ") if f.strip())
    return files


def rewind_to_before(work: Path, rule: str) -> list[str]:
    """Delete the outputs of ``rule``'s jobs and of all jobs downstream of them."""
    dry = run_snakemake(work, *CONFIG, "--cores", "1", "--dry-run", "--forcerun", rule)
    files = planned_outputs(dry.stdout + dry.stderr)
    assert any(f"rule {rule}:" in line for line in (dry.stdout + dry.stderr).splitlines()), (
        dry.stdout[-2000:]
    )
    for f in files:
        (work / f).unlink(missing_ok=True)
    return files


def _started_logs(log_dir: Path, since: float) -> list[Path]:
    if not log_dir.is_dir():
        return []
    return sorted(p for p in log_dir.glob("*.log") if p.stat().st_mtime >= since)


def kill_during_first_job(
    work: Path, args: list[str], log_dir: Path, out: Path
) -> tuple[list[Path], float]:
    """Start snakemake in its own process group; SIGKILL the group once a job log appears.

    Returns the logs that had appeared and the time of the kill.
    """
    t0 = time.time()
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=snakemake_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            logs = _started_logs(log_dir, t0)
            if logs:
                break
            if proc.poll() is not None:
                pytest.fail(
                    f"snakemake ended ({proc.returncode}) before a {KILL_RULE} job "
                    f"started:\n{out.read_text()[-4000:]}"
                )
            time.sleep(0.05)
        else:
            pytest.fail(f"no {KILL_RULE} job started within {START_TIMEOUT_S}s")
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = time.time()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    # the job's python process was in the same group; give the kernel a moment to reap it
    time.sleep(0.5)
    return logs, killed_at


@pytest.fixture(scope="module")
def resumed(e2e_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = clone_run(e2e_workdir, tmp_path_factory.mktemp("resume") / "wf")
    log_dir = work / "results/logs" / KILL_RULE
    shutil.rmtree(log_dir, ignore_errors=True)
    kd_metrics = sorted((work / "results/students/kd").rglob("metrics.json"))
    originals = {p.relative_to(work): stable_record(p) for p in kd_metrics}
    removed = rewind_to_before(work, KILL_RULE)
    assert "results/summary.csv" in removed and all(str(p) in removed for p in originals), removed

    logs, killed_at = kill_during_first_job(
        work, [*CONFIG, "--cores", "2"], log_dir, work / "killed.log"
    )
    killed_dirs = [kd_job_dir(work, log) for log in logs]
    state_after_kill = {
        "metrics_present": {d: (d / "metrics.json").exists() for d in killed_dirs},
        "incomplete": incomplete_outputs(work),
    }
    blocked = run_snakemake(work, *CONFIG, "--cores", "2", check=False)
    run_snakemake(work, *CONFIG, "--unlock")
    t_resume = time.time()
    resume = run_snakemake(work, *CONFIG, "--cores", "2")
    (work / "resume.log").write_text(resume.stdout + resume.stderr)
    return {
        "work": work,
        "killed_dirs": killed_dirs,
        "killed_at": killed_at,
        "t_resume": t_resume,
        "after_kill": state_after_kill,
        "blocked": blocked,
        "resume": resume,
        "originals": originals,
    }


def test_kill_hit_a_running_training_job(resumed):
    """The kill came after the job started and before it wrote its results."""
    assert resumed["killed_dirs"]
    for d, present in resumed["after_kill"]["metrics_present"].items():
        assert not present, f"{d}/metrics.json existed at kill time: the kill came too late"
    incomplete = resumed["after_kill"]["incomplete"]
    work = resumed["work"]
    for d in resumed["killed_dirs"]:
        rel = str((d / "metrics.json").relative_to(work))
        assert rel in incomplete, f"{rel} not marked incomplete: {sorted(incomplete)}"


def test_stale_lock_is_the_only_obstacle(resumed):
    """Without --unlock Snakemake refuses (stale lock), and nothing else needed doing."""
    blocked = resumed["blocked"]
    assert blocked.returncode != 0
    assert "cannot be locked" in blocked.stdout + blocked.stderr


def test_rerun_completes_and_recomputes_the_killed_job(resumed):
    work = resumed["work"]
    text = resumed["resume"].stdout + resumed["resume"].stderr
    assert f"rule {KILL_RULE}:" in text
    for d in resumed["killed_dirs"]:
        for name in ("model.pt", "metrics.json"):
            f = d / name
            assert f.stat().st_mtime >= resumed["t_resume"], f"{f} was not rewritten by the re-run"
    assert not incomplete_outputs(work)
    dry = run_snakemake(work, *CONFIG, "--cores", "1", "--dry-run")
    assert nothing_to_do(dry), (dry.stdout + dry.stderr)[-3000:]


def test_resumed_outputs_are_complete_and_equal_to_an_uninterrupted_run(resumed):
    """No partial output: the re-run's files load and match the uninterrupted run exactly."""
    import torch

    from jetdistill.learn.training import read_checkpoint

    work = resumed["work"]
    for d in resumed["killed_dirs"]:
        state, meta = read_checkpoint(d / "model.pt")
        assert isinstance(state, dict) and state and meta["kind"] == "float"
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
        rel = (d / "metrics.json").relative_to(work)
        rec = stable_record(d / "metrics.json")
        assert 0.0 <= rec["metrics"]["test_accuracy"] <= 1.0
        assert rec == resumed["originals"][rel]
    # the downstream tables were rebuilt from complete inputs
    for rel in ("results/comparison/kd_vs_solo.csv", "results/summary.csv"):
        assert (work / rel).stat().st_mtime >= resumed["t_resume"], rel
