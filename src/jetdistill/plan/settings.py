"""The leaf settings each job is given as params, in a canonical form.

:func:`canonical_text`, :class:`JobSettings` and :func:`job_settings` make a param compare
by value; every ``*_settings`` and ``*_params`` function builds one job family's settings
from the config. Which jobs exist is :mod:`jetdistill.plan.grid`'s business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jetdistill.identity import KDJob, QATJob
from jetdistill.plan.data_files import unlabelled_multiple

# --------------------------------------------------------------------------- job settings
# Rules pass these leaf values as params, never a whole config section. Snakemake reruns a
# job whose params changed, so each job gets exactly the settings that change its result:
# extending a sweep list (bits, sparsities, modes, seeds, shards, fpga targets, ...) then
# plans the new jobs only, while changing e.g. training.qat.lr reruns every QAT job.
# Every dict a rule passes is a JobSettings (through job_settings): Snakemake compares a
# param by its repr, and a JobSettings' repr is canonical, so only values decide a rerun.


def canonical_text(value: Any) -> str:
    """The text a job setting is compared by: mapping keys sorted, numbers by value.

    A config written back in another key order (``yaml.safe_dump`` sorts keys) or with
    ``1`` for ``1.0`` or ``1.0e-03`` for ``0.001`` gives the same text; any other change of a
    value gives another. Integral numbers are written as integers (``4.0`` -> ``4``), others
    by their shortest round-trip form (``repr(float)``); bools stay ``True``/``False``.
    """
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        x = float(value)
        return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    if isinstance(value, dict):
        items = sorted((str(k), canonical_text(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical_text(v) for v in value) + "]"
    return repr(value)


class JobSettings(dict):
    """A job's settings (a plain dict to the job) whose ``repr`` is :func:`canonical_text`.

    Snakemake decides "Params have changed" by comparing the ``repr`` of each param with
    the one it recorded, and a dict's ``repr`` follows its key order and spells ``1`` and
    ``1.0`` differently. The content is left as the config gave it (jobs read keys by name,
    so key order never changes a result); only the compared text is canonical.
    :class:`jetdistill.jobs.context.JobContext` turns it back into a plain dict.
    """

    def __repr__(self) -> str:
        return canonical_text(self)


def job_settings(value: dict[str, Any]) -> JobSettings:
    """``value`` as a job param Snakemake compares canonically (:class:`JobSettings`)."""
    return JobSettings(value)


#: ``fpga`` keys that are hls4ml settings (jetdistill.fpga.hls.HLSConfig; a test keeps them equal).
HLS_KEYS: tuple[str, ...] = (
    "backend", "io_type", "strategy", "reuse_factor", "clock_period_ns", "part",
    "agreement_tolerance", "vendor",
)  # fmt: skip


def shard_settings(cfg: dict) -> JobSettings:
    """What one generated shard depends on: ``data.generate`` without the shard count and the
    class list (a shard's seed hashes its class and index, so adding shards or classes leaves
    the existing ones as they are)."""
    g = cfg["data"]["generate"]
    return job_settings({k: v for k, v in g.items() if k not in ("shards", "classes")})


def data_settings(cfg: dict) -> JobSettings:
    """``data`` as the split and view jobs read it: the generator's knobs are left out (they
    reach these jobs through the shard files), its class list kept (it names the classes)."""
    data = {k: v for k, v in cfg["data"].items() if k != "generate"}
    if data["source"] == "generate":
        data["generate"] = {"classes": list(cfg["data"]["generate"]["classes"])}
    return job_settings(data)


def kd_settings(
    cfg: dict, method: str, temperature: float | str, alpha: float | str
) -> JobSettings:
    """The KD loss of one job: method, T, alpha and the method's own hyper-parameters
    (registered defaults overridden by ``distillation.loss_params.<method>``)."""
    from jetdistill.learn.losses import loss_params

    given = (cfg["distillation"].get("loss_params") or {}).get(method)
    return job_settings({
        "method": method,
        "temperature": float(temperature),
        "alpha": float(alpha),
        "params": loss_params(method, given),
    })  # fmt: skip


def kd_job_settings(cfg: dict, job: KDJob) -> JobSettings:
    """The KD loss of one distillation job (:func:`kd_settings` of its identity), plus its
    consistent augmented views (``views``) when ``distillation.views.k > 0``."""
    out = kd_settings(cfg, job.method, job.T, job.alpha)
    views = views_settings(cfg)
    if views is not None:
        out["views"] = views
    return out


def views_settings(cfg: dict) -> JobSettings | None:
    """``distillation.views`` as the augmenting jobs read it (None when off, ``k == 0``).

    ``solo`` is left out: it says who reads the views, not what they are."""
    v = (cfg.get("distillation") or {}).get("views") or {}
    if int(v.get("k", 0)) <= 0:
        return None
    return job_settings({"k": int(v["k"]), "transforms": list(v.get("transforms", [])),
                         "pt_smear": float(v.get("pt_smear", 0.0)), "seed": int(v.get("seed", 0))})  # fmt: skip


def soft_target_params(cfg: dict) -> dict[str, JobSettings]:
    """Extra params of ``compute_soft_targets``: none when views are off (so a config
    without views reruns nothing), else the views and the data settings to read raw jets."""
    views = views_settings(cfg)
    return {} if views is None else {"views": views, "data": data_settings(cfg)}


def solo_views(cfg: dict, model: str) -> bool:
    """Whether the solo student ``model`` trains on the same augmented views (with labels) as
    the KD students: ``distillation.views.solo`` (default true: the fair twin sees the same
    jets and views), for ``students`` only (baselines have no KD twin)."""
    v = (cfg.get("distillation") or {}).get("views") or {}
    on = views_settings(cfg) is not None and bool(v.get("solo", True))
    return on and model in cfg["students"]


def solo_params(cfg: dict) -> dict[str, Callable[[Any], JobSettings | None]]:
    """Extra params of a solo student: none when views are off (a config without views reruns
    nothing), else ``views``, per job: the views settings where :func:`solo_views`, else None."""
    settings = views_settings(cfg)
    if settings is None:
        return {}
    return {"views": lambda w: settings if solo_views(cfg, w.student) else None}


def qat_settings(cfg: dict, mode: str, sparsity: float | str) -> JobSettings:
    """What a QAT job depends on beyond its wildcards: the quantiser widths, the pruning
    schedule (only when it prunes) and the KD loss (only in mode kd)."""
    c = cfg["compression"]
    out: dict[str, Any] = {
        "input_bits": int(c["input_bits"]),
        "accumulator_bits": int(c["accumulator_bits"]),
    }
    # non-default values only, so the jobs of earlier runs keep their settings
    if c.get("input_scaling", "tensor") != "tensor":
        out["input_scaling"] = c["input_scaling"]
    if c.get("activation_bits") is not None:
        out["activation_bits"] = int(c["activation_bits"])
    if float(sparsity) > 0:
        out["pruning"] = dict(c["pruning"])
    if mode == "kd":
        kd = c["kd"]
        out["kd"] = kd_settings(cfg, kd["method"], kd["temperature"], kd["alpha"])
        if c.get("kd_targets", "teacher") != "teacher":
            out["kd_targets"] = c["kd_targets"]
    return job_settings(out)


def qat_job_settings(cfg: dict, job: QATJob) -> JobSettings:
    """The settings of one QAT job (:func:`qat_settings` of its identity)."""
    return qat_settings(cfg, job.mode, job.sparsity)


def hls_settings(cfg: dict, *, float_model: bool = False) -> JobSettings:
    """hls4ml settings of a conversion job (not ``fpga.targets``/``float_students``)."""
    f = cfg["fpga"]
    out = {k: f[k] for k in HLS_KEYS}
    out["test_samples"] = int(f["test_samples"])
    if float_model:
        out["float_precision"] = f["float_precision"]
    return job_settings(out)


def rtl_settings(cfg: dict) -> JobSettings:
    """Settings of the open-source RTL estimate (da4ml, Verilator, Yosys ``synth_xilinx``).

    ``part`` goes into da4ml's generated project (for a vendor build); Yosys maps to generic
    Xilinx primitives, not to one device, so the LUT/FF counts do not depend on it."""
    f = cfg["fpga"]
    return job_settings({
        "clock_period_ns": float(f["clock_period_ns"]),
        "test_samples": int(f["test_samples"]),
        "yosys": bool(f["yosys"]),
        "part": f["part"],
    })  # fmt: skip


def frontier_kd_reference(cfg: dict) -> JobSettings:
    """Which float KD students the frontier compares QAT+KD with (``compression.kd``)."""
    kd = cfg["compression"]["kd"]
    return job_settings({
        "method": kd["method"],
        "temperature": float(kd["temperature"]),
        "alpha": float(kd["alpha"]),
    })  # fmt: skip


def specialist_group_settings(cfg: dict, generalist: str) -> JobSettings:
    """What the choice of groups depends on: the given groups (or ``auto``), their number and
    size."""
    sp = cfg["teachers"][generalist]["specialists"]
    return job_settings({k: sp[k] for k in ("groups", "n_groups", "max_group_size")})


def specialist_train_settings(cfg: dict, generalist: str) -> JobSettings:
    """A specialist's training: ``training.teacher`` with the specialists' short schedule
    (``epochs``, ``lr``, no early stopping), its enrichment and its seed."""
    sp = cfg["teachers"][generalist]["specialists"]
    train = {**cfg["training"]["teacher"], "epochs": sp["epochs"], "lr": sp["lr"], "patience": 0}
    return job_settings(
        {"train": train, "group_fraction": sp["group_fraction"], "seed": sp["seed"]}
    )


def specialist_combine_settings(cfg: dict, generalist: str) -> JobSettings:
    """The combination's settings (:func:`jetdistill.learn.specialists.combine`)."""
    sp = cfg["teachers"][generalist]["specialists"]
    return job_settings({"active_top": sp["active_top"], "steps": sp["combine_steps"]})


def unlabelled_settings(cfg: dict, multiple: float | None = None) -> JobSettings:
    """What an unlabelled view depends on besides its inputs: the multiple (default: the
    config's; an arm's otherwise) and the seed that picks rows of user files."""
    m = unlabelled_multiple(cfg) if multiple is None else float(multiple)
    return job_settings({"multiple": m,
                         "seed": int(cfg["data"]["splits"]["seed"])})  # fmt: skip
