"""Job runtime helpers shared by every Snakemake script: logging set-up and threads; and a
workflow copier for scratch runs (tests, benchmarks)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import traceback
from pathlib import Path
from types import TracebackType

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    log_path: str | os.PathLike[str] | None = None, level: int = logging.INFO
) -> None:
    """Send library logging to the job's Snakemake log file (and stderr).

    Called once at the top of each workflow script so that every rule's ``log:``
    holds the library's messages, warnings and tracebacks.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught


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
