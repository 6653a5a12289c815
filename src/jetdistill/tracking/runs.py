"""A job's MLflow run: params, metrics, tags and artifacts, serialised the way MLflow accepts.

Why its own rules of serialisation: MLflow refuses over-long keys and values, re-logged
params with another value, and stores non-finite metrics as +-1.8e308 or a flagged 0.
A job must never fail on its bookkeeping, and a plot must never average a fake number:
values are flattened and truncated (:func:`flatten_params`), conflicting params and
non-finite metrics are kept as tags, and URI passwords are masked in everything logged.

Typical use from a job::

    cfg = TrackingConfig.from_dict(config["tracking"], root=workdir)
    with job_run(cfg, name="student-kd-s0", rule="train_student",
                 wildcards={"student": "mlp", "seed": "0"}, role="student",
                 method="kd", tags={"model": "mlp", "seed": 0}) as run:
        run.log_params(train_cfg)
        run.log_history(result.history)
        run.log_metrics(test_metrics)
        run.log_state_dict(model, card={"spec": spec})

Models are logged as ``state_dict`` files plus a JSON model card, never with
``mlflow.pytorch.log_model`` (which since MLflow 3.14 serialises with ``torch.export``
and fails on Brevitas quantised modules).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jetdistill.errors import InputError
from jetdistill.tracking import parents, store, uris
from jetdistill.tracking.config import TrackingConfig
from jetdistill.tracking.tags import TAG_ERROR, TAG_INVOCATION, TAG_KIND, TAG_PARENT, invocation_id

logger = logging.getLogger(__name__)

TAG_RULE = "jetdistill.rule"
TAG_WILDCARDS = "jetdistill.wildcards"
TAG_NONFINITE = "jetdistill.nonfinite_metrics"

_KEY_BAD_CHARS = re.compile(r"[^0-9A-Za-z_\-. /:]")


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
    return {clean_key(k): _truncate(v, store.LIMITS["param_value"]) for k, v in out.items()}


def tag_value(v: Any) -> str:
    """A tag's string form: masked (:func:`jetdistill.tracking.uris.scrub`) and truncated."""
    return _truncate(_param_str(v), store.LIMITS["tag_value"])


def clean_key(k: str) -> str:
    """A param/metric/tag key MLflow accepts (odd characters replaced, length capped)."""
    return _KEY_BAD_CHARS.sub("_", k)[: store.LIMITS["key"]]


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


def _metric_value(v: Any) -> float | None:
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


# --------------------------------------------------------------------------- job runs


class JobRun:
    """Handle on one MLflow run; every write is batched and goes through :func:`store.call`.

    Non-finite metric values are not logged (MLflow would store inf as +-1.8e308 and
    NaN as a flagged 0, which silently poisons plots and averages); their keys and
    values are kept in the tag ``jetdistill.nonfinite_metrics`` instead.
    """

    def __init__(self, cfg: TrackingConfig, client: Any, run_id: str) -> None:
        self._cfg = cfg
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
        new: dict[str, str] = {}
        for k, v in flatten_params(params).items():
            old = self._params.get(k)
            if old is None:
                self._params[k] = new[k] = v
            elif old != v:
                logger.warning("param %r already logged as %r; ignoring new value %r", k, old, v)
                self._conflicts[k] = v
        store.log_batch(self._cfg, self._client, self.run_id, params=new)
        if self._conflicts:
            self.set_tags({f"jetdistill.param_conflict.{k}": v for k, v in self._conflicts.items()})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {clean_key(str(k)): tag_value(v) for k, v in tags.items()}
        store.log_batch(self._cfg, self._client, self.run_id, tags=clean)

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
        out: list[tuple[str, float, int, int]] = []
        nonfinite_before = len(self._nonfinite)
        for metrics, step in rows:
            for k, v in metrics.items():
                key = clean_key(str(k))
                val = _metric_value(v)
                if val is None:
                    logger.warning("metric %r: not a number (%r); skipped", key, v)
                    continue
                if not math.isfinite(val):
                    self._nonfinite[key if step is None else f"{key}@{step}"] = str(val)
                    continue
                out.append((key, val, ts, int(step or 0)))
        store.log_batch(self._cfg, self._client, self.run_id, metrics=out)
        if len(self._nonfinite) != nonfinite_before:
            self.set_tags({TAG_NONFINITE: json.dumps(self._nonfinite, sort_keys=True)})
        return len(out)

    # -- artifacts
    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), "an existing file to log as an artifact", "missing")
        store.call(self._cfg, lambda: self._client.log_artifact(self.run_id, str(p), artifact_path),
                   "log_artifact")  # fmt: skip

    def log_artifacts(
        self, directory: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        p = Path(directory)
        if not p.is_dir():
            raise InputError(str(p), "an existing directory to log as artifacts", "missing")
        store.call(self._cfg, lambda: self._client.log_artifacts(self.run_id, str(p), artifact_path),
                   "log_artifacts")  # fmt: skip

    def log_dict(self, obj: Any, name: str) -> None:
        """Log ``obj`` as ``name`` (``.json``, ``.yaml``/``.yml``; subfolders allowed)."""
        store.log_dict(self._cfg, self._client, self.run_id, obj, name)

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
                json.dumps(full, indent=2, sort_keys=True, default=store.json_default) + "\n"
            )
            self.log_artifacts(d, name)
        return f"{self.artifact_uri.rstrip('/')}/{name}"

    @property
    def artifact_uri(self) -> str:
        run = store.call(self._cfg, lambda: self._client.get_run(self.run_id), "get_run")
        return run.info.artifact_uri


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
    mc = store.client(cfg)
    exp_id = store.experiment_id(cfg, mc)
    inv = invocation_id()
    all_tags: dict[str, str] = {
        TAG_INVOCATION: inv,
        TAG_RULE: rule,
        TAG_WILDCARDS: json.dumps({str(k): str(v) for k, v in wildcards.items()}, sort_keys=True),
        TAG_KIND: "job",
        TAG_PARENT: parents.parent_run_id(cfg, inv),
        "role": role,
        "method": method,
    }
    all_tags.update({clean_key(str(k)): tag_value(v) for k, v in (tags or {}).items()})
    run = store.call(cfg, lambda: mc.create_run(exp_id, tags=all_tags, run_name=name), "create_run")
    handle = JobRun(cfg, mc, run.info.run_id)
    logger.info("MLflow run %s (%s) started in %s", run.info.run_id, name, cfg.display_uri)
    try:
        yield handle
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        with contextlib.suppress(Exception):
            handle.set_tags({TAG_ERROR: f"{type(exc).__name__}: {exc}"})
        try:
            store.call(cfg, lambda: mc.set_terminated(run.info.run_id, status), "set_terminated")
        except Exception:
            logger.exception("could not mark run %s as %s", run.info.run_id, status)
        raise
    store.call(cfg, lambda: mc.set_terminated(run.info.run_id, "FINISHED"), "set_terminated")
