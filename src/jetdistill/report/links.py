"""What a user opens in MLflow after a run: the params that line KD and solo runs up, and links.

Why in the report package: which params make a KD run comparable with a solo run (the KD
temperature and weight, bits, sparsity) and which runs a "best first" table should show
(full-data float students, not the learning curve's fraction runs) are this study's
questions, not the tracking store's; :mod:`jetdistill.tracking` stays generic.

The runs-table link carries its columns: MLflow's UI keeps selected columns in browser
state only, except for a *shared view* (its "Share" button), an experiment tag
``mlflow.sharedViewState.<key>`` holding the view as JSON that ``?viewStateShareKey=<key>``
loads. :func:`student_runs_url` writes that tag (idempotent: the key is a hash of the view).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, urlencode

from jetdistill.tracking import query, store
from jetdistill.tracking.config import TrackingConfig

#: Params every job run carries (missing values are ``"none"``), so MLflow's compare view
#: and a search like ``params.student = 'mlp16' and params.bits = '32'`` line up KD and solo
#: runs, float and QAT students, side by side.
COMMON_PARAMS = ("role", "student", "method", "kd.temperature", "kd.alpha", "bits", "sparsity",
                 "seed")  # fmt: skip
NONE = "none"

#: Where ``mlflow ui`` listens by default (a local store); a server's links use the server.
LOCAL_UI = "http://127.0.0.1:5000"

#: The learning curve's runs train on a fraction of the data; jobs tag the fraction they used
#: (``train_fraction``, ``1.0`` for the main run's jobs), so the full-data runs are those of 1.0.
FULL_DATA = "tags.`train_fraction` = '1.0'"
#: The saved search of the README and the end-of-run hint: finished float students trained on
#: all their data (no learning-curve fractions, no QAT or FPGA rows, no parent rows).
STUDENT_RUNS_FILTER = f"params.role = 'student' and attributes.status = 'FINISHED' and {FULL_DATA}"
ORDER_BY = "metrics.`test_accuracy`"
#: The runs table's columns: test accuracy and the KD settings (KD loss, T, alpha, teacher;
#: solo runs read ``none``). Few on purpose: MLflow's table renders only the columns that fit
#: the window (at 1600 px these six do, next to the fixed run name, created and duration).
STUDENT_COLUMNS = (
    "metrics.`test_accuracy`",
    "params.`student`",
    "params.`kd.method`",
    "params.`kd.temperature`",
    "params.`kd.alpha`",
    "tags.`teacher`",
)
TAG_SHARED_VIEW = "mlflow.sharedViewState."


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
    view_key: str | None = None,
) -> str:
    """A link to MLflow's runs table (ML view) with a saved search, or a shared view.

    ``workflowType=machine_learning`` makes MLflow 3.17's UI show the classic
    training-runs view (its default is the GenAI view; the choice is a client-side
    setting, not stored in the experiment). ``searchFilter``/``orderByKey`` are the
    UI's own URL state; ``viewStateShareKey`` names a view :func:`share_view` stored,
    which carries its own search: the UI ignores the key when the URL has any search
    parameter, so a link with a key has no other.
    """
    q: dict[str, str] = {"workflowType": "machine_learning"}
    if view_key:
        q["viewStateShareKey"] = view_key
    else:
        if search_filter:
            q["searchFilter"] = search_filter
        if order_by:
            q["orderByKey"] = order_by
            q["orderByAsc"] = "true" if ascending else "false"
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{urlencode(q)}"


def student_view() -> dict[str, Any]:
    """The runs table the end-of-run link opens: full-data students, best first, KD columns."""
    return {"searchFilter": STUDENT_RUNS_FILTER, "orderByKey": ORDER_BY, "orderByAsc": False,
            "selectedColumns": list(STUDENT_COLUMNS)}  # fmt: skip


def share_view(cfg: TrackingConfig, experiment_id: str, view: dict[str, Any]) -> str:
    """Store ``view`` as an MLflow shared view of the experiment; return its key.

    The key is a hash of the view, so every invocation writes the same tag again."""
    text = json.dumps(view, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    store.set_experiment_tag(cfg, experiment_id, TAG_SHARED_VIEW + key, text)
    return key


def _ui(cfg: TrackingConfig, base_url: str) -> str:
    return cfg.uri if cfg.is_server else base_url


def student_runs_url(cfg: TrackingConfig, base_url: str = LOCAL_UI) -> str:
    """Where to look after a run: the full-data students of this experiment, best first, with
    test accuracy and the KD params as columns (:func:`student_view`).

    For a local store ``base_url`` is where ``mlflow ui`` listens by default; for a tracking
    server it is the server itself.
    """
    exp_id = store.experiment_id(cfg)
    return runs_page_url(
        _ui(cfg, base_url), exp_id, view_key=share_view(cfg, exp_id, student_view())
    )


def compare_runs_url(base_url: str, experiment_id: str, run_ids: list[str]) -> str:
    """A link to MLflow's side-by-side compare page of ``run_ids`` (params, metrics, plots)."""
    runs = quote(json.dumps(list(run_ids), separators=(",", ":")), safe="")
    exps = quote(json.dumps([str(experiment_id)], separators=(",", ":")), safe="")
    return (
        f"{base_url.rstrip('/')}/#/compare-runs?runs={runs}&experiments={exps}"
        "&workflowType=machine_learning"
    )


def kd_vs_solo_compare_url(
    cfg: TrackingConfig, base_url: str = LOCAL_UI, max_runs: int = 12
) -> str | None:
    """The compare page of the latest finished full-data float students, solo and KD, of one seed.

    One seed keeps the page narrow: every KD setting next to the solo run it is paired
    with, the shared params (``kd.temperature``, ``kd.alpha``, ...) in aligned rows.
    None when there are no such runs.
    """
    runs = query.search(cfg, filter=STUDENT_RUNS_FILTER)
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
    return compare_runs_url(_ui(cfg, base_url), exp_id, list(latest["run_id"])[:max_runs])
