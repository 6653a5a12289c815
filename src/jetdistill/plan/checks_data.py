"""The user's data files, checked while Snakemake parses the workflow.

Why at parse time: Snakemake removes a job's outputs before it runs the job. A data file the
user replaced (``data.generic.file``, the files of ``data.hls4ml.files``) is newer than
``splits.h5``, so Snakemake reruns ``split_data``, removes the finished ``splits.h5`` and only
then does the job find that the new file is bad: a finished run lost its data stage, and the
fix (the good file back) still reran it. Checked here, a bad file stops ``snakemake`` (and
``snakemake -n``) before the DAG is built: no job starts, no output is removed, no metadata
is written.

The checks are the job's own (:func:`jetdistill.data.sources.open_checked`: datasets, shapes,
labels in range and a bounded class count, then the chunk-wise value scan: NaN/inf, float32
overflow, all-zero jets or samples), so the message is the job's, word for word. Jet-level
views (``views.<v>.level: jet``) also get the scan ``prepare_view`` makes of their columns.

Why a cache: the public hls4ml sample is GBs and the workflow is parsed at every
``snakemake`` call (and again inside every cluster job). A verdict is kept in
:data:`CACHE_FILE` under ``.snakemake/``, keyed on each file's absolute path, size and
modification time (ns), the checking code's version and the settings the check reads; an unchanged
file is not read again, a changed one is (only the changed files are scanned for values).
Only passing verdicts are kept: a bad file is re-read, and refused again, at every call.
Generated data (``data.source: generate``) is written by the workflow itself: nothing is read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from jetdistill.plan.data_files import source_files
from jetdistill.plan.grid import used_views
from jetdistill.plan.settings import data_settings

log = logging.getLogger(__name__)

#: Bump when what a verdict means changes; a change of the checking code (jetdistill.data.sources,
#: .layout) voids every verdict by itself (:func:`_code_version`).
CHECK_VERSION = 1
#: The verdicts, relative to the folder Snakemake runs in (never under ``results/``: a file
#: there would look like an output).
CACHE_FILE = Path(".snakemake") / "jetdistill" / "data_checks.json"
#: Files larger than this in all are announced before they are read (a warning: parsing pauses).
LOUD_BYTES = 1 << 30
#: Verdicts kept (the newest): the cache must stay small whatever files come and go.
MAX_ENTRIES = 2000


def _stat(path: str) -> list[Any]:
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


@functools.cache
def _code_version() -> str:
    """A digest of the checking code: a changed check voids every verdict by itself."""
    from jetdistill.data import layout, sources

    text = "".join(Path(m.__file__).read_text() for m in (sources, layout))  # type: ignore[arg-type]
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(*parts: Any) -> str:
    text = json.dumps([CHECK_VERSION, _code_version(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _load(cache: Path) -> dict[str, float]:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CHECK_VERSION:
        return {}
    return {k: float(v) for k, v in (data.get("verdicts") or {}).items()}


def _save(cache: Path, verdicts: dict[str, float]) -> None:
    """Write the verdicts; a failure (read-only folder, full disk) only costs a re-read."""
    from jetdistill.io import write_json

    newest = dict(sorted(verdicts.items(), key=lambda kv: kv[1])[-MAX_ENTRIES:])
    try:
        write_json(cache, {"version": CHECK_VERSION, "verdicts": newest})
    except OSError as exc:
        log.warning("data checks: cannot write %s (%s); the files are read again next time",
                    cache, exc)  # fmt: skip


def jet_level_views(cfg: Mapping[str, Any]) -> dict[str, list[str]]:
    """The used views of ``level: jet`` and their columns (what ``prepare_view`` scans)."""
    views = cfg.get("views") or {}
    return {
        v: list(views[v].get("features") or ())
        for v in used_views(dict(cfg))
        if v in views and (views[v].get("level") or "constituent") == "jet"
    }


def check_files(
    kind: str,
    files: Sequence[str],
    data_cfg: Mapping[str, Any],
    jet_views: Mapping[str, Sequence[str]] | None = None,
    *,
    cache: Path | None = None,
) -> bool:
    """The job's checks of ``files`` (``kind``: hls4ml | generic) with cached verdicts.

    Raises the job's :class:`~jetdistill.errors.InputError`. Returns whether any file was read
    (False: every verdict came from the cache).
    """
    from jetdistill.data.sources import jet_level_source, open_checked

    files = [str(f) for f in files]
    jet_views = dict(jet_views or {})
    verdicts = _load(cache) if cache is not None else {}
    stats = [_stat(f) for f in files] if all(os.path.exists(f) for f in files) else None
    settings = {k: data_cfg.get(k) for k in ("source", "generic")}
    if kind != "generic":  # the jet sources' class list (data_settings keeps it)
        settings["generate"] = data_cfg.get("generate")
    whole = _key("set", kind, settings, sorted(jet_views.items()), stats)
    if stats is not None and whole in verdicts:
        return False
    t0 = time.monotonic()
    size = sum(st[1] for st in stats or [])
    if size > LOUD_BYTES:  # parsing stops for a while, once: say why
        log.warning("data checks: reading %d file(s), %.1f GB, once (the verdict is kept in %s)",
                    len(files), size / 1e9, cache)  # fmt: skip
    # structure and labels of every file (labels are checked across files: each class present)
    src = open_checked(kind, files, data_cfg, scan=False)
    now = time.time()
    scanned = []
    stats = stats or [_stat(f) for f in files]
    ones = [
        replace(src, files=[src.files[i]], rows_per_file=[src.rows_per_file[i]], _labels=None)
        for i in range(len(files))
    ]
    # in the jobs' order: split_data scans every file, then prepare_view a jet-level view's
    scans = [("values", src.sample_key, None)] + [("jet-level", v, c) for v, c in jet_views.items()]
    for what, name, cols in scans:
        for one, st in zip(ones, stats, strict=True):
            key = _key(what, kind, name, cols, st)
            if key in verdicts:
                continue
            (one if cols is None else jet_level_source(one, cols)).check_values()
            verdicts[key] = now
            scanned.append(one.files[0])
    verdicts[whole] = now
    log.info("data checks: %d file(s) checked, %d scanned for values in %.1f s",
             len(files), len(set(scanned)), time.monotonic() - t0)  # fmt: skip
    if cache is not None:
        _save(cache, verdicts)
    return True


def check_data_files(
    cfg: Mapping[str, Any], results: str, *, root: str | os.PathLike[str] | None = None
) -> None:
    """The Snakefile's parse-time check of the labelled data files the user provides (see the
    module docstring for why it runs there); nothing for generated data."""
    kind = cfg["data"]["source"]
    if kind == "generate":
        return
    files = source_files(dict(cfg), results)  # a missing file or empty glob: its own error
    cache = Path(root or os.getcwd()) / CACHE_FILE
    check_files(kind, files, dict(data_settings(dict(cfg))), jet_level_views(cfg), cache=cache)
