"""Atomic file writing and small JSON helpers.

Snakemake treats an existing output file as finished, so every output is written
to a temporary sibling and renamed into place only once complete: a killed job
leaves no file that could be mistaken for a result.

A full disk (or quota, or file-size limit) is reported as one
:class:`OutputWriteError` naming the file ("disk full (no space left on device)"), and the
temporary files are removed. A library that hides the errno (C++ streams say only "iostream
error") is caught by measuring the free space of the output's file system when its write
fails. HDF5 needs
more than that: once a write has failed inside the HDF5 library, closing the file (or the
interpreter's exit, which closes it) crashes the process with SIGSEGV, and h5py reports
the failure only as "Exception ignored" noise from object destructors, in the middle of a
write loop, where no ``except`` can see it. So while an :func:`atomic_path` is open, a
``sys.unraisablehook`` watches for such write errors; on the first one, or when a write
error reaches :func:`atomic_path` while HDF5 files are still open, every temporary file of
this process is removed, one error line is logged and the process exits with status 1
without running HDF5's teardown.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from jetdistill.errors import JetDistillError

log = logging.getLogger(__name__)

#: errno values meaning "no room to write": disk full, file too large (ulimit -f), quota.
SPACE_ERRNOS: frozenset[int] = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
#: exit status of a job aborted on a write error (Snakemake only needs non-zero)
WRITE_ERROR_EXIT = 1

_ACTIVE_TEMPS: dict[Path, Path] = {}  # temporary path -> final path, while being written
_HOOK_INSTALLED = False


#: what each "no room" errno means for the user (the OS's own words in parentheses)
_REASONS: dict[int, str] = {
    errno.ENOSPC: "disk full (no space left on device)",
    errno.EDQUOT: "disk quota exceeded (disk full for this user)",
    errno.EFBIG: "File too large (file-size limit, e.g. ulimit -f)",
}
#: Below this many free bytes on the output's file system, a write error that carries no errno
#: (a C++ library's "basic_ios::clear: iostream error") is reported as a full disk.
LOW_SPACE_BYTES = 1 << 20


class OutputWriteError(JetDistillError, OSError):
    """An output could not be written (disk full, quota, file-size limit)."""

    def __init__(self, path: str | os.PathLike[str], code: int, detail: str = "") -> None:
        reason = _REASONS.get(code, os.strerror(code))
        super().__init__(
            code,
            f"cannot write {path}: {reason}{detail}; "
            "the temporary file was removed and no output was written",
        )
        self.path = str(path)


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes an unprivileged write could still use on the file system of ``path``."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return int(st.f_bavail) * int(st.f_frsize)


def _low_space(exc: BaseException, tmp: Path) -> tuple[int, str] | None:
    """(ENOSPC, detail) when a write error without an errno happened on a (nearly) full file
    system: libraries that write through C++ streams (torch.save to a path) report a full
    disk only as "basic_ios::clear: iostream error". Measured before the temporary is removed
    (removing it frees the space again)."""
    if not isinstance(exc, (OSError, RuntimeError)) or isinstance(exc, JetDistillError):
        return None
    free = free_bytes(tmp.parent)
    if free is None or free >= LOW_SPACE_BYTES:
        return None
    cause = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return errno.ENOSPC, f" ({free} bytes free on its file system after the write failed: {cause})"


def space_errno(exc: BaseException | None) -> int | None:
    """The ENOSPC/EFBIG/EDQUOT errno behind ``exc`` (or its causes), else None.

    h5py does not always set ``errno`` on its OSErrors; HDF5's message then carries
    ``errno = 28``.
    """
    seen = 0
    while exc is not None and seen < 10:
        code = getattr(exc, "errno", None)
        if code in SPACE_ERRNOS:
            return int(code)
        for m in re.finditer(r"errno = (\d+)", str(exc)):
            if int(m.group(1)) in SPACE_ERRNOS:
                return int(m.group(1))
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _open_hdf5_files() -> int:
    h5py = sys.modules.get("h5py")
    if h5py is None:
        return 0
    try:
        return int(h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE))
    except (AttributeError, RuntimeError, ValueError):  # pragma: no cover - never mask the error
        return 1


def _remove_active_temps() -> list[Path]:
    removed = []
    for tmp in list(_ACTIVE_TEMPS):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
        _ACTIVE_TEMPS.pop(tmp, None)
    return removed


def _abort_on_write_error(final: Path | str, code: int) -> NoReturn:
    """Remove every temporary output of this process, log one line, exit without HDF5 teardown."""
    removed = _remove_active_temps()
    log.error(
        "%s (%d temporary file(s) removed)", OutputWriteError(final, code).strerror, len(removed)
    )
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(WRITE_ERROR_EXIT)


def _unraisable_hook(unraisable: Any) -> None:
    code = space_errno(unraisable.exc_value)
    if code is not None and _ACTIVE_TEMPS:
        final = next(iter(_ACTIVE_TEMPS.values()))
        for t, f in _ACTIVE_TEMPS.items():  # the file named in HDF5's message, if any
            if t.name in str(unraisable.exc_value):
                final = f
        _abort_on_write_error(final, code)
    _previous_unraisable_hook(unraisable)


_previous_unraisable_hook = sys.unraisablehook


def _install_hook() -> None:
    global _HOOK_INSTALLED, _previous_unraisable_hook
    if not _HOOK_INSTALLED:
        _previous_unraisable_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable_hook
        _HOOK_INSTALLED = True


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries of ``path`` left by an earlier attempt that was killed.

    Safe because one output is written by one job at a time (Snakemake's locks).
    """
    final = Path(path)
    removed = []
    for stale in final.parent.glob(f".{glob_escape(final.name)}.*.tmp{glob_escape(final.suffix)}"):
        if stale not in _ACTIVE_TEMPS:
            with contextlib.suppress(OSError):
                stale.unlink()
                removed.append(stale)
    if removed:
        log.info("removed %d stale temporary file(s) of %s", len(removed), final)
    return removed


def glob_escape(text: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", text)


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status`` on Linux >= 4.7).

    ``os.umask`` can only be read by setting it; the fallback sets it back at once, but in
    between another thread could create a file with no mask, hence /proc first.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new output file: 0666 under the umask, as ``open()`` would create it
    (0644 under umask 022, 0640 under 027)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary name keeps the suffix (``.h5``, ``.json``...) so libraries that
    dispatch on the extension behave. On any exception the temporary is removed; a
    write error (disk full, quota, file-size limit) becomes :class:`OutputWriteError`
    (see the module docstring for HDF5). Temporaries of ``path`` left by a killed
    earlier attempt are removed first. The output gets the mode the process umask gives
    (:func:`file_mode`), like any file the user creates, not mkstemp's 0600; folders
    created for it get the umask too (``mkdir``).
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(final)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
    except OSError as exc:
        code = space_errno(exc)
        if code is None:
            raise
        raise OutputWriteError(final, code) from None
    try:
        # mkstemp creates 0600 whatever the umask: outputs must be as readable as any file the
        # user creates (a collaborator, `mlflow ui` run by another user on the same results)
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    _install_hook()
    _ACTIVE_TEMPS[tmp_path] = final
    try:
        yield tmp_path
        if tmp_path.is_file():  # a writer may have replaced the file (its mode then is its own)
            os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, final)
    except BaseException as exc:
        code, detail = space_errno(exc), ""
        if code is None and (low := _low_space(exc, tmp_path)) is not None:
            code, detail = low
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OutputWriteError) and Path(exc.path) == tmp_path:
            # a writer that itself writes atomically named our temporary: name the output
            raise OutputWriteError(final, exc.errno) from None
        if code is None or isinstance(exc, OutputWriteError):
            raise
        if _open_hdf5_files():
            _abort_on_write_error(final, code)
        raise OutputWriteError(final, code, detail) from exc if detail else None
    finally:
        _ACTIVE_TEMPS.pop(tmp_path, None)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
