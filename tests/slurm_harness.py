"""Start and stop a throw-away single-node SLURM (munged + slurmctld + slurmd) on loopback.

Why: the workflow's SLURM profile can only be trusted once real ``sbatch`` jobs have
gone through a real scheduler. Containers have no systemd and no cgroups, so the
daemons run in the foreground as children of the test process, with every state,
spool, log and socket file under one temporary directory, and are killed at teardown
whatever happened.

Accounting: no slurmdbd/MySQL. ``AccountingStorageType=accounting_storage/none``
makes ``sacct`` ask slurmctld directly for the jobs it still holds in memory
(``MinJobAge`` is raised so finished jobs stay there for the whole test), and
``JobCompType=jobcomp/filetxt`` writes one line per finished job to
``<root>/jobcomp.txt`` as a second, persistent record.

Nothing is installed here: ``.ci/slurm-setup.sh`` installs Debian's ``slurm-wlm`` and
``munge`` when they are missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

NODE_NAME = "localhost"
PARTITION = "debug"
CLUSTER = "jdtest"
DAEMONS = ("munged", "slurmctld", "slurmd")


class SlurmUnavailable(RuntimeError):
    """The SLURM or munge binaries are missing on this machine."""


def missing_binaries() -> list[str]:
    """Names of the binaries the harness needs that are not on PATH (or in /usr/sbin)."""
    need = (*DAEMONS, "sbatch", "sinfo", "sacct", "squeue", "scontrol", "srun")
    return [b for b in need if _which(b) is None]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_hardware() -> tuple[int, int]:
    """(CPUs, RealMemory MB) as slurmd itself detects them.

    Using ``slurmd -C`` (rather than nproc / /proc/meminfo) guarantees slurmd will not
    drain the node for "Low RealMemory" or a CPU count mismatch.
    """
    out = subprocess.run(
        [_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True, check=True
    ).stdout
    cpus = int(re.search(r"\bCPUs=(\d+)", out).group(1))  # type: ignore[union-attr]
    mem = int(re.search(r"\bRealMemory=(\d+)", out).group(1))  # type: ignore[union-attr]
    return cpus, mem


def slurm_conf_text(
    root: Path, *, cpus: int, mem_mb: int, ctld_port: int, slurmd_port: int, munge_socket: Path
) -> str:
    """The slurm.conf of a one-node cluster whose every file lives under ``root``."""
    r = root
    return f"""\
ClusterName={CLUSTER}
SlurmctldHost={NODE_NAME}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
# Keep finished jobs in slurmctld so sacct (no slurmdbd) and squeue can still see them.
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
JobCompType=jobcomp/filetxt
JobCompLoc={r}/jobcomp.txt
InactiveLimit=0
KillWait=5
Waittime=0
SlurmdTimeout=60
NodeName={NODE_NAME} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE_NAME} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running single-node cluster; ``env`` is what clients (sbatch, sacct...) need."""

    root: Path
    conf: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.txt"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def sacct_jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld knows, one dict per allocation (``sacct -X``)."""
        fmt = "JobIDRaw,JobName%200,State,Partition,NCPUS,ExitCode"
        out = self.run(
            "sacct",
            "-X",
            "-a",
            "--parsable2",
            "--noheader",
            f"--format={fmt}",
            "--starttime",
            "2000-01-01",
        ).stdout
        keys = [k.split("%")[0] for k in fmt.split(",")]
        return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]

    def jobcomp_records(self) -> list[dict[str, str]]:
        """Parsed ``jobcomp/filetxt`` lines (``Key=Value`` pairs) of finished jobs."""
        if not self.jobcomp.exists():
            return []
        recs = []
        for line in self.jobcomp.read_text().splitlines():
            pairs = re.findall(r"(\w+)=(\S*)", line)
            if pairs:
                recs.append(dict(pairs))
        return recs

    def logs(self) -> str:
        """Tail of each daemon log, for failure messages."""
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            p = self.root / name
            if p.exists():
                parts.append(f"--- {name}\n" + "\n".join(p.read_text().splitlines()[-30:]))
        return "\n".join(parts)


def _write_munge_key(path: Path) -> None:
    path.write_bytes(os.urandom(1024))
    path.chmod(0o400)


def _write_srun_shim(root: Path, conf: Path) -> Path:
    """A ``bin/srun`` that points the real srun at this cluster's slurm.conf.

    Why: on a real cluster clients find /etc/slurm/slurm.conf. Here the config lives in
    a tmp dir and is found through ``SLURM_CONF``, but snakemake's slurm-jobstep executor
    strips every ``SLURM_*`` variable except the job id from the environment of the
    ``srun`` it starts inside each job. Writing /etc/slurm would touch the host, so a
    shim first on the (exported) PATH restores the variable and execs the real srun.
    """
    real = _which("srun")
    if real is None:
        raise SlurmUnavailable("srun not found")
    bindir = root / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "srun"
    shim.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
    shim.chmod(0o755)
    return bindir


def _spawn(name: str, cmd: list[str], root: Path, env: dict[str, str]) -> subprocess.Popen:
    out = open(root / f"{name}.stdout", "wb")  # noqa: SIM115 - closed with the process
    log.info("starting %s: %s", name, " ".join(cmd))
    # Own session: the daemons must not receive the test's Ctrl-C / process-group signals,
    # and stop() can kill each group by id.
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _wait(predicate, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, p in cluster.procs.items():
            if p.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {p.returncode} while waiting for {what}\n{cluster.logs()}"
                )
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{cluster.logs()}")


def start(root: Path, timeout: float = 60.0) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root``; return once the node is idle.

    Must run as root (slurmd launches jobs as the submitting user). On any failure the
    daemons already started are stopped before the exception propagates.
    """
    missing = missing_binaries()
    if missing:
        raise SlurmUnavailable(
            f"missing SLURM/munge binaries: {', '.join(missing)} (run .ci/slurm-setup.sh)"
        )
    if os.geteuid() != 0:
        raise SlurmUnavailable("the single-node SLURM harness must run as root")
    root = Path(root)
    for d in ("state", "spool", "munge"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    munge_socket = root / "munge" / "munge.socket.2"
    key = root / "munge" / "munge.key"
    _write_munge_key(key)
    cpus, mem = node_hardware()
    conf = root / "slurm.conf"
    ctld_port = _free_port()
    conf.write_text(
        slurm_conf_text(
            root,
            cpus=cpus,
            mem_mb=mem,
            ctld_port=ctld_port,
            slurmd_port=_free_port(),
            munge_socket=munge_socket,
        )
    )
    env = dict(os.environ, SLURM_CONF=str(conf))
    env["PATH"] = f"{_write_srun_shim(root, conf)}{os.pathsep}{env.get('PATH', '')}"
    for var in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))]:
        if var != "SLURM_CONF":
            env.pop(var)
    cluster = SlurmCluster(root=root, conf=conf, env=env)
    try:
        cluster.procs["munged"] = _spawn(
            "munged",
            [
                _which("munged") or "munged",
                "--foreground",
                "--force",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--pid-file={root}/munged.pid",
                f"--log-file={root}/munged.log",
                f"--seed-file={root}/munge/munged.seed",
            ],
            root,
            env,
        )
        _wait(munge_socket.exists, timeout, "the munge socket", cluster)
        cluster.procs["slurmctld"] = _spawn(
            "slurmctld",
            [_which("slurmctld") or "slurmctld", "-D", "-i", "-f", str(conf)],
            root,
            env,
        )
        _wait(
            lambda: cluster.run("scontrol", "ping", check=False).stdout.count("UP") > 0,
            timeout,
            "slurmctld to answer scontrol ping",
            cluster,
        )
        cluster.procs["slurmd"] = _spawn(
            "slurmd",
            [_which("slurmd") or "slurmd", "-D", "-N", NODE_NAME, "-f", str(conf)],
            root,
            env,
        )
        _wait(
            lambda: _node_state(cluster) in {"idle", "mixed", "allocated"},
            timeout,
            "the node to become idle in sinfo",
            cluster,
        )
    except BaseException:
        stop(cluster)
        raise
    log.info("single-node SLURM up under %s", root)
    return cluster


def _node_state(cluster: SlurmCluster) -> str:
    res = cluster.run("sinfo", "-h", "-N", "-o", "%t", check=False)
    return res.stdout.strip().rstrip("*~#!%$@^-").lower()


def stop(cluster: SlurmCluster, grace: float = 10.0) -> None:
    """Cancel remaining jobs and stop every daemon this harness started (reverse order).

    Each daemon runs in its own session, so its whole process group (job steps,
    slurmstepd) is signalled by id; nothing else on the machine is touched.
    """
    if cluster.procs.get("slurmctld") and cluster.procs["slurmctld"].poll() is None:
        with contextlib.suppress(Exception):
            cluster.run("scancel", "--user=root", "--full", check=False)
            deadline = time.monotonic() + grace
            while (
                time.monotonic() < deadline
                and cluster.run(
                    "squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING", check=False
                ).stdout.strip()
            ):
                time.sleep(0.5)
    for name in reversed(DAEMONS):
        proc = cluster.procs.get(name)
        if proc is None:
            continue
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
    _kill_stray_stepd(cluster.conf)
    cluster.procs.clear()


def _kill_stray_stepd(conf: Path) -> None:
    """Kill slurmstepd processes that belong to *this* cluster.

    slurmstepd leaves slurmd's process group (it runs in the job's working directory), so
    it is identified by the ``SLURM_CONF`` it inherited from this cluster's slurmd; no
    other SLURM on the host is touched. Normally there is none left: jobs are cancelled
    and given time to end before the daemons stop.
    """
    marker = f"SLURM_CONF={conf}".encode()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if (pid_dir / "comm").read_text().strip() != "slurmstepd":
                continue
            environ = (pid_dir / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_dir.name), signal.SIGKILL)


@contextlib.contextmanager
def running_cluster(root: Path, timeout: float = 60.0) -> Iterator[SlurmCluster]:
    """Context manager form of :func:`start` / :func:`stop`."""
    cluster = start(root, timeout)
    try:
        yield cluster
    finally:
        stop(cluster)
