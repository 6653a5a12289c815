"""Job runtime helpers shared by every Snakemake script: logging set-up, threads, the
allocator settings and the job's own resource record; and a workflow copier for scratch
runs (tests, benchmarks)."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    log_path: str | os.PathLike[str] | None = None, level: int = logging.INFO
) -> None:
    """Start a job: library logging to the job's Snakemake log file (and stderr), the
    allocator settings (:func:`tune_allocator`) and, at exit, the job's resource record
    (:func:`record_usage_at_exit`, ``<log>.usage.json`` next to the log).

    Called once at the top of each workflow script (directly or through
    ``JobContext.from_snakemake``), locally and on SLURM alike, so that every rule's
    ``log:`` holds the library's messages, warnings and tracebacks, and every job runs with
    the same allocator and leaves the same record: this is the one start-up hook all jobs
    share.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught
    applied = tune_allocator()
    if applied:
        logging.getLogger(__name__).debug("allocator: %s", applied)
    if log_path:
        record_usage_at_exit(usage_path(log_path))


def error_line(exc: BaseException) -> str:
    """The one-line form of an error: ``ExceptionType: message`` (first line of the message)."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


def log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """``sys.excepthook`` of a job: the traceback and then the one-line error go through
    logging, i.e. to the rule's ``log:`` file *and* stderr.

    Without it an uncaught error reaches only stderr: Snakemake then reports
    ``Logfile ...: empty file`` and on SLURM the traceback is buried in the job output.
    The one-line error is the last line so that ``tail -1`` of a log says what went wrong.
    """
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    global _JOB_FAILED
    _JOB_FAILED = True
    err = logging.getLogger("jetdistill.job")
    err.error("job failed:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)).rstrip())
    err.error("ERROR %s", error_line(exc))
    for handler in logging.getLogger().handlers:
        handler.flush()


def set_threads(threads: int) -> None:
    """Limit intra-op parallelism to the threads Snakemake granted this job."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


# --------------------------------------------------------------------------- allocator
#: glibc's ``mallopt`` parameters (``<malloc.h>``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: The largest mmap threshold glibc accepts on 64-bit (``HEAP_MAX_SIZE / 2``); larger values
#: are refused by ``mallopt`` (it returns 0) and silently ignored in ``MALLOC_MMAP_THRESHOLD_``.
GLIBC_MAX_MMAP_THRESHOLD = 32 * 2**20
#: Set to ``0``/``off`` to run a job with glibc's defaults (benchmarks, debugging).
ENV_TUNE = "JETDISTILL_MALLOC_TUNE"


@dataclass(frozen=True)
class AllocatorSettings:
    """What :func:`tune_allocator` asks glibc for.

    ``mmap_threshold``: allocations at least this large get their own ``mmap`` and are
    unmapped on ``free``. glibc's default starts at 128 KiB (rising only as such blocks are
    freed), so every batch-sized tensor of a training step (the teacher's edge activations
    are ~28 MB at batch 256) was mapped, zero-filled page by page on first touch and
    unmapped again, every step: millions of minor page faults and a system time of about
    half the user time on a 2-core VM with a slow page-fault path. 32 MiB, glibc's maximum, keeps them on the heap, where a
    freed block is reused by the next step.

    ``trim_threshold``: free memory at the top of a heap beyond which ``free`` gives it back
    to the kernel (default 128 KiB). A step frees its whole working set at once, so a small
    threshold returns it and the next step faults it in again. 1 GiB: a job keeps what its
    step used (its peak RSS is unchanged, it needed that memory anyway); the memory goes
    back when the job, a short-lived process, exits.
    """

    mmap_threshold: int = GLIBC_MAX_MMAP_THRESHOLD
    trim_threshold: int = 2**30


#: What :func:`tune_allocator` set in this process (param name -> value), once applied.
_ALLOCATOR_APPLIED: dict[str, int] | None = None


def _glibc() -> ctypes.CDLL | None:
    """The C library of this process if it is glibc (``mallopt`` with glibc's numbering)."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (musl has mallopt-less stubs; glibc has this)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator(settings: AllocatorSettings | None = None) -> dict[str, int]:
    """Raise glibc's mmap and trim thresholds in this process (:class:`AllocatorSettings`).

    Why ``mallopt`` and not the ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``
    environment: glibc reads those once, when a program starts, so they would have to be set
    before Snakemake (or SLURM) starts every job's interpreter; ``mallopt`` works in the
    already-running job, and this function runs at every job's start
    (:func:`setup_logging`). A threshold the user set in the environment is left as it is;
    ``JETDISTILL_MALLOC_TUNE=0`` leaves glibc's defaults. Other C libraries (musl, macOS)
    are left alone. Returns what was set (empty when nothing was).
    """
    global _ALLOCATOR_APPLIED
    if _ALLOCATOR_APPLIED is not None:
        return dict(_ALLOCATOR_APPLIED)
    applied: dict[str, int] = {}
    if os.environ.get(ENV_TUNE, "1").strip().lower() in ("0", "off", "false", "no"):
        _ALLOCATOR_APPLIED = applied
        return {}
    libc = _glibc()
    if libc is None:
        _ALLOCATOR_APPLIED = applied
        return {}
    s = settings or AllocatorSettings()
    for env, param, value in (
        ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, min(s.mmap_threshold, GLIBC_MAX_MMAP_THRESHOLD)),
        ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, s.trim_threshold),
    ):  # fmt: skip
        if env in os.environ:
            continue
        if libc.mallopt(param, int(value)) == 1:
            applied[env.strip("_").lower().removeprefix("malloc_")] = int(value)
        else:
            logging.getLogger(__name__).warning("mallopt refused %s=%d", env.strip("_"), value)
    _ALLOCATOR_APPLIED = applied
    return dict(applied)


# --------------------------------------------------------------------------- resource record
@dataclass(frozen=True)
class Usage:
    """A process's resource use (``getrusage``): CPU seconds, page faults, peak memory.

    ``children_*`` are the finished child processes it waited for (compilers, Verilator,
    Yosys of the FPGA rules). ``wall_s`` counts from the job's set-up, not the interpreter's
    start (Snakemake's benchmark ``s`` has that).
    """

    wall_s: float
    user_s: float
    sys_s: float
    minor_faults: int
    major_faults: int
    max_rss_mb: float
    children_user_s: float
    children_sys_s: float
    children_minor_faults: int
    children_max_rss_mb: float
    allocator: dict[str, int]
    failed: bool = False

    @property
    def sys_share(self) -> float:
        """System time as a fraction of user time (the issue's measure: target < 3%)."""
        return self.sys_s / self.user_s if self.user_s > 0 else float("nan")


def _rss_mb(ru_maxrss: int) -> float:
    # Linux reports KiB, macOS bytes
    return ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def resource_usage(started: float | None = None) -> Usage:
    """This process's :class:`Usage` now; ``started`` is a ``time.monotonic()`` reading."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Usage(
        wall_s=round(time.monotonic() - (_JOB_STARTED if started is None else started), 3),
        user_s=round(me.ru_utime, 3), sys_s=round(me.ru_stime, 3),
        minor_faults=me.ru_minflt, major_faults=me.ru_majflt, max_rss_mb=round(_rss_mb(me.ru_maxrss), 1),
        children_user_s=round(ch.ru_utime, 3), children_sys_s=round(ch.ru_stime, 3),
        children_minor_faults=ch.ru_minflt, children_max_rss_mb=round(_rss_mb(ch.ru_maxrss), 1),
        allocator=dict(_ALLOCATOR_APPLIED or {}), failed=_JOB_FAILED,
    )  # fmt: skip


def usage_path(log_path: str | os.PathLike[str]) -> Path:
    """Where a job's resource record goes: ``logs/<rule>/<stem>.usage.json`` beside its log."""
    p = Path(log_path)
    return p.with_name(p.stem + USAGE_SUFFIX)


USAGE_SUFFIX = ".usage.json"
_JOB_STARTED = time.monotonic()
_JOB_FAILED = False
_USAGE_TARGET: Path | None = None


def record_usage_at_exit(path: str | os.PathLike[str]) -> None:
    """At exit, write this process's :class:`Usage` to ``path`` (JSON) and log one line.

    Snakemake's benchmark files sample the job's memory and total CPU; they have no system
    time and no page faults, which is where a badly tuned allocator shows. The log line is
    skipped after an uncaught error so that a failed job's last log line stays its error.
    Calling it again (tests call :func:`setup_logging` repeatedly) re-points the record.
    """
    global _USAGE_TARGET, _JOB_STARTED
    first = _USAGE_TARGET is None
    _USAGE_TARGET = Path(path)
    _JOB_STARTED = time.monotonic()
    if first:
        atexit.register(_write_usage)


def _write_usage() -> None:
    if _USAGE_TARGET is None:
        return
    try:
        u = resource_usage()
        rec = {**asdict(u), "sys_share": round(u.sys_share, 4) if u.user_s > 0 else None}
        _write_record(_USAGE_TARGET, json.dumps(rec, indent=1) + "\n")
        if not u.failed:
            logging.getLogger(__name__).info(
                "resources: wall %.1f s, user %.1f s, system %.1f s (%.1f%% of user), "
                "%d minor / %d major page faults, peak RSS %.0f MB",
                u.wall_s, u.user_s, u.sys_s, 100 * u.sys_share if u.user_s > 0 else 0.0,
                u.minor_faults, u.major_faults, u.max_rss_mb,
            )  # fmt: skip
    except Exception as exc:  # noqa: BLE001  (a record must never fail a finished job)
        logging.getLogger(__name__).debug("no resource record at %s: %s", _USAGE_TARGET, exc)


def _write_record(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, rename it onto ``path``; on any failure (a full
    disk, the usual reason a job failed) remove the temporary, so no ``.tmp`` is left behind.

    Not :func:`jetdistill.io.atomic_path`: this runs at exit, where a write error must never
    end the process (atomic_path exits at once if HDF5 files are still open)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------- scratch workflows
#: What ``snakemake`` needs to run this workflow from another directory (no results, no venv).
WORKFLOW_ITEMS = ("Snakefile", "rules", "workflow", "config", "report", "profiles", "envs")


def copy_workflow(repo: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy the workflow files of ``repo`` into ``dest`` and return ``dest``.

    Tests and benchmarks run the real DAG in a scratch directory so that they never touch
    the user's ``results/``, ``mlflow.db`` or ``.snakemake/`` state.
    """
    repo, dest = Path(repo), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_ITEMS:
        src = repo / item
        if src.is_dir():
            shutil.copytree(
                src, dest / item, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif src.exists():
            shutil.copy2(src, dest / item)
    return dest
