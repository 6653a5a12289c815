"""Quantisation-aware training of HGQ twins, solo or distilled from the teacher.

The loss is the project's (:mod:`jetdistill.learn.losses`) so an HGQ twin and a Brevitas twin
of the same student learn the same thing: solo, cross-entropy over the labelled jets; with a
teacher, Hinton KD exactly as ``loss_hinton`` weights it,
``alpha * E_labelled[CE] + (1 - alpha) * T^2 * E_all[KL(softmax(t/T) || softmax(s/T))]``
(``alpha`` weighs the hard-label term; an unlabelled jet, label ``UNLABELLED``, enters the KL
mean only). HGQ2's layers add ``beta * EBOPs`` themselves.

Keras losses see one ``y_true``, so labels and teacher logits travel packed as
``(N, 1 + K)``: column 0 the label (-1 unlabelled), then the teacher's K logits (zeros solo).

Schedule (the JEDI-linear recipe as first run on this data): Adam with a cosine
learning rate over the epochs, ``beta`` ramped log-linearly from ``beta * beta_start_ratio``
over the first ``ramp_fraction`` of the epochs then held, and the weights kept are those of
the best validation accuracy among the epochs at full ``beta``: early stopping at a fixed
cost weight, so the kept design's EBOPs answer to the ``beta`` asked for.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jetdistill.errors import InputError
from jetdistill.learn.losses import UNLABELLED

log = logging.getLogger(__name__)


@dataclass
class HGQSettings:
    """One HGQ training: EBOPs weight ``beta``, epochs, optimiser and KD settings.

    ``temperature`` and ``alpha`` both set (with teacher logits given to :func:`fit_hgq`):
    Hinton KD; both None: solo cross-entropy.
    """

    beta: float
    epochs: int
    lr: float = 3e-3
    batch_size: int = 512
    ramp_fraction: float = 0.5
    beta_start_ratio: float = 0.01
    temperature: float | None = None
    alpha: float | None = None

    def validate(self) -> None:
        checks = (
            ("beta", self.beta >= 0, "a number >= 0"),
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("lr", self.lr > 0, "a number > 0"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("ramp_fraction", 0 <= self.ramp_fraction <= 1, "a number in [0, 1]"),
            ("beta_start_ratio", 0 < self.beta_start_ratio <= 1, "a number in (0, 1]"),
            ("temperature", self.temperature is None or self.temperature > 0, "None or > 0"),
            ("alpha", self.alpha is None or 0 <= self.alpha <= 1, "None or in [0, 1]"),
        )
        for key, ok, expected in checks:
            if not ok:
                raise InputError(f"HGQ settings {key}", expected, repr(getattr(self, key)))
        if (self.temperature is None) != (self.alpha is None):
            raise InputError("HGQ settings temperature/alpha", "both set (KD) or both None (solo)",
                             f"temperature {self.temperature!r}, alpha {self.alpha!r}")  # fmt: skip

    @property
    def distils(self) -> bool:
        return self.temperature is not None

    @property
    def ramp_epochs(self) -> int:
        """Epochs before ``beta`` is full; the last epoch is always at full ``beta``."""
        return min(round(self.epochs * self.ramp_fraction), self.epochs - 1)

    def beta_at(self, epoch: int) -> float:
        """``beta`` of an epoch: HGQ2's ``PieceWiseSchedule``, log-linear then constant."""
        from hgq.utils.sugar import PieceWiseSchedule

        n = self.ramp_epochs
        if n == 0 or self.beta == 0:
            return float(self.beta)
        sched = PieceWiseSchedule([(0, self.beta * self.beta_start_ratio, "log"), (n, self.beta, "constant")])  # fmt: skip
        return sched(epoch)

    def lr_at(self, epoch: int) -> float:
        """Cosine decay from ``lr`` towards 0 over the epochs."""
        return 0.5 * self.lr * (1 + math.cos(math.pi * epoch / self.epochs))


@dataclass
class HGQFit:
    """What :func:`fit_hgq` measured; the model holds the kept (best) weights."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    ebops: float = float("nan")
    train_wall_s: float = 0.0
    train_cpu_s: float = 0.0


def pack_targets(y: np.ndarray, teacher_logits: np.ndarray | None, n_classes: int) -> np.ndarray:
    """``(N, 1 + K)`` float32: the label (-1 unlabelled) then the teacher's logits (or zeros)."""
    y = np.asarray(y).reshape(-1)
    t = np.zeros((len(y), n_classes), np.float32) if teacher_logits is None else teacher_logits
    t = np.asarray(t, dtype=np.float32)
    if t.shape != (len(y), n_classes):
        raise InputError("fit_hgq teacher_logits", f"shape {(len(y), n_classes)}", str(t.shape))
    if np.any((y < UNLABELLED) | (y >= n_classes)):
        raise InputError("fit_hgq y", f"labels in [0, {n_classes}) or {UNLABELLED}", "others")
    return np.concatenate([y[:, None].astype(np.float32), t], axis=1)


def kd_loss_terms(y_true: Any, y_pred: Any, settings: HGQSettings) -> Any:
    """Per-jet values whose batch mean is the project's loss (see the module docstring).

    The labelled mean of CE is spread over the batch as ``CE_i * B / n_labelled`` on
    labelled rows (0 elsewhere), so Keras' mean reduction gives ``E_labelled[CE]``.
    """
    from keras import ops

    label = ops.cast(y_true[:, 0], "int32")
    labelled = ops.cast(label >= 0, y_pred.dtype)
    n_lab = ops.maximum(ops.sum(labelled), 1.0)
    batch = ops.cast(ops.shape(y_pred)[0], y_pred.dtype)
    logq = ops.log_softmax(y_pred, axis=-1)
    onehot = ops.one_hot(ops.maximum(label, 0), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    ce = -ops.sum(onehot * logq, axis=-1) * labelled * batch / n_lab
    if not settings.distils:
        return ce
    T, a = float(settings.temperature), float(settings.alpha)  # type: ignore[arg-type]
    logp_t = ops.log_softmax(y_true[:, 1:] / T, axis=-1)
    logq_t = ops.log_softmax(y_pred / T, axis=-1)
    kl = ops.sum(ops.exp(logp_t) * (logp_t - logq_t), axis=-1)
    return a * ce + (1.0 - a) * T * T * kl


def _keras_parts(settings: HGQSettings) -> tuple[Any, Any]:
    """The Keras loss and the labelled-jet accuracy metric (classes need keras imported)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import ops

    class HGQLoss(keras.losses.Loss):
        def call(self, y_true: Any, y_pred: Any) -> Any:
            return kd_loss_terms(y_true, y_pred, settings)

    class LabelledAccuracy(keras.metrics.Metric):
        """Accuracy over the labelled jets only (the packed targets' column 0 >= 0)."""

        def __init__(self, name: str = "accuracy", **kw: Any) -> None:
            super().__init__(name=name, **kw)
            self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
            label = ops.cast(y_true[:, 0], "int32")
            lab = ops.cast(label >= 0, "float32")
            hit = ops.cast(ops.argmax(y_pred, axis=-1) == label, "float32") * lab
            self.hits.assign_add(ops.sum(hit))
            self.count.assign_add(ops.sum(lab))

        def result(self) -> Any:
            return self.hits / ops.maximum(self.count, 1.0)

    return HGQLoss(name="hgq_loss"), LabelledAccuracy()


def val_accuracy(kmodel: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 4096) -> float:
    """Accuracy of the model (inference mode) over the labelled jets of ``(x, y)``."""
    y = np.asarray(y).reshape(-1)
    keep = y != UNLABELLED
    if not keep.any():
        raise InputError("fit_hgq y_val", "at least one labelled jet", "none")
    pred = np.argmax(kmodel.predict(np.asarray(x, np.float32)[keep], batch_size=batch_size, verbose=0), axis=1)  # fmt: skip
    return float(np.mean(pred == y[keep]))


def _seed(seed: int) -> None:
    """Keras (Python, NumPy and torch RNGs through it), explicitly NumPy and torch too."""
    import keras
    import torch

    keras.utils.set_random_seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit_hgq(
    kmodel: Any, x: np.ndarray, y: np.ndarray, *, teacher_logits: np.ndarray | None,
    x_val: np.ndarray, y_val: np.ndarray, settings: HGQSettings, seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> HGQFit:  # fmt: skip
    """Train ``kmodel`` in place (module docstring: loss and schedule); keep the best weights.

    ``y``: int labels, -1 for unlabelled jets (they need ``teacher_logits``: a solo fit
    learns from labelled jets only). ``on_epoch(epoch, row)`` sees each history row.
    """
    settings.validate()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from hgq.utils.sugar import BetaScheduler, FreeEBOPs

    from jetdistill.compress.hgq_models import ebops

    n_classes = int(kmodel.outputs[0].shape[-1])
    if settings.distils and teacher_logits is None:
        raise InputError("fit_hgq teacher_logits", "teacher logits (temperature/alpha are set)", "None")  # fmt: skip
    if not settings.distils:
        teacher_logits = None
        if not np.any(np.asarray(y) != UNLABELLED):
            raise InputError("fit_hgq y", "labelled jets for a solo fit", "only unlabelled")
    if not np.any(np.asarray(y_val) != UNLABELLED):
        raise InputError("fit_hgq y_val", "labelled validation jets (they pick the epoch)", "none")
    targets = pack_targets(y, teacher_logits, n_classes)
    x = np.asarray(x, dtype=np.float32)
    if len(x) != len(targets):
        raise InputError("fit_hgq x", f"{len(targets)} jets as in y", str(len(x)))
    _seed(seed)
    loss, metric = _keras_parts(settings)
    kmodel.compile(optimizer=keras.optimizers.Adam(settings.lr), loss=loss, metrics=[metric])
    fit = HGQFit()
    full_from = settings.ramp_epochs
    kept: list[Any] = []

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            row = {"epoch": epoch, "loss": float(logs.get("loss", float("nan"))),
                   "accuracy": float(logs.get("accuracy", float("nan"))),
                   "val_accuracy": val_accuracy(kmodel, x_val, y_val),
                   "ebops": float(logs.get("ebops", 0)), "beta": settings.beta_at(epoch),
                   "lr": settings.lr_at(epoch)}  # fmt: skip
            fit.history.append(row)
            log.info("epoch %d: beta %.2e lr %.2e loss %.4f acc %.4f val_acc %.4f ebops %.0f",
                     epoch, row["beta"], row["lr"], row["loss"], row["accuracy"],
                     row["val_accuracy"], row["ebops"])  # fmt: skip
            if epoch >= full_from and row["val_accuracy"] > fit.best_val_accuracy:
                fit.best_epoch, fit.best_val_accuracy = epoch, row["val_accuracy"]
                kept[:] = [w.copy() for w in kmodel.get_weights()]
            if on_epoch is not None:
                on_epoch(epoch, row)

    fit.best_val_accuracy = -1.0
    t0, c0 = time.perf_counter(), time.process_time()
    kmodel.fit(
        x, targets, batch_size=settings.batch_size, epochs=settings.epochs, shuffle=True, verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(settings.lr_at),
                   BetaScheduler(settings.beta_at), FreeEBOPs(), Keep(),
                   keras.callbacks.TerminateOnNaN()],
    )  # fmt: skip
    fit.train_wall_s, fit.train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    if kept:
        kmodel.set_weights(kept)
    fit.ebops = ebops(kmodel)
    log.info("HGQ fit: kept epoch %d (val acc %.4f, %.0f EBOPs), %.1f s wall, %.1f s CPU",
             fit.best_epoch, fit.best_val_accuracy, fit.ebops, fit.train_wall_s, fit.train_cpu_s)  # fmt: skip
    return fit
