"""The workflow through a real (single-node) SLURM with profiles/slurm.

A throw-away cluster (tests/slurm_harness.py) runs on loopback; the workflow runs in a
copy of the repository with a test profile derived from profiles/slurm: the partition
placeholder is filled with the test partition, the account and the GPU requests are
dropped (the node has neither), and the status checks are made fast. Everything else
(rerun-incomplete, retries, default runtime/mem, cpus_per_task = threads, logdir...) is
the shipped profile, so a broken profile fails here.

Checks: every non-local job went through the scheduler (squeue comment ``rule_<name>``
and a COMPLETED ``sacct --completion`` record, one per job), the final outputs exist and
nothing is left to do, and MLflow holds one FINISHED run per training job.

Accounting: there is no slurmdbd (it needs MySQL). ``sacct`` therefore reads the
``jobcomp/filetxt`` completion log (``sacct -c``), and the executor plugin queries job
states with ``squeue`` (MinJobAge is one hour, so finished jobs stay visible).

Skipped only where slurmctld is not installed and ``CI`` is not ``true``; in CI it must
run (install with ``.ci/slurm-setup.sh``).
"""

from __future__ import annotations

import collections
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slurm_harness
import yaml

from jetdistill import runtime

# Tests that need the cluster are marked slurm + slow; the profile checks at the end of
# the file need no cluster and run anywhere.

REPO = Path(__file__).resolve().parents[1]
CONFIGFILE = "config/test.yaml"
TRAINING_RULES = ("train_teacher", "train_student_solo", "distill_student", "train_qat")
RUN_TIMEOUT_S = 1800


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def _require_slurm() -> None:
    missing = slurm_harness.missing_binaries()
    problem = None
    if missing:
        problem = (
            f"SLURM/munge not installed (missing {', '.join(missing)}; run .ci/slurm-setup.sh)"
        )
    elif os.geteuid() != 0:
        problem = "the single-node SLURM harness needs root (slurmd runs jobs as the submitter)"
    if problem:
        if _in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


def derive_test_profile(src: Path, dst_dir: Path, partition: str) -> Path:
    """profiles/slurm with the cluster placeholders filled for the throw-away cluster.

    Only what a real cluster would also have to change is changed (partition, account,
    GPU requests), plus status-check timing so the test does not sleep 40 s per job.
    """
    cfg = yaml.safe_load(src.read_text())
    assert cfg.get("executor") == "slurm", f"{src} does not select the slurm executor"
    res = cfg.setdefault("default-resources", {})
    res["slurm_partition"] = partition
    res.pop("slurm_account", None)
    for rule_res in (cfg.get("set-resources") or {}).values():
        for key in ("gpu", "gres", "gpu_model", "cpus_per_gpu"):
            rule_res.pop(key, None)
        if "slurm_partition" in rule_res:
            rule_res["slurm_partition"] = partition
    cfg["set-resources"] = {k: v for k, v in (cfg.get("set-resources") or {}).items() if v}
    cfg.update(
        {
            "slurm-no-account": True,  # no slurmdbd => no accounts to validate
            "slurm-status-command": "squeue",  # sacct needs slurmdbd for live job states
            "slurm-init-seconds-before-status-checks": 2,
            "slurm-keep-successful-logs": True,  # kept as evidence for the failure messages
            "jobs": 4,
            "retries": 0,  # a failure must fail the test, not retry
            "latency-wait": 10,
            "keep-going": False,
        }
    )
    dst_dir.mkdir(parents=True, exist_ok=True)
    (dst_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dst_dir


def _env(cluster: slurm_harness.SlurmCluster) -> dict[str, str]:
    env = dict(cluster.env)
    # sbatch --export=ALL: the job's `python -m snakemake` must find the venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for k in ("JETDISTILL_INVOCATION_ID", "JETDISTILL_PARENT_RUN_ID"):
        env.pop(k, None)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _snakemake(
    work: Path, env: dict[str, str], *args: str, timeout: int = RUN_TIMEOUT_S
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--configfile", CONFIGFILE, *args]
    return subprocess.run(
        cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _job_stats(text: str) -> collections.Counter:
    """The "Job stats" table Snakemake prints: rule -> job count (without `total`)."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\s*\n", text + "\n\n", re.DOTALL)
    assert m, f"no job stats table in:\n{text[-3000:]}"
    counts = collections.Counter()
    for line in m.group(1).splitlines():
        name, n = line.split()
        if name != "total":
            counts[name] = int(n)
    return counts


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    _require_slurm()
    # A short root: socket paths (munge) are limited to 108 characters.
    root = Path(tmp_path_factory.mktemp("slurm"))
    cluster = slurm_harness.start(root)
    try:
        yield cluster
    finally:
        slurm_harness.stop(cluster)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster: slurm_harness.SlurmCluster, tmp_path_factory: pytest.TempPathFactory):
    """config/test.yaml run once through the cluster; returns (workdir, combined log, dry-run stats)."""
    work = runtime.copy_workflow(REPO, tmp_path_factory.mktemp("slurm_wf"))
    profile = derive_test_profile(
        REPO / "profiles/slurm/config.yaml", work / "test_profile", slurm_harness.PARTITION
    )
    env = _env(slurm_cluster)
    # --workflow-profile (not --profile): profiles/default would otherwise be loaded as the
    # workflow profile and override the cluster's default-resources key by key.
    prof_args = ("--workflow-profile", str(profile))
    dry = _snakemake(work, env, *prof_args, "--dry-run", timeout=600)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-6000:]
    planned = _job_stats(dry.stdout + dry.stderr)
    t0 = time.monotonic()
    proc = _snakemake(work, env, *prof_args)
    elapsed = time.monotonic() - t0
    text = proc.stdout + proc.stderr
    (work / "snakemake_slurm.log").write_text(text)
    assert proc.returncode == 0, (
        f"snakemake under SLURM failed ({proc.returncode}) after {elapsed:.0f}s:\n"
        f"{text[-8000:]}\n{slurm_cluster.logs()}"
    )
    print(f"workflow under SLURM: {elapsed:.0f} s")
    return work, text, planned


@pytest.mark.slurm
@pytest.mark.slow
def test_every_cluster_job_went_through_the_scheduler(slurm_run, slurm_cluster):
    _, text, planned = slurm_run
    local = collections.Counter(re.findall(r"^localrule (\w+):", text, re.MULTILINE))
    remote = collections.Counter(re.findall(r"^rule (\w+):", text, re.MULTILINE))
    assert local + remote == planned, f"planned {planned}, ran local {local} remote {remote}"
    assert set(TRAINING_RULES) <= set(remote), f"training rules not submitted: {remote}"
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", text)
    assert len(set(submitted)) == len(submitted) == sum(remote.values()), (submitted, remote)

    # slurmctld's view: the job comment the plugin sets is rule_<name>[_wildcards_...]
    sq = slurm_cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%k|%T").stdout
    by_id = {}
    for line in sq.splitlines():
        jobid, comment, state = line.strip().split("|")
        by_id[jobid] = (comment, state)
    assert set(submitted) <= set(by_id), f"jobs unknown to squeue: {set(submitted) - set(by_id)}"
    sched_rules = collections.Counter()
    for jobid in submitted:
        comment, state = by_id[jobid]
        assert state == "COMPLETED", (jobid, comment, state)
        m = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", comment)
        assert m, comment
        sched_rules[m.group(1)] += 1
    assert sched_rules == remote

    # sacct: the completion records (jobcomp/filetxt), one COMPLETED line per job
    out = slurm_cluster.run(
        "sacct",
        "--completion",
        "--parsable2",
        "--noheader",
        "--format=JobIDRaw,State,Partition,NCPUS",
    ).stdout
    sacct = {row.split("|")[0]: row.split("|")[1:] for row in out.splitlines() if row.strip()}
    assert set(submitted) <= set(sacct), f"jobs missing in sacct -c: {set(submitted) - set(sacct)}"
    for jobid in submitted:
        state, partition, ncpus = sacct[jobid]
        assert state == "COMPLETED" and partition == slurm_harness.PARTITION, (jobid, sacct[jobid])
        assert int(ncpus) >= 1


@pytest.mark.slurm
@pytest.mark.slow
def test_final_outputs_exist_and_nothing_is_left_to_do(slurm_run, slurm_cluster):
    work, _, _ = slurm_run
    for rel in (
        "results/summary.csv",
        "results/summary.md",
        "results/comparison/kd_vs_solo.csv",
        "results/compression/frontier.csv",
    ):
        assert (work / rel).stat().st_size > 0, rel
    dry = _snakemake(
        work,
        _env(slurm_cluster),
        "--workflow-profile",
        "none",
        "--cores",
        "1",
        "--dry-run",
        timeout=600,
    )
    assert dry.returncode == 0
    text = dry.stdout + dry.stderr
    assert "Nothing to be done" in text or re.search(r"^total\s+0\s*$", text, re.MULTILINE), text[
        -3000:
    ]


@pytest.mark.slurm
@pytest.mark.slow
def test_mlflow_holds_one_finished_run_per_training_job(slurm_run):
    work, text, _ = slurm_run
    remote = collections.Counter(re.findall(r"^rule (\w+):", text, re.MULTILINE))
    con = sqlite3.connect(work / "mlflow.db")
    try:
        rows = con.execute(
            "select t.value, r.status, count(*) from runs r join tags t on t.run_uuid = r.run_uuid"
            " where t.key = 'jetdistill.rule' group by t.value, r.status"
        ).fetchall()
        invocations = con.execute(
            "select count(distinct value) from tags where key = 'jetdistill.invocation'"
        ).fetchone()[0]
    finally:
        con.close()
    finished = {rule: n for rule, status, n in rows if status == "FINISHED"}
    not_finished = [(rule, status, n) for rule, status, n in rows if status != "FINISHED"]
    assert not not_finished, not_finished
    for rule in TRAINING_RULES:
        assert finished.get(rule) == remote[rule], (rule, finished, remote)
    # every job (on whichever node) tagged its run with the one invocation id of this run
    assert invocations == 1


# --------------------------------------------------------------------------- no cluster needed


def _job_resources(text: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the ``resources:`` of each of its jobs, from Snakemake's job listing."""
    out: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block)
        r = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        if m and r:
            out[m.group(1)].append(dict(kv.split("=", 1) for kv in r.group(1).split(", ")))
    return out


def test_slurm_profile_resources_in_a_dry_run(tmp_path: Path):
    """profiles/slurm parses and gives GPU requests to training rules only, cpus = threads."""
    work = runtime.copy_workflow(REPO, tmp_path / "wf")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--configfile",
            CONFIGFILE,
            "--workflow-profile",
            str(REPO / "profiles/slurm"),
            "--dry-run",
            "--cores",
            "4",
        ],  # a dry run caps threads at --cores
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    res = _job_resources(text)
    for rule in TRAINING_RULES:
        assert res[rule], f"no {rule} job in the dry run"
        for r in res[rule]:
            assert r["gpu"] == "1", (rule, r)
            assert r["slurm_partition"] == "CHANGE_ME_PARTITION", (rule, r)
    for rule in ("generate_jets", "split_data", "prepare_view", "summarize"):
        for r in res[rule]:
            assert r["gpu"] == "0", (rule, r)
    # cpus_per_task follows threads: train_teacher declares 2 threads in rules/teachers.smk
    assert {r["cpus_per_task"] for r in res["train_teacher"]} == {"2"}
    assert {r["runtime"] for r in res["train_teacher"]} == {"240"}


def test_derived_test_profile_fills_placeholders_and_drops_gpus(tmp_path: Path):
    src = REPO / "profiles/slurm/config.yaml"
    original = yaml.safe_load(src.read_text())
    assert original["default-resources"]["slurm_partition"] == "CHANGE_ME_PARTITION"
    assert original["default-resources"]["slurm_account"] == "CHANGE_ME_ACCOUNT"
    derived = yaml.safe_load(
        (derive_test_profile(src, tmp_path, "debug") / "config.yaml").read_text()
    )
    assert derived["default-resources"]["slurm_partition"] == "debug"
    assert "slurm_account" not in derived["default-resources"]
    assert not any("gpu" in r or "gres" in r for r in derived.get("set-resources", {}).values())
    # everything else is the shipped profile
    for key in ("executor", "rerun-incomplete", "slurm-logdir", "max-jobs-per-second"):
        assert derived[key] == original[key], key
    for key in ("runtime", "mem_mb", "cpus_per_task"):
        assert derived["default-resources"][key] == original["default-resources"][key], key
    assert (
        derived["set-resources"]["train_teacher"]["runtime"]
        == original["set-resources"]["train_teacher"]["runtime"]
    )
