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
- ``dist``   : DIST (Huang et al. 2022, arXiv:2205.10536), relations instead of exact
  probabilities: ``alpha * CE + T^2 * (params.beta * inter + params.gamma * intra)`` with
  ``inter = 1 - mean_i pearson(p_s[i, :], p_t[i, :])`` (how the classes relate for one jet)
  and ``intra = 1 - mean_k pearson(p_s[:, k], p_t[:, k])`` (how the batch's jets relate for
  one class), ``p = softmax(z/T)``. As in the paper the KD part has its own weights (beta = gamma
  = 1, the authors' defaults), not ``1 - alpha``. ``intra`` is a statistic of the *batch*, so
  the value depends on the batch (and on the evaluation batch size). See :func:`dist_terms`
  for its behaviour at high T.
- ``hint``   : Hinton KD plus a FitNets-style feature hint (Romero et al. 2015,
  arXiv:1412.6550): ``alpha * CE + (1 - alpha) * T^2 * KL + params.hint_weight *
  mean((W h_s + b - h_t)^2)``, ``h_s`` the student's last hidden representation (the input of
  its last Linear layer), ``h_t`` the teacher's cached embedding and ``W, b`` a learned
  projection (:class:`HintProjector`, trained with the student). ``alpha = 1`` leaves
  CE + hint. It is the one *feature* loss (``needs_features``): it is called with
  ``features=(h_s, h_t)`` and owns parameters, so it is built with ``feature_dims``.

Unlabelled jets (``distillation.unlabelled``): a jet whose label is :data:`UNLABELLED` (-1)
counts in the teacher term only. The cross-entropy term is the mean over the *labelled* jets
of the batch (0 for a batch without any), so ``alpha`` keeps its meaning: the weight of the
label term against the teacher term, ``alpha * E_labelled[CE] + (1 - alpha) * E_all[KL]``.
A loss that reads labels beyond that term (``dkd``: its target class) is registered with
``unlabelled=False`` and refused at parse time when unlabelled jets are on.

Feature losses: ``@register_loss(name, needs_features=True)`` registers
``fn(s, y, t, p, f: Features)``; :class:`BuiltLoss` then owns a :class:`HintProjector` (its
``module``) whose parameters the training loop optimises with the model's, and the loop
passes ``features=(student representation, teacher embedding)`` on every call
(:func:`jetdistill.learn.training.fit`). Logit losses never see any of this.
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
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor | None, Tensor | None], Tensor]

#: The label of a jet the student must not learn labels from (unlabelled transfer jets).
UNLABELLED = -1

#: Added to the std in logit standardisation (as in Sun et al.'s reference code).
LSD_EPS = 1e-7

#: Added to the product of norms in DIST's Pearson correlation (as in Huang et al.'s code):
#: a constant probability vector (a uniform row, or one jet in a batch) then has correlation
#: 0 instead of NaN.
DIST_EPS = 1e-8


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


class HintProjector(nn.Module):
    """FitNets' regressor: a learned linear map from the student's representation (width
    ``student_dim``) into the teacher's embedding space (``teacher_dim``).

    Why learned: a tiny student's 16-wide hidden layer and the teacher's embedding have
    different widths and bases; only a map fitted jointly can say how well one explains the
    other. It exists only during training (the deployed student is unchanged).
    """

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        for where, d in (("student", student_dim), ("teacher", teacher_dim)):
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise InputError(
                    f"hint projector: {where} feature width", "an integer >= 1", repr(d)
                )
        self.linear = nn.Linear(student_dim, teacher_dim)

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(h)


@dataclass(frozen=True)
class Features:
    """What a feature loss gets besides the logits: the student's representation
    ``(B, D_s)``, the teacher's cached embedding ``(B, D_t)`` and the loss's projector."""

    student: Tensor
    teacher: Tensor
    projector: HintProjector


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: its function, its own hyper-parameters with their defaults,
    whether it needs teacher logits (everything but the solo ``ce``) and whether it needs
    features (student representation + teacher embedding, see the module docstring)."""

    name: str
    fn: _RawLoss
    defaults: Mapping[str, float]
    needs_teacher: bool
    summary: str
    needs_features: bool = False
    unlabelled: bool = True


#: name -> :class:`LossSpec`, filled by :func:`register_loss` in definition order.
LOSSES: dict[str, LossSpec] = {}


def register_loss(
    name: str,
    *,
    defaults: Mapping[str, float] | None = None,
    needs_teacher: bool = True,
    needs_features: bool = False,
    unlabelled: bool = True,
) -> Callable[[_RawLoss], _RawLoss]:
    """Register ``fn(student_logits, y, teacher_logits, p: LossParams) -> Tensor`` as ``name``.

    ``defaults``: the loss's own hyper-parameters (read as ``p.params[key]``) and their
    default values, the only place they are declared. The first line of the function's
    docstring is the loss's one-line description (config/README.md documents each loss).
    ``needs_features``: ``fn`` takes a fifth argument, :class:`Features`.
    ``unlabelled``: whether the loss can train on unlabelled jets (label :data:`UNLABELLED`),
    i.e. it reads labels only through the masked cross-entropy term (:func:`_ce`).
    """

    def deco(fn: _RawLoss) -> _RawLoss:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        LOSSES[name] = LossSpec(
            name, fn, MappingProxyType(dict(defaults or {})), needs_teacher, summary,
            needs_features, unlabelled,
        )  # fmt: skip
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
    """Cross entropy over the labelled jets of the batch (label :data:`UNLABELLED` masked):
    their mean, or 0 (with the graph kept) when the batch holds none."""
    if y is None:
        raise InputError(
            f"loss {name!r}", "labels y (alpha > 0 needs the cross-entropy term)", "None"
        )
    labelled = y != UNLABELLED
    if bool(labelled.all()):
        return F.cross_entropy(s, y, label_smoothing=p.label_smoothing)
    if not bool(labelled.any()):
        return s.sum() * 0.0
    return F.cross_entropy(s[labelled], y[labelled], label_smoothing=p.label_smoothing)


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


@register_loss("ce", needs_teacher=False, unlabelled=False)
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


@register_loss("dkd", defaults={"alpha": 1.0, "beta": 8.0}, unlabelled=False)
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


def pearson_rows(a: Tensor, b: Tensor, eps: float = DIST_EPS) -> Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (shape ``(N,)``).

    ``<a - mean a, b - mean b> / (|a - mean a| |b - mean b| + eps)``, as in the DIST
    reference code; a constant row correlates 0 with anything.
    """
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    return (a * b).sum(dim=-1) / (a.norm(dim=-1) * b.norm(dim=-1) + eps)


def dist_terms(
    s: Tensor, t: Tensor, temperature: float, eps: float = DIST_EPS
) -> tuple[Tensor, Tensor]:
    """(inter, intra) relation losses of DIST, without ``T^2``.

    ``inter``: 1 - mean over the batch of the Pearson correlation between the student's and
    the teacher's probability rows (how the classes relate for one jet); ``intra``: the same
    over the class columns (how the jets of the batch relate for one class).

    Both are invariant to adding a constant to a row of logits (softmax is) but *not* to
    scaling it; only for ``T >> |z|`` does ``softmax(z/T) ~ (1 + (z - mean z)/T)/K`` make
    ``inter`` tend to ``1 - pearson(s, t)`` of the logits, which is scale-free. Unlike KL,
    whose gradient shrinks as ``1/T^2`` (which the ``T^2`` factor undoes), these terms and
    their gradients tend to a *non-zero* limit as T grows: with the paper's ``T^2`` factor
    DIST's gradient grows as ``T^2`` (x400 at T=20 against T=1). The authors' reference
    code uses T = 1; at high T the training defaults (AdamW, gradient clipping) keep it
    stable, but the cross-entropy's relative weight falls as ``1/T^2``.

    ``eps`` (:data:`DIST_EPS`) makes identical predictions cost ``eps / |p - mean p|^2`` per
    row or column instead of 0: negligible unless the probabilities are nearly uniform
    (T >> |z|, or a batch of nearly identical jets). Where ``|p - mean p|^2`` falls to ~eps
    (T ~ 1e3 |z| or more) eps dominates and the terms lose their signal.
    """
    p_s = F.softmax(s / temperature, dim=-1)
    p_t = F.softmax(t / temperature, dim=-1)
    inter = 1.0 - pearson_rows(p_s, p_t, eps).mean()
    intra = 1.0 - pearson_rows(p_s.transpose(0, 1), p_t.transpose(0, 1), eps).mean()
    return inter, intra


@register_loss("dist", defaults={"beta": 1.0, "gamma": 1.0})
def loss_dist(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams) -> Tensor:
    """DIST: alpha CE + T^2 (params.beta inter-class + params.gamma intra-class relation)."""
    t = _need_teacher(t, s, "dist")
    T = p.temperature
    inter, intra = dist_terms(s, t, T)
    kd = T * T * (p.params["beta"] * inter + p.params["gamma"] * intra)
    return _mix(p.alpha, s, y, p, "dist", kd)


def hint_mse(f: Features) -> Tensor:
    """FitNets' hint term: ``mean((W h_s + b - h_t)^2)`` over the batch and the teacher's
    embedding dimensions (so its scale does not grow with the embedding width)."""
    if f.student.ndim != 2 or f.teacher.ndim != 2 or f.student.shape[0] != f.teacher.shape[0]:
        raise InputError(
            "loss 'hint' features",
            "student (B, D_s) and teacher (B, D_t) representations of one batch",
            f"{tuple(f.student.shape)} and {tuple(f.teacher.shape)}",
        )
    d_s, d_t = f.projector.linear.in_features, f.projector.linear.out_features
    if f.student.shape[1] != d_s or f.teacher.shape[1] != d_t:
        raise InputError(
            "loss 'hint' features",
            f"widths ({d_s}, {d_t}) the projector was built for (feature_dims)",
            f"({f.student.shape[1]}, {f.teacher.shape[1]})",
        )
    target = f.teacher.detach().to(dtype=f.student.dtype)
    return F.mse_loss(f.projector(f.student), target)


@register_loss("hint", defaults={"hint_weight": 1.0}, needs_features=True)
def loss_hint(s: Tensor, y: Tensor | None, t: Tensor | None, p: LossParams, f: Features) -> Tensor:
    """Hinton KD + FitNets hint: alpha CE + (1 - alpha) T^2 KL + params.hint_weight MSE(W h_s + b, h_t)."""
    t = _need_teacher(t, s, "hint")
    T = p.temperature
    kd = (1.0 - p.alpha) * T * T * soft_kl(s, t, T) + p.params["hint_weight"] * hint_mse(f)
    return _mix(p.alpha, s, y, p, "hint", kd)


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

    ``needs_teacher`` tells the training loop whether it must feed teacher logits,
    ``needs_features`` whether it must pass ``features=(student representation, teacher
    embedding)``; ``module`` holds the loss's own trainable parameters (the hint projector
    of a feature loss, else ``None``), which the loop optimises with the model's.
    """

    name: str
    params: LossParams
    projector: HintProjector | None = None

    @property
    def needs_teacher(self) -> bool:
        return LOSSES[self.name].needs_teacher

    @property
    def needs_features(self) -> bool:
        return LOSSES[self.name].needs_features

    @property
    def module(self) -> nn.Module | None:
        return self.projector

    def __call__(
        self,
        student_logits: Tensor,
        y: Tensor | None,
        teacher_logits: Tensor | None = None,
        features: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        spec = LOSSES[self.name]
        if not spec.needs_features:
            if features is not None:
                raise InputError(f"loss {self.name!r}", "no features (a logit loss)", "features")
            return spec.fn(student_logits, y, teacher_logits, self.params)
        if features is None or self.projector is None:
            raise InputError(
                f"loss {self.name!r}",
                "features=(student representation, teacher embedding) and a projector "
                "(build_loss(..., feature_dims=...))",
                "features" if features is None else "no projector",
            )
        h_s, h_t = features
        f = Features(h_s, h_t, self.projector)
        return spec.fn(student_logits, y, teacher_logits, self.params, f)  # type: ignore[call-arg]


def build_loss(
    name: str,
    *,
    temperature: float = 1.0,
    alpha: float = 0.1,
    label_smoothing: float = 0.0,
    params: Mapping[str, Any] | None = None,
    feature_dims: tuple[int, int] | None = None,
) -> BuiltLoss:
    """Return the loss ``name`` bound to its hyper-parameters (see module docstring).

    ``params``: the loss's own hyper-parameters (:func:`loss_params`); missing keys take
    their registered defaults. ``feature_dims``: ``(student representation width, teacher
    embedding width)``, required by a feature loss (its projector is built here, from torch's
    global RNG, so seed before building), ignored by every other loss.
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
    projector = None
    if LOSSES[name].needs_features:
        if feature_dims is None or len(feature_dims) != 2:
            raise InputError(
                f"loss {name!r}: feature_dims",
                "(student representation width, teacher embedding width)",
                repr(feature_dims),
            )
        projector = HintProjector(*feature_dims)
    log.debug("built loss %s with %s", name, bound)
    return BuiltLoss(name, bound, projector)
