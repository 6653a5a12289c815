"""Knowledge-distillation losses: one registry, one calling convention.

Every loss has the signature ``loss(student_logits, y, teacher_logits) -> scalar`` so the
training loop never needs to know which method it runs. ``y`` may be ``None`` for losses
that do not use labels (``soft``, or any KD loss with ``alpha == 0``); ``teacher_logits``
may be ``None`` for ``ce``.

Temperature is applied *here*, at distillation time, and never to the cached soft targets,
so one cached teacher file serves a whole temperature sweep.

Adding a loss is one decorated function here (plus its test and a line in config/README.md):
``@register_loss("name", defaults={"my_weight": 1.0})``. Its own hyper-parameters are
declared once, in ``defaults``; the config sets them under ``distillation.loss_params.name``
and the loss reads them from ``p.params``. The config schema does not list loss names or
their hyper-parameters: :func:`jetdistill.plan.check_config` checks them against this
registry, so ``snakemake -n`` still rejects a typo.

Conventions (all losses are batch means):

- ``ce``     : cross entropy with the labels (solo baseline, teacher ignored).
- ``hinton`` : ``alpha * CE(y, s) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))``
  (Hinton, Vinyals & Dean 2015). The ``T^2`` keeps the soft-target gradient magnitude
  roughly independent of ``T`` (the unscaled gradient shrinks as ``1/T^2``).
- ``soft``   : pure soft targets, ``T^2 * KL`` (``alpha`` ignored, labels not needed), for a
  transfer set without labels.
- ``mse``    : logit matching (Bucila et al. 2006, Ba & Caruana 2014),
  ``alpha * CE + (1 - alpha) * mean((s - t)^2)``; temperature is not used.
- ``dkd``    : decoupled KD (Zhao et al. 2022, arXiv:2203.08679),
  ``alpha * CE + T^2 * (params.alpha * TCKD + params.beta * NCKD)``. As in the paper the KD
  part has its own weights, so it is *not* multiplied by ``1 - alpha``.
- ``lsd``    : KD with logit standardisation (Sun et al. 2024, arXiv:2403.01427): each logit
  vector of student and teacher is z-scored over the classes (unbiased std, as in the
  authors' code) before the softened KL; otherwise identical to ``hinton``
  (``alpha * CE + (1 - alpha) * T^2 * KL``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor | None, Tensor | None], Tensor]

#: Added to the std in logit standardisation (as in Sun et al.'s reference code).
LSD_EPS = 1e-7


@dataclass(frozen=True)
class LossParams:
    """Hyper-parameters of one built loss.

    ``temperature``, ``alpha`` and ``label_smoothing`` are shared by every loss (each reads
    the ones it needs); ``params`` holds the loss's own hyper-parameters, its registered
    defaults overridden by the config's ``distillation.loss_params.<name>``.
    """

    temperature: float = 1.0
    alpha: float = 0.1
    label_smoothing: float = 0.0
    params: Mapping[str, float] = field(default_factory=dict)


class _RawLoss(Protocol):
    def __call__(self, s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor: ...


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: its function, its own hyper-parameters with their defaults, and
    whether it needs teacher logits (everything but the solo ``ce``)."""

    name: str
    fn: _RawLoss
    defaults: Mapping[str, float]
    needs_teacher: bool
    summary: str


#: name -> :class:`LossSpec`, filled by :func:`register_loss` in definition order.
LOSSES: dict[str, LossSpec] = {}


def register_loss(
    name: str, *, defaults: Mapping[str, float] | None = None, needs_teacher: bool = True
) -> Callable[[_RawLoss], _RawLoss]:
    """Register ``fn(student_logits, y, teacher_logits, p: LossParams) -> Tensor`` as ``name``.

    ``defaults``: the loss's own hyper-parameters (read as ``p.params[key]``) and their
    default values, the only place they are declared. The first line of the function's
    docstring is the loss's one-line description (config/README.md documents each loss).
    """

    def deco(fn: _RawLoss) -> _RawLoss:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        LOSSES[name] = LossSpec(
            name, fn, MappingProxyType(dict(defaults or {})), needs_teacher, summary
        )
        return fn

    return deco


# --------------------------------------------------------------------------- building blocks


def soft_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Batch mean of ``KL(softmax(t/T) || softmax(s/T))``, *without* the ``T^2`` factor.

    Computed from log-probabilities on both sides so that very confident teachers
    (probabilities that underflow to 0) give finite values.
    """
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def standardize_logits(logits: Tensor, eps: float = LSD_EPS) -> Tensor:
    """Z-score each logit vector over the class axis (logit standardisation, Sun et al. 2024).

    Removes the teacher/student mismatch in logit *scale and shift*, so the student only
    has to match the teacher's logit *relations* (a tiny student cannot reach the
    teacher's logit range).
    """
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True)  # unbiased, as in the reference code
    return (logits - mean) / (std + eps)


def _ce(s: Tensor, y: Tensor | None, p: LossParams, name: str) -> Tensor:
    if y is None:
        raise InputError(
            f"loss {name!r}", "labels y (alpha > 0 needs the cross-entropy term)", "None"
        )
    return F.cross_entropy(s, y, label_smoothing=p.label_smoothing)


def _need_teacher(t: Tensor | None, s: Tensor, name: str) -> Tensor:
    if t is None:
        raise InputError(f"loss {name!r}", "teacher_logits (a KD loss needs the teacher)", "None")
    if t.shape != s.shape:
        raise InputError(
            f"loss {name!r}",
            f"teacher_logits of the student's shape {tuple(s.shape)}",
            str(tuple(t.shape)),
        )
    return t.detach().to(dtype=s.dtype)


def _mix(
    ce_weight: float, s: Tensor, y: Tensor | None, p: LossParams, name: str, kd: Tensor
) -> Tensor:
    """``ce_weight * CE + kd``, skipping CE (and the need for labels) when its weight is 0."""
    if ce_weight == 0.0:
        return kd
    return ce_weight * _ce(s, y, p, name) + kd


# --------------------------------------------------------------------------- the losses


@register_loss("ce", needs_teacher=False)
def loss_ce(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Cross entropy with the labels (the solo baseline; the teacher is ignored)."""
    return _ce(s, y, p, "ce")


@register_loss("hinton")
def loss_hinton(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Hinton KD: alpha CE + (1 - alpha) T^2 KL(softmax(t/T) || softmax(s/T))."""
    t = _need_teacher(t, s, "hinton")
    T = p.temperature
    kd = (1.0 - p.alpha) * T * T * soft_kl(s, t, T)
    return _mix(p.alpha, s, y, p, "hinton", kd)


@register_loss("soft")
def loss_soft(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Soft targets only: T^2 KL (alpha ignored, no labels needed)."""
    t = _need_teacher(t, s, "soft")
    T = p.temperature
    return T * T * soft_kl(s, t, T)


@register_loss("mse")
def loss_mse(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Logit matching: alpha CE + (1 - alpha) mean((s - t)^2); T unused."""
    t = _need_teacher(t, s, "mse")
    kd = (1.0 - p.alpha) * F.mse_loss(s, t)
    return _mix(p.alpha, s, y, p, "mse", kd)


def dkd_terms(s: Tensor, t: Tensor, y: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """(TCKD, NCKD) of decoupled KD, batch means, without ``T^2``.

    TCKD is the KL between the binary distributions (p_target, 1 - p_target) of teacher and
    student; NCKD the KL between their distributions over the non-target classes only.
    Both are computed with log-sum-exp (no ``log`` of a possibly-zero probability).
    """
    zs = s / temperature
    zt = t / temperature
    gt = F.one_hot(y, num_classes=s.shape[-1]).to(torch.bool)
    neg_inf = torch.finfo(zs.dtype).min

    def binary_log_probs(z: Tensor) -> Tensor:
        lse_all = torch.logsumexp(z, dim=-1)
        lse_other = torch.logsumexp(z.masked_fill(gt, neg_inf), dim=-1)
        z_gt = (z * gt).sum(dim=-1)
        return torch.stack([z_gt - lse_all, lse_other - lse_all], dim=-1)

    lb_s, lb_t = binary_log_probs(zs), binary_log_probs(zt)
    tckd = (lb_t.exp() * (lb_t - lb_s)).sum(dim=-1).mean()

    ln_s = F.log_softmax(zs.masked_fill(gt, neg_inf), dim=-1)
    ln_t = F.log_softmax(zt.masked_fill(gt, neg_inf), dim=-1)
    per_class = torch.where(gt, torch.zeros_like(ln_t), ln_t.exp() * (ln_t - ln_s))
    nckd = per_class.sum(dim=-1).mean()
    return tckd, nckd


@register_loss("dkd", defaults={"alpha": 1.0, "beta": 8.0})
def loss_dkd(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Decoupled KD: alpha CE + T^2 (params.alpha TCKD + params.beta NCKD)."""
    t = _need_teacher(t, s, "dkd")
    if y is None:
        raise InputError(
            "loss 'dkd'", "labels y (DKD splits target and non-target classes)", "None"
        )
    T = p.temperature
    tckd, nckd = dkd_terms(s, t, y, T)
    kd = T * T * (p.params["alpha"] * tckd + p.params["beta"] * nckd)
    return _mix(p.alpha, s, y, p, "dkd", kd)


@register_loss("lsd")
def loss_lsd(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """Hinton KD on z-scored logits (logit standardisation)."""
    t = _need_teacher(t, s, "lsd")
    if s.shape[-1] < 2:
        raise InputError("loss 'lsd'", "at least 2 classes to standardise logits", str(s.shape[-1]))
    T = p.temperature
    kd = (1.0 - p.alpha) * T * T * soft_kl(standardize_logits(s), standardize_logits(t), T)
    return _mix(p.alpha, s, y, p, "lsd", kd)


def loss_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The loss's own hyper-parameters: its registered defaults overridden by ``given``
    (``distillation.loss_params.<name>``). Unknown names and keys are InputErrors."""
    if name not in LOSSES:
        raise InputError("loss name", f"one of {sorted(LOSSES)}", repr(name))
    defaults = LOSSES[name].defaults
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise InputError(f"distillation.loss_params.{name}", f"keys among: {known}", str(unknown))
    out = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value >= 0)
        ):
            raise InputError(
                f"distillation.loss_params.{name}.{key}", "a finite number >= 0", repr(value)
            )
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class BuiltLoss:
    """A loss from the registry bound to its hyper-parameters; callable as a :data:`LossFn`.

    ``needs_teacher`` tells the training loop whether it must feed teacher logits.
    """

    name: str
    params: LossParams

    @property
    def needs_teacher(self) -> bool:
        return LOSSES[self.name].needs_teacher

    def __call__(
        self, student_logits: Tensor, y: Tensor | None, teacher_logits: Tensor | None = None
    ) -> Tensor:
        return LOSSES[self.name].fn(student_logits, y, teacher_logits, self.params)


def build_loss(
    name: str,
    *,
    temperature: float = 1.0,
    alpha: float = 0.1,
    label_smoothing: float = 0.0,
    params: Mapping[str, Any] | None = None,
) -> BuiltLoss:
    """Return the loss ``name`` bound to its hyper-parameters (see module docstring).

    ``params``: the loss's own hyper-parameters (:func:`loss_params`); missing keys take
    their registered defaults.
    """
    own = loss_params(name, params)
    if not (math.isfinite(temperature) and temperature > 0):
        raise InputError(f"loss {name!r}: temperature", "a finite number > 0", repr(temperature))
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"loss {name!r}: alpha", "a number in [0, 1]", repr(alpha))
    if not 0.0 <= label_smoothing < 1.0:
        raise InputError(
            f"loss {name!r}: label_smoothing", "a number in [0, 1)", repr(label_smoothing)
        )
    bound = LossParams(
        float(temperature), float(alpha), float(label_smoothing), MappingProxyType(own)
    )
    log.debug("built loss %s with %s", name, bound)
    return BuiltLoss(name, bound)
