"""One training loop for every model and every loss (solo, KD, QAT, pruning fine-tuning).

Design choices:

- Data live in memory as tensors (:class:`Batches`); a batch is one fancy-index of a
  seeded per-epoch permutation. No ``DataLoader``, no per-sample Python: the datasets here
  (<= a few 10^5 jets) fit in RAM and the small models are otherwise input-bound.
- The loss is a plug-in ``loss_fn(student_logits, y, teacher_logits_or_None)`` so knowledge
  distillation only changes the loss, never the loop (see :mod:`jetdistill.learn.losses`).
- Determinism: the model is built by the caller (after seeding); :func:`fit` re-seeds torch
  with ``seed`` and draws the batch order from its own ``torch.Generator``, so the same
  seed + config + initial weights give a bit-identical history on CPU.
- Early stopping watches the validation loss (the same ``loss_fn``, evaluated with the
  teacher logits of the validation set for KD) and restores the best weights.
- Feature losses (a FitNets hint, ``loss_fn.needs_features``) additionally get
  ``features=(student representation, teacher embedding)``: the student's is the input of
  its last ``nn.Linear`` (:class:`FeatureCapture`, a forward pre-hook, so no model needs a
  second forward method), the teacher's the cached rows ``Batches.f``. Such a loss owns
  parameters (``loss_fn.module``), optimised with the model's (clipped separately). Every
  other loss runs exactly the code path it always did.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from jetdistill.errors import InputError, JetDistillError
from jetdistill.io import atomic_path
from jetdistill.progress import ProgressLog, eta_seconds, format_duration

log = logging.getLogger(__name__)

#: Batch of every evaluation pass (validation per epoch, test/train logits, features).
#: Why not larger: memory per batch grows with the model's per-jet activations, and the
#: default teacher's edge tensors (870 edges x 32 floats per jet) at a batch of 4096 are
#: ~450 MB each: glibc maps such blocks per allocation (above its largest mmap threshold,
#: 32 MiB, which ``runtime.tune_allocator`` cannot raise) and the kernel zero-fills them
#: page by page every batch. Measured 2026-12-06 (2-core EPYC VM, 1 thread, 2 passes over
#: 6,000 jets of the default ``jedinet``, allocator tuned): batch 4096 took 1.66 s user +
#: 4.44 s system (2.31 M minor faults, peak RSS 1.8 GB), batch 256 took 1.65 s user +
#: 0.07 s system (53 k faults, 617 MB): the same arithmetic without the kernel's share.
#: Small students lose nothing: a few dozen batches per pass.
EVAL_BATCH_SIZE = 256

LossFn = Callable[[Tensor, Tensor | None, Tensor | None], Tensor]
StepHook = Callable[[nn.Module], None]
EpochCallback = Callable[[int, dict[str, float]], None]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("none", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda")

#: ``schedule: step`` multiplies the learning rate by this factor every third of the epochs.
STEP_GAMMA = 0.1


class TrainingDivergedError(JetDistillError):
    """The training loss became NaN/inf (learning rate too high, bad inputs, ...)."""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Mirror of the config schema's ``definitions.train`` (defaults identical).

    ``threads`` is the thread count the job asks Snakemake for; :func:`fit` does not change
    torch's thread pool itself (``jetdistill.runtime.set_threads`` does, once per job).
    """

    optimizer: str = "adamw"
    lr: float = 0.002
    weight_decay: float = 0.0001
    momentum: float = 0.9
    batch_size: int = 256
    # Train to convergence by default (the cosine schedule decays to 0 at ``epochs``): on small
    # data the validation loss of a dropout teacher bottoms out long before its accuracy does
    # (digits: epoch 24 of 200, 12 test errors against 7-8 at the end), so early stopping on
    # it left the teacher no better than its student. The jet configs set both explicitly.
    epochs: int = 200
    patience: int = 0
    schedule: str = "cosine"
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    device: str = "auto"
    threads: int = 1

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, where: str = "training") -> TrainConfig:
        """Build from a ``training.<role>`` block; unknown keys and bad values raise InputError."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(
                f"{where}.{unknown[0]}", f"one of {sorted(known)}", f"unknown key(s) {unknown}"
            )
        cfg = cls(**d)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "training") -> None:
        def num(
            key: str,
            lo: float,
            hi: float = math.inf,
            *,
            lo_open: bool = False,
            integer: bool = False,
        ) -> None:
            v = getattr(self, key)
            ok = isinstance(v, int if integer else (int, float)) and not isinstance(v, bool)
            ok = ok and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                kind = "an integer" if integer else "a number"
                bound = f"> {lo}" if lo_open else f">= {lo}"
                raise InputError(
                    f"{where}.{key}",
                    f"{kind} {bound}" + (f" and <= {hi}" if hi < math.inf else ""),
                    repr(v),
                )

        for key, choices in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("device", DEVICES),
        ):
            if getattr(self, key) not in choices:
                raise InputError(
                    f"{where}.{key}", f"one of {list(choices)}", repr(getattr(self, key))
                )
        num("lr", 0.0, 10.0, lo_open=True)
        num("weight_decay", 0.0)
        num("momentum", 0.0, 1.0)
        num("batch_size", 1, integer=True)
        num("epochs", 1, integer=True)
        num("patience", 0, integer=True)
        num("grad_clip", 0.0)
        num("label_smoothing", 0.0, 0.5)
        num("threads", 1, integer=True)

    def replace(self, **changes: Any) -> TrainConfig:
        d = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return TrainConfig.from_dict(d)


# --------------------------------------------------------------------------- data


@dataclass
class Batches:
    """An in-memory dataset: inputs ``x`` (N, ...), labels ``y`` (N,), optional teacher logits
    ``t`` (N, K) and optional teacher embeddings ``f`` (N, D) for feature losses.

    ``y`` may be ``None`` only for label-free losses; ``t`` and ``f`` rows must align with ``x``
    rows.
    """

    x: Tensor
    y: Tensor | None
    t: Tensor | None = None
    f: Tensor | None = None

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.y is not None and self.y.shape != (n,):
            raise InputError("Batches.y", f"shape ({n},) matching x", str(tuple(self.y.shape)))
        if self.t is not None and (self.t.ndim != 2 or self.t.shape[0] != n):
            raise InputError(
                "Batches.t", f"teacher logits of shape ({n}, K)", str(tuple(self.t.shape))
            )
        if self.f is not None and (self.f.ndim != 2 or self.f.shape[0] != n):
            raise InputError(
                "Batches.f", f"teacher embeddings of shape ({n}, D)", str(tuple(self.f.shape))
            )
        if n == 0:
            raise InputError("Batches.x", "at least one sample", "0")

    @classmethod
    def from_numpy(
        cls,
        x: np.ndarray,
        y: np.ndarray | None,
        t: np.ndarray | None = None,
        f: np.ndarray | None = None,
    ) -> Batches:
        """Wrap arrays as float32 / int64 tensors (no copy when already of that dtype)."""
        return cls(
            x=torch.as_tensor(np.asarray(x, dtype=np.float32)),
            y=None if y is None else torch.as_tensor(np.asarray(y, dtype=np.int64)),
            t=None if t is None else torch.as_tensor(np.asarray(t, dtype=np.float32)),
            f=None if f is None else torch.as_tensor(np.asarray(f, dtype=np.float32)),
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> Batches:
        return Batches(
            self.x.to(device),
            None if self.y is None else self.y.to(device),
            None if self.t is None else self.t.to(device),
            None if self.f is None else self.f.to(device),
        )

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor | None, Tensor | None]:
        return (
            self.x[idx],
            None if self.y is None else self.y[idx],
            None if self.t is None else self.t[idx],
        )

    def batch_indices(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[Tensor | slice]:
        """Row selections of successive batches: a seeded permutation (one ``randperm`` per
        call) if ``generator`` is given, else slices in order."""
        n = len(self)
        if generator is None:
            for start in range(0, n, batch_size):
                yield slice(start, start + batch_size)
            return
        perm = torch.randperm(n, generator=generator).to(self.x.device)
        for start in range(0, n, batch_size):
            yield perm[start : start + batch_size]

    def iter_batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Yield ``(x, y, t)`` batches; shuffled with ``generator`` if given, else in order."""
        for idx in self.batch_indices(batch_size, generator):
            yield self.batch(idx)

    def iter_feature_batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Yield ``(x, y, t, f)`` batches (the same order as :meth:`iter_batches` with the same
        generator state); ``f`` is required."""
        if self.f is None:
            raise InputError("Batches.f", "teacher embeddings (the loss needs features)", "None")
        for idx in self.batch_indices(batch_size, generator):
            yield (*self.batch(idx), self.f[idx])


@dataclass
class ViewBatches(Batches):
    """:class:`Batches` plus ``V`` augmented views of every row: ``xv`` (V, N, ...) and, for a
    KD student, the teacher's logits of each view ``tv`` (V, N, K) (consistent views,
    Beyer et al. 2022). In each shuffled epoch every row is drawn afresh among its original
    (``x``, ``t``) and its V views, with the same generator as the batch order (so a seed
    still fixes the history); the input and the teacher logits always come from the same
    view. Unshuffled iteration (evaluation) reads the originals.
    """

    xv: Tensor | None = None
    tv: Tensor | None = None
    pick: Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.x.shape[0]
        if self.xv is None or self.xv.shape[1:] != self.x.shape:
            got = None if self.xv is None else tuple(self.xv.shape)
            raise InputError(
                "ViewBatches.xv", f"views of shape (V, {tuple(self.x.shape)})", str(got)
            )
        if (self.tv is None) != (self.t is None) or (
            self.tv is not None and self.tv.shape != (self.xv.shape[0], n, self.t.shape[1])
        ):
            got = None if self.tv is None else tuple(self.tv.shape)
            raise InputError("ViewBatches.tv", "teacher logits of every view (V, N, K) exactly "
                             "when t is given", str(got))  # fmt: skip

    @classmethod
    def from_views(cls, base: Batches, xv: np.ndarray, tv: np.ndarray | None = None) -> ViewBatches:
        return cls(base.x, base.y, base.t, base.f,
                   xv=torch.as_tensor(np.asarray(xv, dtype=np.float32)),
                   tv=None if tv is None else torch.as_tensor(np.asarray(tv, dtype=np.float32)))  # fmt: skip

    @property
    def n_views(self) -> int:
        return 0 if self.xv is None else int(self.xv.shape[0])

    def to(self, device: torch.device | str) -> ViewBatches:
        b = super().to(device)
        return ViewBatches(b.x, b.y, b.t, b.f, xv=self.xv.to(device),
                           tv=None if self.tv is None else self.tv.to(device))  # fmt: skip

    def batch_indices(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[Tensor | slice]:
        # 0: the original row, v >= 1: view v - 1; drawn once per epoch, before the order
        self.pick = (
            None
            if generator is None
            else torch.randint(0, self.n_views + 1, (len(self),), generator=generator)
        )
        yield from super().batch_indices(batch_size, generator)

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor | None, Tensor | None]:
        x, y, t = super().batch(idx)
        if self.pick is None or isinstance(idx, slice):
            return x, y, t
        v = self.pick[idx].to(x.device)
        aug = (v - 1).clamp(min=0)
        use = (v > 0).view(-1, *([1] * (x.ndim - 1)))
        x = torch.where(use, self.xv[aug, idx], x)
        if t is not None:
            t = torch.where((v > 0)[:, None], self.tv[aug, idx], t)
        return x, y, t


# --------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    train_seconds: float = 0.0
    samples_per_s: float = 0.0
    stopped_early: bool = False


# --------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "training.device", "'auto' or 'cpu' (no CUDA device is available)", "'cuda'"
        )
    if name not in DEVICES:
        raise InputError("training.device", f"one of {list(DEVICES)}", repr(name))
    return torch.device(name)


def cross_entropy_loss(label_smoothing: float = 0.0) -> LossFn:
    """Solo-training loss with the :data:`LossFn` signature (teacher logits ignored)."""

    def loss(
        student_logits: Tensor, y: Tensor | None, teacher_logits: Tensor | None = None
    ) -> Tensor:
        if y is None:
            raise InputError("cross_entropy_loss", "labels y", "None")
        return F.cross_entropy(student_logits, y, label_smoothing=label_smoothing)

    return loss


def make_optimizer(
    model: nn.Module, cfg: TrainConfig, extra: Sequence[nn.Parameter] = ()
) -> torch.optim.Optimizer:
    """The optimiser of the model's trainable parameters, plus ``extra`` ones (a feature
    loss's projector), in one parameter group."""
    params = [p for p in model.parameters() if p.requires_grad] + list(extra)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch schedule: cosine to 0 over ``epochs``, or x0.1 every ``epochs // 3`` epochs."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            opt, step_size=max(1, cfg.epochs // 3), gamma=STEP_GAMMA
        )
    return None


def _state_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- features


def needs_features(loss_fn: Any) -> bool:
    """Whether ``loss_fn`` is a feature loss (declares ``needs_features``; see module doc)."""
    return bool(getattr(loss_fn, "needs_features", False))


def loss_module(loss_fn: Any) -> nn.Module | None:
    """The loss's own trainable parameters (``loss_fn.module``), if it has any."""
    module = getattr(loss_fn, "module", None)
    return module if isinstance(module, nn.Module) else None


def representation_layer(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` in registration order, the logit layer of every model
    here: its input is the student's last hidden representation (MLP: the last hidden
    layer; Deep Sets: ``rho``'s last hidden layer, or the pooled latent if ``rho`` has none;
    interaction network: ``phi_C``'s last hidden layer)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise InputError(f"{type(model).__name__}", "a model with an nn.Linear layer", "none")
    return layers[-1]


class FeatureCapture:
    """Records the input of :func:`representation_layer` on every forward pass.

    A forward pre-hook, removed by :meth:`close` (or on leaving a ``with`` block), so the
    model is unchanged and its forward runs once per batch. :meth:`take` returns the
    representation of the latest forward, ``(B, D)``, and clears it.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layer = representation_layer(model)
        self._value: Tensor | None = None
        self._handle = self.layer.register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._value = args[0]

    def take(self) -> Tensor:
        value, self._value = self._value, None
        if value is None:
            raise JetDistillError("FeatureCapture.take: the model has not run since the last take")
        if value.ndim != 2:
            raise InputError(
                f"input of {type(self.layer).__name__} (the student representation)",
                "shape (B, D)",
                str(tuple(value.shape)),
            )
        return value

    def close(self) -> None:
        self._handle.remove()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@torch.no_grad()
def representation_dim(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Width of the model's representation (:class:`FeatureCapture`), from one forward pass
    of a zero input in eval mode: what ``build_loss(..., feature_dims=...)`` needs."""
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with FeatureCapture(model) as cap:
            model(torch.zeros((1, *input_shape), device=device))
            return int(cap.take().shape[1])
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_features(
    model: nn.Module,
    x: np.ndarray | Tensor,
    batch_size: int = EVAL_BATCH_SIZE,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Representations ``(N, D)`` float32 (the input of the model's last Linear) in eval
    mode: the teacher embedding a hint cache stores, or a student's for inspection."""
    with FeatureCapture(model) as cap:

        def forward(xb: Tensor) -> Tensor:
            model(xb)
            return cap.take()

        return _eval_batches(model, x, forward, batch_size, device)


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Batches, loss_fn: LossFn, batch_size: int = EVAL_BATCH_SIZE
) -> tuple[float, float]:
    """Sample-weighted mean loss and accuracy of ``model`` on ``data`` (eval mode, no grad)."""
    if needs_features(loss_fn):
        return _evaluate_with_features(model, data, loss_fn, batch_size)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.x.device)
    try:
        for xb, yb, tb in data.iter_batches(batch_size):
            logits = model(xb)
            loss_sum += loss_fn(logits, yb, tb).double() * xb.shape[0]
            if yb is not None:
                correct += (logits.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = len(data)
    acc = float(correct) / n if data.y is not None else math.nan
    return float(loss_sum) / n, acc


def _evaluate_with_features(
    model: nn.Module, data: Batches, loss_fn: Any, batch_size: int
) -> tuple[float, float]:
    """:func:`evaluate` for a feature loss: the same, with ``features=`` on every call."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.x.device)
    try:
        with FeatureCapture(model) as cap:
            for xb, yb, tb, fb in data.iter_feature_batches(batch_size):
                logits = model(xb)
                loss = loss_fn(logits, yb, tb, features=(cap.take(), fb))
                loss_sum += loss.double() * xb.shape[0]
                if yb is not None:
                    correct += (logits.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = len(data)
    acc = float(correct) / n if data.y is not None else math.nan
    return float(loss_sum) / n, acc


def _show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("JETDISTILL_NO_PROGRESS")


# --------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    train: Batches,
    val: Batches,
    cfg: TrainConfig,
    loss_fn: LossFn,
    *,
    seed: int,
    step_hook: StepHook | None = None,
    epoch_callback: EpochCallback | None = None,
    restore_best: bool | None = None,
    eval_batch_size: int = EVAL_BATCH_SIZE,
) -> TrainResult:
    """Train ``model`` in place and return its per-epoch history.

    Per epoch record: ``epoch`` (0-based), ``train_loss``, ``val_loss``, ``train_accuracy``,
    ``val_accuracy``, ``lr`` (the rate used during the epoch), ``samples_per_s`` (training
    phase only). ``train_loss``/``train_accuracy`` are running means over the epoch's batches
    (train mode), which costs nothing extra.

    ``step_hook(model)`` runs after every optimizer step (pruning re-applies its masks there).
    ``epoch_callback(epoch, record)`` runs after every epoch (MLflow logging).
    Early stopping: stop once the validation loss has not improved for ``cfg.patience``
    epochs (0 disables). ``restore_best`` (default: ``patience > 0``) loads the weights of the
    best-validation-loss epoch at the end.

    A feature loss (``loss_fn.needs_features``) needs teacher embeddings ``f`` in ``train``
    and ``val``; its ``loss_fn.module`` (the hint projector) is trained with the model (one
    optimiser) and left in its final state. Its gradient is clipped on its own, so the
    student's clipping is the one it would have without the projector.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    restore = cfg.patience > 0 if restore_best is None else restore_best
    with_features = needs_features(loss_fn)
    if with_features:
        for where, d in (("train", train), ("val", val)):
            if d.f is None:
                raise InputError(
                    f"fit({where}=...).f", "teacher embeddings (the loss needs features)", "None"
                )
    torch.manual_seed(seed)  # dropout etc.; model init is the caller's (seeded) business
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    train_d, val_d = train.to(device), val.to(device)
    extra: list[nn.Parameter] = []
    aux = loss_module(loss_fn)
    if aux is not None:
        aux.to(device)
        extra = [p for p in aux.parameters() if p.requires_grad]
    opt = make_optimizer(model, cfg, extra)
    sched = make_scheduler(opt, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    capture = FeatureCapture(model) if with_features else None
    try:
        result = _fit_epochs(
            model, train_d, val_d, cfg, loss_fn, opt, sched, params, extra, gen, device, capture,
            step_hook=step_hook, epoch_callback=epoch_callback, restore=restore,
            eval_batch_size=eval_batch_size,
        )  # fmt: skip
    finally:
        if capture is not None:
            capture.close()
    return result


def _fit_epochs(
    model: nn.Module,
    train_d: Batches,
    val_d: Batches,
    cfg: TrainConfig,
    loss_fn: LossFn,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    params: list[nn.Parameter],
    extra: list[nn.Parameter],
    gen: torch.Generator,
    device: torch.device,
    capture: FeatureCapture | None,
    *,
    step_hook: StepHook | None,
    epoch_callback: EpochCallback | None,
    restore: bool,
    eval_batch_size: int,
) -> TrainResult:
    """The epoch loop of :func:`fit` (``capture`` set only for a feature loss)."""
    feature_loss: Any = loss_fn

    result = TrainResult()
    best_state: dict[str, Tensor] | None = None
    since_best = 0
    n_train = len(train_d)
    # unlabelled transfer jets (label -1) never count as correct: accuracy is over labelled ones
    n_labelled = int((train_d.y >= 0).sum()) if train_d.y is not None else 0
    total_train_time = 0.0
    t_start = time.perf_counter()
    log.info(
        "fit: %d train / %d val samples, %d epochs, batch %d, %s lr=%g, device %s",
        n_train, len(val_d), cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.lr, device,
    )  # fmt: skip

    for epoch in range(cfg.epochs):
        model.train()
        lr = float(opt.param_groups[0]["lr"])
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        t0 = time.perf_counter()
        # a line with ETA in the job's log every minute for long epochs (tqdm is off there)
        within = ProgressLog(f"epoch {epoch + 1}/{cfg.epochs}", n_train, "jets", every_s=60)
        with tqdm(
            total=n_train,
            unit="jet",
            unit_scale=True,
            desc=f"epoch {epoch}",
            leave=False,
            disable=not _show_progress(),
        ) as bar:
            batches = (
                train_d.iter_batches(cfg.batch_size, gen)
                if capture is None
                else train_d.iter_feature_batches(cfg.batch_size, gen)
            )
            for xb, yb, tb, *fb in batches:
                logits = model(xb)
                if capture is None:
                    loss = loss_fn(logits, yb, tb)
                else:
                    loss = feature_loss(logits, yb, tb, features=(capture.take(), fb[0]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                    if extra:
                        nn.utils.clip_grad_norm_(extra, cfg.grad_clip)
                opt.step()
                if step_hook is not None:
                    step_hook(model)
                loss_sum += loss.detach().double() * xb.shape[0]
                if yb is not None:
                    correct += (logits.detach().argmax(1) == yb).sum()
                bar.update(xb.shape[0])
                within.update(xb.shape[0])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        total_train_time += train_time
        train_loss = float(loss_sum) / n_train
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(
                f"training loss is {train_loss} at epoch {epoch} (lr={lr:g}); lower training.lr or check the inputs"
            )
        val_loss, val_acc = evaluate(model, val_d, loss_fn, eval_batch_size)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "train_accuracy": float(correct) / n_labelled if n_labelled else math.nan,
            "val_accuracy": val_acc,
            "lr": lr,
            "samples_per_s": n_train / max(train_time, 1e-12),
        }
        result.history.append(record)
        if sched is not None:
            sched.step()

        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, since_best = val_loss, epoch, 0
            if restore:
                best_state = _state_copy(model)
        else:
            since_best += 1
        elapsed = time.perf_counter() - t_start
        log.info(
            "epoch %d (%d/%d): train_loss %.4f val_loss %.4f train_acc %.4f val_acc %.4f lr %.3g "
            "(%.0f jets/s, elapsed %s, ETA %s)",
            epoch, epoch + 1, cfg.epochs, train_loss, val_loss, record["train_accuracy"], val_acc, lr,
            record["samples_per_s"], format_duration(elapsed),
            format_duration(eta_seconds(epoch + 1, cfg.epochs, elapsed)),
        )  # fmt: skip
        if epoch_callback is not None:
            epoch_callback(epoch, dict(record))
        if cfg.patience > 0 and since_best >= cfg.patience:
            result.stopped_early = True
            log.info("early stop after epoch %d (best epoch %d)", epoch, result.best_epoch)
            break

    if restore and best_state is not None:
        model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - t_start
    result.samples_per_s = n_train * len(result.history) / max(total_train_time, 1e-12)
    return result


# --------------------------------------------------------------------------- inference + checkpoints


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    x: np.ndarray | Tensor,
    batch_size: int = EVAL_BATCH_SIZE,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Logits ``(N, K)`` float32 in eval mode; ``device`` defaults to the model's device."""
    return _eval_batches(model, x, model, batch_size, device)


def _eval_batches(
    model: nn.Module,
    x: np.ndarray | Tensor,
    forward: Callable[[Tensor], Tensor],
    batch_size: int,
    device: torch.device | str | None,
) -> np.ndarray:
    """``forward`` over ``x`` in batches with ``model`` in eval mode on ``device`` (default:
    the model's), its training mode restored after; ``(N, D)`` float32."""
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
    xt = torch.as_tensor(x, dtype=torch.float32) if isinstance(x, np.ndarray) else x.float()
    was_training = model.training
    model.eval()
    model.to(device)
    try:
        out = [
            forward(xt[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, xt.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(out).numpy()


#: key of the metadata in a self-describing checkpoint (see :func:`save_checkpoint`)
CHECKPOINT_META = "jetdistill_meta"


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None
) -> None:
    """Write the model's state dict (CPU tensors) atomically.

    ``meta``: what rebuilds the model without the config (type and hyper-parameters, input
    shape, classes, bit widths of a quantised twin), stored beside the weights so a
    checkpoint describes itself (:func:`checkpoint_meta`). Plain JSON values only.
    """
    state: dict[str, Any] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if meta is not None:
        state = {"state_dict": state, CHECKPOINT_META: json.loads(json.dumps(dict(meta)))}
    # serialised in memory, written by Python: torch.save to a path writes through a C++
    # stream, which reports a full disk only as "basic_ios::clear: iostream error" (no errno),
    # while a Python write raises OSError(ENOSPC), which atomic_path names as a full disk
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buf.getbuffer())


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict, dict]:
    """``(state dict, metadata)`` of a checkpoint (metadata ``{}`` for weights-only files)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "an existing checkpoint file", "no such file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / not a torch file
        raise InputError(
            str(p), "a torch state dict saved by save_checkpoint", f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, dict):
        raise InputError(str(p), "a state dict (mapping of tensors)", type(obj).__name__)
    if CHECKPOINT_META in obj:
        return obj["state_dict"], obj[CHECKPOINT_META]
    return obj, {}


def checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata :func:`save_checkpoint` stored with the weights; InputError if none."""
    _, meta = read_checkpoint(path)
    if not meta:
        raise InputError(
            str(path), "a self-describing checkpoint (saved with meta)", "weights only"
        )
    return meta


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike[str], *, strict: bool = True
) -> nn.Module:
    """Load weights written by :func:`save_checkpoint` (``weights_only=True``: no pickled code)."""
    state, _ = read_checkpoint(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise InputError(
            str(path), f"weights matching {type(model).__name__}", str(exc).splitlines()[0]
        ) from exc
    return model
