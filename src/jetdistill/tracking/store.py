"""The MLflow boundary: the only module that imports MLflow, and the store's one-time set-up.

Why one boundary: MLflow's fluent API keeps process-global state (tracking URI,
active-run stack) and its SQLite store is fragile under concurrency. Every call the
package makes goes through :func:`client` and :func:`call`, which guarantee:

* **Bounded calls.** Against a tracking server each call (retries included) gets at most
  ``tracking.timeout_s`` in all (:mod:`.deadline`); MLflow's own defaults (120 s per
  read, 7 retries) turned an unresponsive server into a ~20 minute silent hang.
* **No lost writes.** SQLite serialises writers; MLflow sets ``busy_timeout`` but a
  busy cluster can still raise ``database is locked``. :func:`call` retries those with
  exponential backoff and jitter for :data:`LOCK_RETRY_S` (opening the store included),
  then fails with an error naming ``tracking.uri`` and the file; :func:`log_batch` sends
  metrics/params/tags in as few transactions as possible. A file that is not an SQLite
  database fails at once, naming the file and what to do.
* **One store initialisation.** Creating a fresh SQLite store runs the Alembic
  migrations; two processes doing that at once race ("table already exists"). The
  store and the experiment are created once per invocation by :func:`init_store`, in
  Snakemake's ``onstart`` hook (:func:`jetdistill.jobs.invocation.start_invocation`).
* **A browsable store.** Relative SQLite paths and the artifact location are absolute
  (:mod:`.config`), so ``mlflow ui`` started in the project root with no flags shows
  every run and its artifacts in ``./mlruns/<experiment>/<run_id>/artifacts``.

The rest of the package is split by concern: :mod:`.config` (settings), :mod:`.probe`
(is the store there?), :mod:`.parents` (invocation runs), :mod:`.runs` (job runs and
their params), :mod:`.query` (search and read-back).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

# No internet on compute nodes: MLflow 3 telemetry would only time out in a thread.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

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
from jetdistill.tracking.config import TrackingConfig
from jetdistill.tracking.deadline import within
from jetdistill.tracking.probe import not_sqlite_message

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: MLflow's limits, for the modules that shape params, tags and batches (:mod:`.runs`)
LIMITS = {
    "key": MAX_ENTITY_KEY_LENGTH,
    "param_value": MAX_PARAM_VAL_LENGTH,
    "tag_value": MAX_TAG_VAL_LENGTH,
    "metrics_per_batch": MAX_METRICS_PER_BATCH,
    "params_tags_per_batch": MAX_PARAMS_TAGS_PER_BATCH,
}

#: MLflow 3's experiment kind tag and the value of a classic ML (training runs) experiment.
#: Without it the UI treats a new experiment as a GenAI app (traces overview first).
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_ML = "custom_model_development"

#: seconds :func:`call` keeps retrying a locked SQLite store (each try also waits SQLite's own
#: busy timeout: 5 s while the store opens, MLflow's 20 s afterwards) before it gives up;
#: the environment variable below overrides it (tests shorten it)
LOCK_RETRY_S = 60.0
ENV_LOCK_RETRY_S = "JETDISTILL_TRACKING_LOCK_RETRY_S"

#: environment values this module set (a user's own MLFLOW_HTTP_* settings are never overridden)
_OWN_ENV: dict[str, str] = {}


def _set_env(name: str, value: str) -> None:
    if name not in os.environ or _OWN_ENV.get(name) == os.environ[name]:
        os.environ[name] = value
        _OWN_ENV[name] = value


# --------------------------------------------------------------------------- calls


def client(cfg: TrackingConfig) -> MlflowClient:
    """A client whose HTTP requests time out after ``cfg.timeout_s`` with a few quick retries.

    The per-request timeout only bounds each socket read; :func:`call` bounds the whole call.
    """
    if cfg.is_server:
        _set_env("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(cfg.timeout_s))))
        _set_env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        _set_env("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        return MlflowClient(tracking_uri=cfg.uri)
    # a database store is opened (its tables checked, a new one migrated) right here, so a
    # locked or damaged file fails here: retried and reported like any other call
    return call(cfg, lambda: MlflowClient(tracking_uri=cfg.uri), "open the store")


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


def lock_retry_s() -> float:
    """:data:`LOCK_RETRY_S`, or the number of seconds in ``JETDISTILL_TRACKING_LOCK_RETRY_S``."""
    try:
        return float(os.environ.get(ENV_LOCK_RETRY_S) or LOCK_RETRY_S)
    except ValueError:
        return LOCK_RETRY_S


def _is_not_a_database(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return "file is not a database" in text or "file is encrypted or is not a database" in text


def _first_line(exc: BaseException) -> str:
    return uris.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))


def _db_path(cfg: TrackingConfig) -> Path | None:
    return Path(unquote(cfg.uri[len("sqlite:///") :])) if cfg.is_sqlite else None


def call(cfg: TrackingConfig, fn: Callable[[], T], what: str, base: float = 0.2) -> T:
    """``fn()`` against the store of ``cfg``: bounded for a server, lock-retried for SQLite.

    Server: the whole call, MLflow's HTTP retries included, gets ``cfg.timeout_s``; then a
    :class:`~jetdistill.tracking.deadline.TrackingTimeout` names ``tracking.uri``.
    Database: lock errors are retried with exponential backoff and jitter (the failed
    transaction was rolled back, so a retry cannot duplicate rows) for :func:`lock_retry_s`
    seconds in all, then an InputError names ``tracking.uri`` and the file. A SQLite file
    that is not a database is an InputError at once.
    """
    if cfg.is_server:
        return within(cfg.timeout_s, fn, where=cfg.where, what=what)
    limit, t0 = lock_retry_s(), time.monotonic()
    for i in itertools.count():
        try:
            return fn()
        except Exception as exc:
            db = _db_path(cfg)
            if db is not None and _is_not_a_database(exc):
                raise InputError(cfg.where, "an SQLite database", not_sqlite_message(db)) from None
            if not _is_transient(exc):
                raise
            waited = time.monotonic() - t0
            delay = min(base * 2**i, 5.0) * (0.5 + random.random())
            if waited + delay > limit:
                raise InputError(
                    cfg.where,
                    f"a store that no other process keeps locked (retried for {limit:g} s)",
                    f"{db or cfg.display_uri} still locked after {waited:.0f} s ({what}): another "
                    "process holds a write lock on it (a sqlite3 shell, a database browser, a "
                    "stuck job); end it and rerun",
                ) from None
            logger.warning(
                "%s: store locked (%s); retry %d in %.1fs", what, _first_line(exc), i + 1, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _chunks(seq: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def log_batch(
    cfg: TrackingConfig,
    mlflow_client: MlflowClient,
    run_id: str,
    *,
    metrics: Iterable[tuple[str, float, int, int]] = (),
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Write ``(key, value, timestamp_ms, step)`` metrics, params and tags in MLflow-sized batches."""
    rows = [Metric(k, v, ts, step) for k, v, ts, step in metrics]
    for chunk in _chunks(rows, MAX_METRICS_PER_BATCH):
        call(cfg, lambda c=chunk: mlflow_client.log_batch(run_id, metrics=c), f"log_batch {run_id}")
    for kind, items in (("params", params), ("tags", tags)):
        entity = Param if kind == "params" else RunTag
        rows = [entity(k, v) for k, v in (items or {}).items()]
        for chunk in _chunks(rows, MAX_PARAMS_TAGS_PER_BATCH):
            call(cfg, lambda c=chunk, k=kind: mlflow_client.log_batch(run_id, **{k: c}),
                 f"log_batch {run_id}")  # fmt: skip


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback for what params, cards and configs hold (arrays, paths, sets)."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (Path, set, frozenset)):
        return str(o) if isinstance(o, Path) else sorted(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return str(o)


def log_dict(
    cfg: TrackingConfig, mlflow_client: MlflowClient, run_id: str, obj: Any, name: str
) -> None:
    """Log ``obj`` as the artifact ``name`` (``.json``, ``.yaml``/``.yml``; subfolders allowed),
    every URI credential in it masked (:func:`jetdistill.tracking.uris.scrub_obj`)."""
    suffix = Path(name).suffix.lower()
    plain = uris.scrub_obj(json.loads(json.dumps(obj, default=json_default)))
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
        call(cfg, lambda: mlflow_client.log_artifact(run_id, str(f), None if sub in ("", ".") else sub),
             "log_artifact")  # fmt: skip


# --------------------------------------------------------------------------- set-up


def init_store(cfg: TrackingConfig) -> str:
    """Create the store's tables and the experiment; return the experiment id.

    Idempotent: an existing experiment is reused (restored if it was deleted). The
    workflow calls it once per invocation, in the main process, before any job starts
    (:func:`jetdistill.jobs.invocation.start_invocation`).
    """
    mc = client(cfg)  # creating the client's store runs the migrations (SQL)
    exp = call(cfg, lambda: mc.get_experiment_by_name(cfg.experiment), "get_experiment")
    if exp is None:
        kwargs: dict[str, Any] = {}
        if not cfg.is_server:
            # One folder per experiment name under the configured location: absolute, so
            # jobs in any cwd and `mlflow ui` in the project root find the same files.
            kwargs["artifact_location"] = _expected_artifact_location(cfg)
        try:
            exp_id = call(cfg, lambda: mc.create_experiment(cfg.experiment, **kwargs),
                          "create_experiment")  # fmt: skip
        except MlflowException as exc:  # created by someone else meanwhile
            exp = call(cfg, lambda: mc.get_experiment_by_name(cfg.experiment), "get_experiment")
            if exp is None:
                raise
            exp_id = exp.experiment_id
            logger.debug("experiment appeared concurrently: %s", exc)
        logger.info(
            "created MLflow experiment %r (id %s) in %s", cfg.experiment, exp_id, cfg.display_uri
        )
        mark_ml_experiment(cfg, exp_id)
        return exp_id
    if exp.lifecycle_stage == "deleted":
        call(cfg, lambda: mc.restore_experiment(exp.experiment_id), "restore_experiment")
        logger.info("restored deleted MLflow experiment %r", cfg.experiment)
    mark_ml_experiment(cfg, exp.experiment_id, exp.tags)
    if not cfg.is_server:
        _check_artifact_location(cfg, exp.experiment_id, exp.artifact_location)
    return exp.experiment_id


def mark_ml_experiment(
    cfg: TrackingConfig, experiment_id: str, tags: Mapping[str, str] | None = None
) -> None:
    """Tag the experiment as classic ML once, so MLflow's UI shows it as training runs.

    A kind a user chose in the UI (any existing value of the tag) is left alone.
    """
    if tags and TAG_EXPERIMENT_KIND in tags:
        return
    set_experiment_tag(cfg, experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND_ML)


def set_experiment_tag(cfg: TrackingConfig, experiment_id: str, key: str, value: str) -> None:
    mc = client(cfg)
    call(cfg, lambda: mc.set_experiment_tag(experiment_id, key, value), "set_experiment_tag")


def _expected_artifact_location(cfg: TrackingConfig) -> str:
    safe = re.sub(r"[^0-9A-Za-z_.\-]", "_", cfg.experiment) or "experiment"
    return f"{cfg.artifact_location.rstrip('/')}/{safe}"


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
    db = _db_path(cfg)
    if db is not None and cfg.root and db.resolve().is_relative_to(Path(cfg.root)):
        from sqlalchemy import create_engine, text

        def move() -> None:
            engine = create_engine(cfg.uri)
            try:
                with engine.begin() as conn:
                    conn.execute(
                        text("UPDATE experiments SET artifact_location = :loc "
                             "WHERE experiment_id = :id"),
                        {"loc": expected, "id": int(exp_id)},
                    )  # fmt: skip
            finally:
                engine.dispose()

        call(cfg, move, "move the experiment's artifact location")
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


def experiment_id(cfg: TrackingConfig, mlflow_client: MlflowClient | None = None) -> str:
    """The id of ``cfg.experiment``; InputError if the store was not set up."""
    mc = mlflow_client or client(cfg)
    exp = call(cfg, lambda: mc.get_experiment_by_name(cfg.experiment), "get_experiment")
    if exp is None:
        raise InputError(
            f"tracking store {cfg.display_uri}",
            f"experiment {cfg.experiment!r} created by init_store (Snakemake's onstart) first",
            "no such experiment",
        )
    return exp.experiment_id
