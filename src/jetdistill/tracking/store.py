"""The only module that talks to MLflow.

Why one module: MLflow's fluent API keeps process-global state (tracking URI,
active-run stack) and its SQLite store is fragile under concurrency. Keeping every
call here lets the workflow guarantee three things:

* **One store initialisation.** Creating a fresh SQLite store runs the Alembic
  migrations; two processes doing that at once race ("table already exists"). The
  store and the experiment are therefore created once by :func:`init_store` (a local
  Snakemake rule / ``onstart``) before any parallel job logs.
* **No lost writes.** SQLite serialises writers; MLflow sets ``busy_timeout`` but a
  busy cluster can still raise ``database is locked``. Every write goes through
  :func:`_retry` (exponential backoff with jitter) and metrics/params/tags are sent
  with ``log_batch`` in as few transactions as possible.
* **A browsable store.** Relative SQLite paths and the artifact location are made
  absolute against the project root, so ``mlflow ui`` started in the project root
  with no flags (default store ``sqlite:///mlflow.db``) shows every run and its
  artifacts in ``./mlruns/<experiment_id>/<run_id>/artifacts``.

Models are logged as ``state_dict`` files plus a JSON model card, never with
``mlflow.pytorch.log_model`` (which since MLflow 3.14 serialises with
``torch.export`` and fails on Brevitas quantised modules).

Typical use from a job::

    cfg = TrackingConfig.from_dict(config["tracking"], root=workdir)
    with job_run(cfg, name="student-kd-s0", rule="train_student",
                 wildcards={"student": "mlp", "seed": "0"}, role="student",
                 method="kd", tags={"model": "mlp", "seed": 0}) as run:
        run.log_params(train_cfg)
        run.log_history(result.history)
        run.log_metrics(test_metrics)
        run.log_state_dict(model, card={"spec": spec})
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

# No internet on compute nodes: MLflow 3 telemetry would only time out in a thread.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from jetdistill.errors import InputError
from jetdistill.tracking import uris

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_INVOCATION = "JETDISTILL_INVOCATION_ID"
ENV_PARENT_RUN = "JETDISTILL_PARENT_RUN_ID"

TAG_INVOCATION = "jetdistill.invocation"
TAG_RULE = "jetdistill.rule"
TAG_WILDCARDS = "jetdistill.wildcards"
TAG_KIND = "jetdistill.kind"  # "invocation" (parent) or "job"
TAG_NONFINITE = "jetdistill.nonfinite_metrics"
TAG_PARENT = "mlflow.parentRunId"
TAG_PROJECT = "jetdistill.project"  # parent runs: the project root, host and pid of snakemake
TAG_HOST = "jetdistill.host"
TAG_PID = "jetdistill.pid"
TAG_RUN_NAME = "mlflow.runName"

_KEY_BAD_CHARS = re.compile(r"[^0-9A-Za-z_\-. /:]")
_SEARCH_PAGE = 1000


# --------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Where runs go.

    ``uri`` is a SQLAlchemy store (``sqlite:///...``, ``postgresql://...``) or an
    ``http(s)://`` tracking server. ``artifact_location`` is only used when this
    process creates the experiment in a database store (a server chooses its own,
    usually the proxied ``mlflow-artifacts:/``).
    """

    uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "mlruns"
    experiment: str = "jetdistill"
    #: seconds a tracking server may take to answer one request (start-up probe and jobs)
    timeout_s: float = 15.0
    #: the project root the relative paths were resolved against
    root: str = ""
    #: HTTP basic-auth credentials taken out of an ``http://user:password@host`` URI; they
    #: reach MLflow through ``MLFLOW_TRACKING_USERNAME/PASSWORD``, never through the URI
    username: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any] | None, root: str | os.PathLike[str] | None = None
    ) -> TrackingConfig:
        """Build from ``config["tracking"]``; relative paths resolve against ``root``.

        ``root`` is the Snakemake working directory (default: the current directory);
        anchoring paths there keeps jobs that run in another directory (cluster
        scratch, ``shadow:``) writing to the same store.
        """
        d = dict(d or {})
        fields = {"uri", "artifact_location", "experiment", "timeout_s"}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise InputError("config: tracking", f"only the keys {sorted(fields)}", str(unknown))
        timeout = d.pop("timeout_s", cls.timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError("config: tracking.timeout_s", "a number of seconds > 0", repr(timeout))
        for k, v in d.items():
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"config: tracking.{k}", "a non-empty string", repr(v))
        base = Path(root if root is not None else os.getcwd()).resolve()
        # a masked URI (config after uris.protect) is swapped back for the real one here only
        uri = resolve_store_uri(uris.reveal(d.get("uri", cls.uri)), base)
        user = password = None
        if uri.startswith(("http://", "https://")):
            uri, user, password = uris.split_credentials(uri)
        art = resolve_artifact_location(d.get("artifact_location", cls.artifact_location), base)
        return cls(uri=uri, artifact_location=art, experiment=d.get("experiment", cls.experiment),
                   timeout_s=float(timeout), root=str(base), username=user, password=password)  # fmt: skip

    @property
    def display_uri(self) -> str:
        """The URI with any password masked: the only form that may be logged or stored."""
        if self.username is not None and "://" in self.uri:
            scheme, rest = self.uri.split("://", 1)
            return f"{scheme}://{self.username}:{uris.MASK}@{rest}"
        return uris.mask(self.uri)

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def is_sqlite(self) -> bool:
        return self.uri.startswith("sqlite:")


def resolve_store_uri(uri: str, root: Path) -> str:
    """Make a relative ``sqlite:///rel.db`` absolute (``sqlite:////abs/rel.db``)."""
    if uri.startswith("sqlite:///"):
        path = unquote(uri[len("sqlite:///") :])
        if path in ("", ":memory:"):
            raise InputError(
                "config: tracking.uri", "a SQLite file path (sqlite:///mlflow.db)", uri
            )
        p = Path(path)
        if not p.is_absolute():
            p = root / p
        return "sqlite:///" + str(p.resolve())
    if uri.startswith("sqlite:"):
        raise InputError("config: tracking.uri", "sqlite:///<path> (three slashes)", uri)
    if re.match(r"^(https?|postgresql(\+\w+)?|mysql(\+\w+)?|mssql(\+\w+)?)://", uri):
        return uri
    if uri.startswith("file:") or "://" not in uri:
        raise InputError(
            "config: tracking.uri",
            "sqlite:///<path>, postgresql://..., or http(s)://host:port (file stores are deprecated)",
            uris.mask(uri),
        )
    return uri


def resolve_artifact_location(loc: str, root: Path) -> str:
    """Return a ``file://`` URI for a local path, or the remote URI unchanged."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", loc) or loc.startswith("mlflow-artifacts:"):
        if loc.startswith("file://"):
            return Path(unquote(loc[len("file://") :])).resolve().as_uri()
        return loc
    p = Path(loc).expanduser()
    if not p.is_absolute():
        p = root / p
    return p.resolve().as_uri()


#: environment values this module set (a user's own MLFLOW_HTTP_* settings are never overridden)
_OWN_ENV: dict[str, str] = {}


def _set_env(name: str, value: str) -> None:
    if name not in os.environ or _OWN_ENV.get(name) == os.environ[name]:
        os.environ[name] = value
        _OWN_ENV[name] = value


def _client(cfg: TrackingConfig) -> MlflowClient:
    """A client whose HTTP requests are bounded by ``cfg.timeout_s`` and a few quick retries.

    MLflow's defaults (120 s per request, 7 retries with exponential backoff) turn an
    unresponsive server into a ~20 minute silent hang of every job.
    """
    if cfg.is_server:
        _set_env("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(cfg.timeout_s))))
        _set_env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        _set_env("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        if cfg.username is not None:
            _set_env("MLFLOW_TRACKING_USERNAME", cfg.username)
        if cfg.password is not None:
            _set_env("MLFLOW_TRACKING_PASSWORD", cfg.password)
    return MlflowClient(tracking_uri=cfg.uri)


# --------------------------------------------------------------------------- probe


def probe(cfg: TrackingConfig) -> None:
    """Check once, within ``cfg.timeout_s``, that the tracking store answers; InputError if not.

    See :mod:`jetdistill.tracking.probe` (MLflow-free, so the Snakefile can probe before importing it).
    """
    from jetdistill.tracking.probe import check_store

    check_store(cfg.uri, timeout_s=cfg.timeout_s, experiment=cfg.experiment,
                username=cfg.username, password=cfg.password)  # fmt: skip


# --------------------------------------------------------------------------- retries


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(
        s in text
        for s in (
            "database is locked",
            "database table is locked",
            "database is busy",
            "sqlite_busy",
        )
    )


def _retry(fn: Callable[[], T], what: str, attempts: int = 10, base: float = 0.2) -> T:
    """Call ``fn``, retrying SQLite lock errors with exponential backoff and jitter.

    The failed transaction was rolled back by SQLAlchemy, so a retry cannot
    duplicate rows. ~10 attempts cover about a minute of contention on top of
    MLflow's own 20 s ``busy_timeout``.
    """
    for i in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if i == attempts - 1 or not _is_transient(exc):
                raise
            delay = min(base * 2**i, 10.0) * (0.5 + random.random())
            logger.warning(
                "%s: transient store error (%s); retry %d in %.1fs", what, exc, i + 1, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- store


def init_store(cfg: TrackingConfig) -> str:
    """Create the store's tables and the experiment once; return the experiment id.

    Idempotent: an existing experiment is reused (restored if it was deleted). Run
    this in ONE process before parallel jobs start. For SQLite it also makes sure
    the database directory exists.
    """
    client = _client(cfg)  # creating the client's store runs the migrations (SQL)
    exp = _retry(lambda: client.get_experiment_by_name(cfg.experiment), "get_experiment")
    if exp is None:
        kwargs: dict[str, Any] = {}
        if not cfg.is_server:
            # One folder per experiment name under the configured location: absolute, so
            # jobs in any cwd and `mlflow ui` in the project root find the same files.
            kwargs["artifact_location"] = (
                f"{cfg.artifact_location.rstrip('/')}/{_safe_dir(cfg.experiment)}"
            )
        try:
            exp_id = client.create_experiment(cfg.experiment, **kwargs)
        except MlflowException as exc:  # created by someone else meanwhile
            exp = client.get_experiment_by_name(cfg.experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
            logger.debug("experiment appeared concurrently: %s", exc)
        logger.info(
            "created MLflow experiment %r (id %s) in %s", cfg.experiment, exp_id, cfg.display_uri
        )
        mark_ml_experiment(client, exp_id)
        return exp_id
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
        logger.info("restored deleted MLflow experiment %r", cfg.experiment)
    mark_ml_experiment(client, exp.experiment_id, exp.tags)
    if not cfg.is_server:
        _check_artifact_location(cfg, exp.experiment_id, exp.artifact_location)
    return exp.experiment_id


#: MLflow 3's experiment kind tag and the value of a classic ML (training runs) experiment.
#: Without it the UI treats a new experiment as a GenAI app (traces overview first).
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_ML = "custom_model_development"


def mark_ml_experiment(
    client: MlflowClient, experiment_id: str, tags: Mapping[str, str] | None = None
) -> None:
    """Tag the experiment as classic ML once, so MLflow's UI shows it as training runs.

    A kind a user chose in the UI (any existing value of the tag) is left alone.
    """
    if tags and TAG_EXPERIMENT_KIND in tags:
        return
    _retry(
        lambda: client.set_experiment_tag(experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND_ML),
        "set_experiment_tag",
    )


def _expected_artifact_location(cfg: TrackingConfig) -> str:
    return f"{cfg.artifact_location.rstrip('/')}/{_safe_dir(cfg.experiment)}"


def _check_artifact_location(cfg: TrackingConfig, exp_id: str, actual: str) -> None:
    """Keep a project's artifacts inside the project, even in a copied project directory.

    MLflow stores an experiment's artifact location as an absolute URI. A copied project
    (``cp -r``, a second checkout with a copied ``mlflow.db``) would therefore write its
    new artifacts into the *original* directory. If the store is this project's own SQLite
    file (it lies under the project root), the experiment is moved to the configured
    location; older runs keep their recorded artifact URIs. A shared store whose
    experiment points elsewhere is not changed: that needs an explicit
    ``tracking.artifact_location`` (or another ``tracking.experiment``).
    """
    expected = _expected_artifact_location(cfg)
    if actual == expected or not actual.startswith("file:"):
        return
    db = Path(unquote(cfg.uri[len("sqlite:///") :])) if cfg.is_sqlite else None
    if db is not None and cfg.root and db.resolve().is_relative_to(Path(cfg.root)):
        from sqlalchemy import create_engine, text

        engine = create_engine(cfg.uri)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE experiments SET artifact_location = :loc WHERE experiment_id = :id"
                    ),
                    {"loc": expected, "id": int(exp_id)},
                )
        finally:
            engine.dispose()
        logger.warning(
            "experiment %r stored its artifacts in %s, outside this project (a copied project?); "
            "new runs now store them in %s", cfg.experiment, actual, expected,
        )  # fmt: skip
        return
    raise InputError(
        "config: tracking.artifact_location",
        f"the artifact location of experiment {cfg.experiment!r} in {cfg.display_uri} "
        f"({actual}), or another tracking.experiment",
        f"{cfg.artifact_location} (resolved against {cfg.root or os.getcwd()})",
    )


def _safe_dir(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.\-]", "_", name) or "experiment"


def _experiment_id(cfg: TrackingConfig, client: MlflowClient) -> str:
    exp = _retry(lambda: client.get_experiment_by_name(cfg.experiment), "get_experiment")
    if exp is None:
        raise InputError(
            f"tracking store {cfg.display_uri}",
            f"experiment {cfg.experiment!r} created by init_store (rule init_tracking) first",
            "no such experiment",
        )
    return exp.experiment_id


# --------------------------------------------------------------------------- invocation


def invocation_id() -> str:
    """The id shared by every job of one ``snakemake`` invocation.

    The Snakefile sets ``JETDISTILL_INVOCATION_ID`` once; outside Snakemake a new
    id is generated and exported so later calls in this process agree.
    """
    val = os.environ.get(ENV_INVOCATION, "").strip()
    if not val:
        val = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
        os.environ[ENV_INVOCATION] = val
    return val


def ensure_parent_run(cfg: TrackingConfig, invocation: str) -> str:
    """Return the run id of the invocation's parent run, creating it if needed.

    Normally called once from Snakemake's ``onstart`` (main process), which then
    exports ``JETDISTILL_PARENT_RUN_ID``. As a fallback it is safe to call from
    several processes at once: for SQLite the search-and-create is serialised by a
    file lock next to the database; for a server, every creator searches again and
    all agree on the earliest (start time, run id), a duplicate this process made
    being tagged ``jetdistill.duplicate_of`` and ended KILLED.
    """
    client = _client(cfg)
    exp_id = _experiment_id(cfg, client)
    flt = f"tags.`{TAG_INVOCATION}` = '{_q(invocation)}' and tags.`{TAG_KIND}` = 'invocation'"

    def find() -> list[Any]:
        runs = _retry(
            lambda: client.search_runs([exp_id], filter_string=flt, max_results=50),
            "search parent",
        )
        return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))

    with _store_lock(cfg):
        found = find()
        if found:
            return found[0].info.run_id
        tags = {TAG_INVOCATION: invocation, TAG_KIND: "invocation", "role": "invocation"}
        run = _retry(
            lambda: client.create_run(exp_id, tags=tags, run_name=f"invocation-{invocation}"),
            "create parent",
        )
    if not cfg.is_sqlite:  # no cross-process lock: let concurrent creators commit, then agree
        time.sleep(0.3 + random.random() * 0.3)
    found = find()
    winner = found[0].info.run_id if found else run.info.run_id
    if winner != run.info.run_id:
        logger.info("parent run race: using %s, ending duplicate %s", winner, run.info.run_id)
        _retry(lambda: client.set_tag(run.info.run_id, "jetdistill.duplicate_of", winner), "tag")
        _retry(lambda: client.set_terminated(run.info.run_id, "KILLED"), "terminate")
    return winner


@contextlib.contextmanager
def _store_lock(cfg: TrackingConfig) -> Iterator[None]:
    """Exclusive ``flock`` next to a SQLite file (no-op for servers and other databases).

    Serialises find-or-create of the parent run between processes on one machine,
    which a search-then-create sequence alone cannot do.
    """
    if not cfg.is_sqlite:
        yield
        return
    import fcntl

    lock_path = Path(unquote(cfg.uri[len("sqlite:///") :]) + ".jetdistill.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def end_parent_run(cfg: TrackingConfig, run_id: str, status: str = "FINISHED") -> None:
    """Close the parent run (Snakemake ``onsuccess`` -> FINISHED, ``onerror`` -> FAILED)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise InputError("end_parent_run status", "FINISHED, FAILED or KILLED", status)
    client = _client(cfg)
    _retry(lambda: client.set_terminated(run_id, status), "end parent")


def log_invocation_config(cfg: TrackingConfig, run_id: str, config: Mapping[str, Any]) -> None:
    """The invocation's resolved config (credentials masked) on its parent run, once.

    Jobs log only the settings they use (their params); the whole config, which says how
    to rerun everything, belongs to the invocation."""
    JobRun(_client(cfg), run_id).log_dict(dict(config), "config/resolved_config.json")


def claim_invocation(cfg: TrackingConfig, run_id: str) -> None:
    """Tag the parent run with the project root, host and pid of this ``snakemake`` process.

    With these a later invocation can tell a predecessor that was killed (SIGKILL, lost
    login node: no ``onerror`` ran, the run stays RUNNING forever) from one still running.
    """
    client = _client(cfg)
    tags = {TAG_PROJECT: cfg.root or os.getcwd(), TAG_HOST: socket.gethostname(),
            TAG_PID: str(os.getpid())}  # fmt: skip
    _retry(
        lambda: client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()]),
        "tag parent",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def close_orphaned_invocations(cfg: TrackingConfig, current: str) -> list[str]:
    """End the RUNNING parent runs of this project's killed invocations as FAILED.

    A parent run counts as orphaned when it belongs to the same project root, is not the
    current invocation and its ``snakemake`` process is gone (same host, pid not alive).
    Parents started on another host are left alone (their process cannot be checked
    from here). The job runs of an orphaned invocation still RUNNING are ended FAILED
    too. Returns the run ids of the parents that were closed.
    """
    client = _client(cfg)
    exp_id = _experiment_id(cfg, client)
    root = cfg.root or os.getcwd()
    flt = (f"tags.`{TAG_KIND}` = 'invocation' and attributes.status = 'RUNNING' "
           f"and tags.`{TAG_PROJECT}` = '{_q(root)}'")  # fmt: skip
    runs = _retry(lambda: client.search_runs([exp_id], filter_string=flt, max_results=200),
                  "search orphans")  # fmt: skip
    host, closed = socket.gethostname(), []
    for r in runs:
        tags = r.data.tags
        inv = tags.get(TAG_INVOCATION, "")
        if inv == current:
            continue
        pid = tags.get(TAG_PID, "")
        if tags.get(TAG_HOST) != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        note = f"invocation ended without closing its run (killed?); closed by invocation {current}"
        jobs_flt = (f"tags.`{TAG_INVOCATION}` = '{_q(inv)}' and tags.`{TAG_KIND}` = 'job' "
                    "and attributes.status = 'RUNNING'")  # fmt: skip
        children = _retry(
            lambda f=jobs_flt: client.search_runs([exp_id], filter_string=f, max_results=1000),
            "search orphan jobs",
        )
        for run_id in [c.info.run_id for c in children] + [r.info.run_id]:
            _retry(lambda i=run_id, n=note: client.set_tag(i, "jetdistill.error", n), "tag orphan")
            _retry(lambda i=run_id: client.set_terminated(i, "FAILED"), "end orphan")
        logger.warning("invocation %s (run %s, pid %s) was killed: its run and %d RUNNING job "
                       "run(s) are now FAILED", inv, r.info.run_id, pid, len(children))  # fmt: skip
        closed.append(r.info.run_id)
    return closed


def _parent_run_id(cfg: TrackingConfig, invocation: str) -> str:
    env = os.environ.get(ENV_PARENT_RUN, "").strip()
    if env:
        return env
    run_id = ensure_parent_run(cfg, invocation)
    os.environ[ENV_PARENT_RUN] = run_id
    return run_id


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


# --------------------------------------------------------------------------- values


def flatten_params(obj: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts/lists into ``a.b.0`` keys with string values.

    Long values are truncated to MLflow's limit (with a ``...[truncated]`` marker)
    instead of failing the job; the full config goes in as an artifact anyway.
    """
    out: dict[str, str] = {}
    if isinstance(obj, Mapping):
        if not obj and prefix:
            out[prefix] = "{}"
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            out.update(flatten_params(v, key))
    elif isinstance(obj, (list, tuple)) and obj and any(isinstance(v, Mapping) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten_params(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        if not prefix:
            raise InputError(
                "log_params", "a mapping of parameter names to values", type(obj).__name__
            )
        out[prefix] = _param_str(obj)
    return {_clean_key(k): _truncate(v, MAX_PARAM_VAL_LENGTH) for k, v in out.items()}


def _param_str(v: Any) -> str:
    """String form of a param/tag value; URI passwords are masked (uris.scrub)."""
    if isinstance(v, str):
        return uris.scrub(v)
    if isinstance(v, (list, tuple)):
        return uris.scrub(json.dumps(_plain(v), separators=(",", ":"), default=str))
    if hasattr(v, "item") and callable(v.item):
        with contextlib.suppress(Exception):
            v = v.item()
    return uris.scrub(str(v))


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (str, bytes)):
        with contextlib.suppress(Exception):
            return v.item()
    return v


def _truncate(s: str, limit: int) -> str:
    marker = "...[truncated]"
    return s if len(s) <= limit else s[: limit - len(marker)] + marker


def _clean_key(k: str) -> str:
    k = _KEY_BAD_CHARS.sub("_", k)
    return k[:MAX_ENTITY_KEY_LENGTH]


def _metric_value(key: str, v: Any) -> float | None:
    """Return a float, or None for values that are not numbers."""
    if isinstance(v, bool):
        return float(v)
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, RuntimeError):
            return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _chunks(seq: list[T], n: int) -> Iterator[list[T]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (Path, set, frozenset)):
        return str(o) if isinstance(o, Path) else sorted(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return str(o)


# --------------------------------------------------------------------------- job runs


class JobRun:
    """Handle on one MLflow run; every write is batched and retried.

    Non-finite metric values are not logged (MLflow would store inf as +-1.8e308 and
    NaN as a flagged 0, which silently poisons plots and averages); their keys and
    values are kept in the tag ``jetdistill.nonfinite_metrics`` instead.
    """

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self._client = client
        self.run_id = run_id
        self._params: dict[str, str] = {}
        self._nonfinite: dict[str, str] = {}
        self._conflicts: dict[str, str] = {}

    # -- params and tags
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log a (nested) mapping; re-logging a key with a new value keeps the first.

        MLflow params are immutable; a changed value is recorded as the tag
        ``jetdistill.param_conflict.<key>`` and a warning instead of crashing the job.
        """
        flat = flatten_params(params)
        new: list[Param] = []
        for k, v in flat.items():
            old = self._params.get(k)
            if old is None:
                self._params[k] = v
                new.append(Param(k, v))
            elif old != v:
                logger.warning("param %r already logged as %r; ignoring new value %r", k, old, v)
                self._conflicts[k] = v
        for chunk in _chunks(new, MAX_PARAMS_TAGS_PER_BATCH):
            self._batch(params=chunk)
        if self._conflicts:
            self.set_tags({f"jetdistill.param_conflict.{k}": v for k, v in self._conflicts.items()})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [
            RunTag(_clean_key(str(k)), _truncate(_param_str(v), MAX_TAG_VAL_LENGTH))
            for k, v in tags.items()
        ]
        for chunk in _chunks(items, MAX_PARAMS_TAGS_PER_BATCH):
            self._batch(tags=chunk)

    # -- metrics
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> int:
        """Log scalar metrics in one batch; return how many were logged."""
        return self._log_metric_rows([(dict(metrics), step)])

    def log_history(self, history: list[Mapping[str, Any]], step_key: str = "epoch") -> int:
        """Log per-epoch dicts as metric histories (step = ``row[step_key]`` or index).

        All epochs go in a few large batches instead of one transaction per epoch.
        """
        rows: list[tuple[dict[str, Any], int | None]] = []
        for i, row in enumerate(history):
            row = dict(row)
            step = row.pop(step_key, i)
            rows.append((row, int(step)))
        return self._log_metric_rows(rows)

    def _log_metric_rows(self, rows: list[tuple[dict[str, Any], int | None]]) -> int:
        ts = int(time.time() * 1000)
        out: list[Metric] = []
        nonfinite_before = len(self._nonfinite)
        for metrics, step in rows:
            for k, v in metrics.items():
                key = _clean_key(str(k))
                val = _metric_value(key, v)
                if val is None:
                    logger.warning("metric %r: not a number (%r); skipped", key, v)
                    continue
                if not math.isfinite(val):
                    tag_key = key if step is None else f"{key}@{step}"
                    self._nonfinite[tag_key] = str(val)
                    continue
                out.append(Metric(key, val, ts, int(step or 0)))
        for chunk in _chunks(out, MAX_METRICS_PER_BATCH):
            self._batch(metrics=chunk)
        if len(self._nonfinite) != nonfinite_before:
            self.set_tags({TAG_NONFINITE: json.dumps(self._nonfinite, sort_keys=True)})
        return len(out)

    def _batch(self, metrics=(), params=(), tags=()) -> None:  # type: ignore[no-untyped-def]
        _retry(
            lambda: self._client.log_batch(
                self.run_id, metrics=list(metrics), params=list(params), tags=list(tags)
            ),
            f"log_batch run {self.run_id}",
        )

    # -- artifacts
    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), "an existing file to log as an artifact", "missing")
        _retry(
            lambda: self._client.log_artifact(self.run_id, str(p), artifact_path), "log_artifact"
        )

    def log_artifacts(
        self, directory: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        p = Path(directory)
        if not p.is_dir():
            raise InputError(str(p), "an existing directory to log as artifacts", "missing")
        _retry(
            lambda: self._client.log_artifacts(self.run_id, str(p), artifact_path), "log_artifacts"
        )

    def log_dict(self, obj: Any, name: str) -> None:
        """Log ``obj`` as ``name`` (``.json``, ``.yaml``/``.yml``; subfolders allowed)."""
        suffix = Path(name).suffix.lower()
        plain = uris.scrub_obj(json.loads(json.dumps(obj, default=_json_default)))
        if suffix == ".json":
            text = json.dumps(plain, indent=2, sort_keys=True) + "\n"
        elif suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(plain, sort_keys=False)
        else:
            raise InputError(f"log_dict name {name!r}", "a .json, .yaml or .yml file name")
        sub = str(Path(name).parent)
        with tempfile.TemporaryDirectory(prefix="jetdistill-art-") as tmp:
            f = Path(tmp) / Path(name).name
            f.write_text(text)
            self.log_artifact(f, None if sub in ("", ".") else sub)

    def log_state_dict(
        self, model: Any, card: Mapping[str, Any] | None = None, name: str = "model"
    ) -> str:
        """Log ``model.state_dict()`` (or a state dict) plus a JSON model card.

        Artifacts: ``<name>/state_dict.pt`` (``torch.save``; load with
        ``torch.load(..., weights_only=True)``) and ``<name>/model_card.json`` holding
        the caller's card plus class name, parameter count, torch version and the
        file's SHA-256. Works for Brevitas modules, unlike ``mlflow.pytorch.log_model``.
        Returns the artifact URI of the folder.
        """
        import hashlib

        import torch

        state = model.state_dict() if hasattr(model, "state_dict") else model
        if not isinstance(state, Mapping):
            raise InputError(
                "log_state_dict model", "an nn.Module or a state dict", type(model).__name__
            )
        state = {
            k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state.items()
        }
        n_params = sum(int(v.numel()) for v in state.values() if isinstance(v, torch.Tensor))
        with tempfile.TemporaryDirectory(prefix="jetdistill-model-") as tmp:
            d = Path(tmp)
            torch.save(state, d / "state_dict.pt")
            full = {
                **dict(card or {}),
                "format": "torch.state_dict",
                "file": "state_dict.pt",
                "class": type(model).__module__ + "." + type(model).__qualname__
                if hasattr(model, "state_dict")
                else None,
                "n_tensors": len(state),
                "n_state_elements": n_params,
                "torch_version": torch.__version__,
                "sha256": hashlib.sha256((d / "state_dict.pt").read_bytes()).hexdigest(),
            }
            (d / "model_card.json").write_text(
                json.dumps(full, indent=2, sort_keys=True, default=_json_default) + "\n"
            )
            self.log_artifacts(d, name)
        return f"{self.artifact_uri.rstrip('/')}/{name}"

    @property
    def artifact_uri(self) -> str:
        return _retry(lambda: self._client.get_run(self.run_id), "get_run").info.artifact_uri


@contextlib.contextmanager
def job_run(
    cfg: TrackingConfig,
    *,
    name: str,
    rule: str,
    wildcards: Mapping[str, Any],
    role: str,
    method: str,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[JobRun]:
    """Open one MLflow run for a Snakemake job, nested under the invocation's parent.

    The run ends FINISHED on success; on any exception it ends FAILED (KILLED for
    KeyboardInterrupt) and the exception propagates, so Snakemake still sees the
    failure. Tags: invocation, rule, wildcards (JSON), role, method, parent run id
    and the caller's ``tags`` (model, seed, student, teacher, ...).
    """
    client = _client(cfg)
    exp_id = _experiment_id(cfg, client)
    inv = invocation_id()
    parent = _parent_run_id(cfg, inv)
    all_tags: dict[str, str] = {
        TAG_INVOCATION: inv,
        TAG_RULE: rule,
        TAG_WILDCARDS: json.dumps({str(k): str(v) for k, v in wildcards.items()}, sort_keys=True),
        TAG_KIND: "job",
        TAG_PARENT: parent,
        "role": role,
        "method": method,
    }
    for k, v in (tags or {}).items():
        all_tags[_clean_key(str(k))] = _truncate(_param_str(v), MAX_TAG_VAL_LENGTH)
    run = _retry(lambda: client.create_run(exp_id, tags=all_tags, run_name=name), "create_run")
    handle = JobRun(client, run.info.run_id)
    logger.info("MLflow run %s (%s) started in %s", run.info.run_id, name, cfg.display_uri)
    try:
        yield handle
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        with contextlib.suppress(Exception):
            handle.set_tags({"jetdistill.error": f"{type(exc).__name__}: {exc}"})
        try:
            _retry(lambda: client.set_terminated(run.info.run_id, status), "set_terminated")
        except Exception:
            logger.exception("could not mark run %s as %s", run.info.run_id, status)
        raise
    _retry(lambda: client.set_terminated(run.info.run_id, "FINISHED"), "set_terminated")


# --------------------------------------------------------------------------- search


def search(
    cfg: TrackingConfig,
    invocation_id: str | None = None,
    filter: str | None = None,
    include_parents: bool = False,
) -> pd.DataFrame:
    """Runs of the experiment as a DataFrame shaped like ``mlflow.search_runs``.

    Columns: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``,
    ``start_time``, ``end_time``, ``metrics.*``, ``params.*``, ``tags.*``.
    ``invocation_id`` restricts to one invocation; ``filter`` is an MLflow filter
    string ANDed to it. Parent (invocation) runs are left out unless asked for.
    """
    client = _client(cfg)
    exp_id = _experiment_id(cfg, client)
    clauses = []
    if invocation_id:
        clauses.append(f"tags.`{TAG_INVOCATION}` = '{_q(invocation_id)}'")
    if not include_parents:
        clauses.append(f"tags.`{TAG_KIND}` = 'job'")
    if filter:
        clauses.append(filter)  # MLflow filters only support AND: plain concatenation
    flt = " and ".join(clauses)
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = _retry(
            lambda tok=token: client.search_runs(
                [exp_id],
                filter_string=flt,
                max_results=_SEARCH_PAGE,
                page_token=tok,
                order_by=["attributes.start_time ASC"],
            ),
            "search_runs",
        )
        for r in page:
            row: dict[str, Any] = {
                "run_id": r.info.run_id,
                "experiment_id": r.info.experiment_id,
                "status": r.info.status,
                "artifact_uri": r.info.artifact_uri,
                "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
                "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True)
                if r.info.end_time
                else pd.NaT,
            }
            row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
            row.update({f"params.{k}": v for k, v in r.data.params.items()})
            row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
            rows.append(row)
        token = page.token
        if not token:
            break
    base = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=base)
    rest = sorted(c for c in df.columns if c not in base)
    return df[base + rest]


def metric_history(cfg: TrackingConfig, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` pairs of one metric, sorted by step (for plots and tests)."""
    client = _client(cfg)
    hist = _retry(lambda: client.get_metric_history(run_id, key), "get_metric_history")
    return sorted((m.step, m.value) for m in hist)


def run_info(cfg: TrackingConfig, run_id: str) -> dict[str, Any]:
    """Status, params, metrics (latest), tags and artifact URI of one run as plain dicts."""
    r = _retry(lambda: _client(cfg).get_run(run_id), "get_run")
    return {
        "run_id": r.info.run_id,
        "status": r.info.status,
        "artifact_uri": r.info.artifact_uri,
        "params": dict(r.data.params),
        "metrics": dict(r.data.metrics),
        "tags": dict(r.data.tags),
    }


def download_artifacts(
    cfg: TrackingConfig, run_id: str, path: str, dst: str | os.PathLike[str]
) -> Path:
    """Download ``path`` of a run's artifacts into ``dst``; return the local path."""
    Path(dst).mkdir(parents=True, exist_ok=True)
    local = _retry(
        lambda: mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=cfg.uri
        ),
        "download_artifacts",
    )
    return Path(local)


# --------------------------------------------------------------------------- common params

#: Params every job run carries (missing values are ``"none"``), so MLflow's compare view
#: and a search like ``params.student = 'mlp16' and params.bits = '32'`` line up KD and solo
#: runs, float and QAT students, side by side.
COMMON_PARAMS = (
    "role",
    "student",
    "method",
    "kd.temperature",
    "kd.alpha",
    "bits",
    "sparsity",
    "seed",
)
NONE = "none"


def common_params(
    *,
    role: str,
    method: str,
    student: str | None = None,
    temperature: float | str | None = None,
    alpha: float | str | None = None,
    bits: int | str | None = None,
    sparsity: float | str | None = None,
    seed: int | str | None = None,
) -> dict[str, str]:
    """The :data:`COMMON_PARAMS` as strings, formatted as the jobs log them elsewhere.

    Numbers are normalised (``kd.*`` and ``sparsity`` as floats: ``"4.0"``, ``"0.5"``;
    ``bits`` and ``seed`` as integers) so that the same value logged again by a job (e.g.
    the ``kd`` section of a distilled student, ``bits`` of a QAT run) is identical and not
    a param conflict.
    """

    def num(v: Any, kind: type) -> str:
        if v is None or (isinstance(v, str) and v.strip() in ("", NONE)):
            return NONE
        return str(kind(float(v)) if kind is int else kind(v))

    return {
        "role": role,
        "student": student or NONE,
        "method": method,
        "kd.temperature": num(temperature, float),
        "kd.alpha": num(alpha, float),
        "bits": num(bits, int),
        "sparsity": num(sparsity, float),
        "seed": num(seed, int),
    }


def runs_page_url(
    base_url: str,
    experiment_id: str,
    search_filter: str | None = None,
    order_by: str | None = None,
    ascending: bool = False,
) -> str:
    """A link to MLflow's runs table (ML view) with a saved search.

    ``workflowType=machine_learning`` makes MLflow 3.17's UI show the classic
    training-runs view (its default is the GenAI view; the choice is a client-side
    setting, not stored in the experiment). ``searchFilter``/``orderByKey`` are the
    UI's own URL state.
    """
    from urllib.parse import urlencode

    query: dict[str, str] = {"workflowType": "machine_learning"}
    if search_filter:
        query["searchFilter"] = search_filter
    if order_by:
        query["orderByKey"] = order_by
        query["orderByAsc"] = "true" if ascending else "false"
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{urlencode(query)}"


#: The saved search of the README: finished student runs (no parent rows), best first.
STUDENT_RUNS_FILTER = "params.role = 'student' and attributes.status = 'FINISHED'"


def student_runs_url(cfg: TrackingConfig, base_url: str = "http://127.0.0.1:5000") -> str:
    """Where to look after a run: the runs table of this experiment, students only, best first.

    For a local store ``base_url`` is where ``mlflow ui`` listens by default; for a tracking
    server it is the server itself.
    """
    exp_id = _experiment_id(cfg, _client(cfg))
    return runs_page_url(
        cfg.uri if cfg.is_server else base_url,
        exp_id,
        STUDENT_RUNS_FILTER,
        order_by="metrics.`test_accuracy`",
    )


def compare_runs_url(base_url: str, experiment_id: str, run_ids: list[str]) -> str:
    """A link to MLflow's side-by-side compare page of ``run_ids`` (params, metrics, plots)."""
    from urllib.parse import quote

    runs = quote(json.dumps(list(run_ids), separators=(",", ":")), safe="")
    exps = quote(json.dumps([str(experiment_id)], separators=(",", ":")), safe="")
    return (
        f"{base_url.rstrip('/')}/#/compare-runs?runs={runs}&experiments={exps}"
        "&workflowType=machine_learning"
    )


def kd_vs_solo_compare_url(
    cfg: TrackingConfig, base_url: str = "http://127.0.0.1:5000", max_runs: int = 12
) -> str | None:
    """The compare page of the latest finished float students, solo and KD, of one seed.

    One seed keeps the page narrow: every KD setting next to the solo run it is paired
    with, the shared params (``kd.temperature``, ``kd.alpha``, ...) in aligned rows.
    None when there are no such runs.
    """
    runs = search(cfg, filter="params.role = 'student' and attributes.status = 'FINISHED'")
    if runs.empty or "params.method" not in runs:
        return None
    runs = runs[runs["params.method"].isin(["solo", "kd"])]
    if runs.empty:
        return None
    seed = min(runs["params.seed"].astype(str))
    runs = runs[runs["params.seed"].astype(str) == seed]
    keys = [c for c in ("params.student", "params.method", "params.kd.temperature", "params.kd.alpha",
                        "tags.jetdistill.wildcards") if c in runs]  # fmt: skip
    latest = runs.sort_values("start_time").groupby(keys, dropna=False).tail(1)
    latest = latest.sort_values(["params.student", "params.method"], ascending=[True, False])
    exp_id = str(latest["experiment_id"].iloc[0])
    base = cfg.uri if cfg.is_server else base_url
    return compare_runs_url(base, exp_id, list(latest["run_id"])[:max_runs])
