"""Is the tracking store there? One bounded check before any job, without importing MLflow.

Why: MLflow's HTTP client waits 120 s per request and retries 7 times with exponential
backoff, so a server that accepts connections but never answers hung every job of a run
for ~20 minutes with no output, and a refused port for minutes. Snakemake's ``onstart``
calls :func:`check_tracking` first, before MLflow (a few seconds to import) is loaded, so
an unreachable store fails the invocation within ``tracking.timeout_s`` with a message
naming ``tracking.uri``. The HTTP check is bounded in total time (:mod:`.deadline`), so a
server that answers a byte at a time fails it as fast as a silent one.

It runs once per invocation, in :func:`jetdistill.jobs.invocation.start_invocation`.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from jetdistill.errors import InputError
from jetdistill.tracking import uris
from jetdistill.tracking.config import TrackingConfig
from jetdistill.tracking.deadline import within

log = logging.getLogger(__name__)

_DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def check(cfg: TrackingConfig) -> None:
    """Check once, within ``cfg.timeout_s``, that the store of ``cfg`` answers; InputError if not."""
    check_store(cfg.uri, timeout_s=cfg.timeout_s, experiment=cfg.experiment)


def check_store(uri: str, *, timeout_s: float, experiment: str) -> None:
    """Check once, within ``timeout_s``, that the store at ``uri`` answers; InputError if not.

    ``http(s)``: an MLflow API call must get an answer (a missing experiment is fine), sent
    with the credentials MLflow would send (:func:`jetdistill.tracking.uris.server_credentials`);
    SQLite: the database or the folder to create it in must be writable, and an existing
    file must be an SQLite database; other databases: the port must accept a TCP connection.
    """
    where = f"config: tracking.uri ({uris.mask(uri)})"
    if uri.startswith(("http://", "https://")):
        _check_http(uri, timeout_s, experiment, where)
    elif uri.startswith("sqlite:///"):
        db = Path(unquote(uri[len("sqlite:///") :]))
        folder = next((p for p in (db.parent, *db.parent.parents) if p.exists()), Path("/"))
        expected = "a writable SQLite database (or a folder to create it in)"
        if not folder.is_dir():
            raise InputError(where, expected, f"{folder} is not a folder")
        target = db if db.exists() else folder
        if not os.access(target, os.W_OK):
            raise InputError(where, expected, f"{target} is not writable")
        if db.is_file():
            check_sqlite_file(db, where)
    else:
        parts = urlsplit(uri)
        port = parts.port or _DB_PORTS.get(parts.scheme.split("+")[0], 0)
        if parts.hostname and port:
            try:
                socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
            except OSError as exc:
                raise InputError(
                    where,
                    f"a database accepting connections within {timeout_s:g} s (tracking.timeout_s)",
                    f"{type(exc).__name__}: {exc}",
                ) from None


#: the first 16 bytes of every SQLite 3 database file (an empty file is a new database too)
SQLITE_HEADER = b"SQLite format 3\x00"


def not_sqlite_message(db: Path) -> str:
    """The ``got`` part of the error for a file that is not an SQLite database: what to do."""
    return (f"{db} is not an SQLite database (damaged, or another kind of file): move it away "
            f"(to {db.name}.broken, say) and rerun to start a new store, or point tracking.uri "
            "at another file")  # fmt: skip


def check_sqlite_file(db: Path, where: str) -> None:
    """InputError naming ``db`` if it is neither empty nor an SQLite 3 database.

    Why here: SQLAlchemy reports such a file as ``file is not a database`` with no path, in
    a traceback from the middle of MLflow's store set-up."""
    try:
        with open(db, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise InputError(where, "a readable SQLite database", f"{db}: {exc.strerror}") from None
    if head and head != SQLITE_HEADER:
        raise InputError(where, "an SQLite database", not_sqlite_message(db))


def _check_http(uri: str, timeout_s: float, experiment: str, where: str) -> None:
    query = urllib.parse.urlencode({"experiment_name": experiment})
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}"
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    creds = uris.server_credentials()  # as MLflow's client sends them: basic auth, else token
    if "username" in creds and "password" in creds:
        basic = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
        req.add_header("Authorization", f"Basic {basic}")
    elif "token" in creds:
        req.add_header("Authorization", f"Bearer {creds['token']}")
    expected = f"an MLflow server answering within {timeout_s:g} s (tracking.timeout_s)"
    t0 = time.monotonic()

    def get() -> None:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read(1 << 16)

    try:
        # the socket timeout bounds each read; `within` bounds the whole answer
        within(timeout_s, get, where=where, what="GET experiments/get-by-name", expected=expected)
    except urllib.error.HTTPError as exc:
        body = exc.read(1 << 16).decode(errors="replace")
        if exc.code == 404 and "RESOURCE_DOES_NOT_EXIST" in body:
            return  # the server answers; the experiment is created later by init_store
        if exc.code in (401, 403):
            raise InputError(where, "credentials the server accepts (MLFLOW_TRACKING_USERNAME and "
                             "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, or "
                             "~/.mlflow/credentials)", f"HTTP {exc.code}") from None  # fmt: skip
        raise InputError(where, expected, f"HTTP {exc.code} from {uris.mask(url)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
            waited = time.monotonic() - t0
            raise InputError(where, expected, f"no answer after {waited:.1f} s") from None
        raise InputError(
            where, expected, uris.scrub(f"{type(reason).__name__}: {reason}")
        ) from None
    log.info("tracking server %s answered in %.2f s", uris.mask(uri), time.monotonic() - t0)
