"""Classification, HEP-style ROC and teacher-fidelity metrics, plus their plots.

Metric names are the ones of docs/ARCHITECTURE.md (identical in every run):
``{prefix}accuracy``, ``{prefix}recall_{class}`` (per-class accuracy: the fraction of that
class's samples predicted as that class), ``{prefix}auc_{class}``, ``{prefix}auc_mean``,
``{prefix}rej50_{class}``, ``{prefix}rej30_{class}``, ``{prefix}agreement``,
``{prefix}kl_teacher``.

Per-class accuracy is what shows a class the student never saw in its transfer set
(``data.splits.exclude_from_transfer``): the overall accuracy hides it.

Per class the discriminant is that class's softmax probability, one-vs-rest (as in the
hls4ml jet-tagging papers). Background rejection is ``1/eps_B`` at a fixed signal
efficiency ``eps_S``, with ``eps_B`` linearly interpolated on the ROC.

Convention when no background passes (``eps_B = 0`` at the working point): ``eps_B`` is
floored at ``1 / N_background``, so the rejection is reported as ``N_background`` -- the
largest rejection the sample can resolve, i.e. a finite lower bound, never ``inf``
(MLflow and JSON handle it, and averages over seeds stay finite). A class with no
signal or no background sample gets NaN for its AUC and rejections.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from jetdistill.errors import InputError
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

#: Signal efficiencies of the reported rejections: metric suffix -> eps_S.
WORKING_POINTS: dict[str, float] = {"rej50": 0.5, "rej30": 0.3}


# --------------------------------------------------------------------------- helpers


def _as_logits(logits: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(logits, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise InputError(where, "logits of shape (N, K) with K >= 2", str(a.shape))
    if not np.all(np.isfinite(a)):
        raise InputError(
            where, "finite logits", f"{int((~np.isfinite(a)).sum())} non-finite values"
        )
    return a


def _as_labels(y: np.ndarray, n: int, k: int, where: str) -> np.ndarray:
    a = np.asarray(y)
    if a.shape != (n,):
        raise InputError(where, f"labels of shape ({n},)", str(a.shape))
    if a.size and (a.min() < 0 or a.max() >= k):
        raise InputError(where, f"integer labels in [0, {k})", f"range [{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def class_roc(probs: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest ROC of class ``k``: ``(eps_S, eps_B)`` arrays, from (0,0) to (1,1).

    All thresholds are kept (no ``drop_intermediate``) so interpolation is exact on the
    step points.
    """
    fpr, tpr, _ = roc_curve((y == k).astype(np.int64), probs[:, k], drop_intermediate=False)
    return tpr, fpr


def rejection_at(eps_s: np.ndarray, eps_b: np.ndarray, target: float, n_background: int) -> float:
    """``1/eps_B`` at signal efficiency ``target``, ``eps_B`` linearly interpolated on the ROC.

    Where the ROC is vertical (several ``eps_B`` at the same ``eps_S``) the smallest
    ``eps_B`` is used, i.e. the best threshold reaching that efficiency; between ROC points the
    straight segment joining them is used. ``eps_B`` is floored
    at ``1/n_background`` (see the module docstring).
    """
    if n_background <= 0:
        return float("nan")
    # ROC points are ordered by decreasing threshold: eps_S and eps_B are both non-decreasing.
    i = int(np.searchsorted(eps_s, target, side="left"))  # first point with eps_S >= target
    if i >= len(eps_s):
        return float("nan")
    if eps_s[i] == target or i == 0:
        eb = float(eps_b[i])  # first such point = smallest eps_B reaching the target
    else:  # on the straight segment between consecutive ROC points i-1 and i
        frac = (target - eps_s[i - 1]) / (eps_s[i] - eps_s[i - 1])
        eb = float(eps_b[i - 1] + frac * (eps_b[i] - eps_b[i - 1]))
    eb = max(eb, 1.0 / n_background)
    return 1.0 / eb


# --------------------------------------------------------------------------- metrics


def classification_metrics(
    logits: np.ndarray, y: np.ndarray, class_names: Sequence[str], prefix: str = "test_"
) -> dict[str, float]:
    """Accuracy, per-class accuracy (recall), per-class one-vs-rest AUC, their mean, and
    rejections at 50% / 30% efficiency. A class without test samples has NaN recall."""
    z = _as_logits(logits, f"{prefix}logits")
    k = z.shape[1]
    if len(class_names) != k:
        raise InputError("class_names", f"{k} names (one per logit column)", str(len(class_names)))
    labels = _as_labels(y, z.shape[0], k, f"{prefix}labels")
    if labels.size == 0:
        raise InputError(f"{prefix}labels", "at least one sample", "0")
    probs = softmax(z)
    pred = z.argmax(1)
    out: dict[str, float] = {f"{prefix}accuracy": float(np.mean(pred == labels))}
    out.update(per_class_accuracy(pred, labels, class_names, prefix))
    aucs = []
    for c, name in enumerate(class_names):
        is_sig = labels == c
        n_sig, n_bkg = int(is_sig.sum()), int((~is_sig).sum())
        if n_sig == 0 or n_bkg == 0:
            log.warning(
                "class %s has %d signal / %d background samples: AUC and rejection are NaN",
                name,
                n_sig,
                n_bkg,
            )
            out[f"{prefix}auc_{name}"] = float("nan")
            for key in WORKING_POINTS:
                out[f"{prefix}{key}_{name}"] = float("nan")
            continue
        auc = float(roc_auc_score(is_sig.astype(np.int64), probs[:, c]))
        out[f"{prefix}auc_{name}"] = auc
        aucs.append(auc)
        eps_s, eps_b = class_roc(probs, labels, c)
        for key, target in WORKING_POINTS.items():
            out[f"{prefix}{key}_{name}"] = rejection_at(eps_s, eps_b, target, n_bkg)
    out[f"{prefix}auc_mean"] = float(np.mean(aucs)) if aucs else float("nan")
    return out


def per_class_accuracy(
    pred: np.ndarray, labels: np.ndarray, class_names: Sequence[str], prefix: str = "test_"
) -> dict[str, float]:
    """``{prefix}recall_{class}``: fraction of each class's samples predicted as that class
    (NaN for a class without samples)."""
    out: dict[str, float] = {}
    for c, name in enumerate(class_names):
        is_c = labels == c
        out[f"{prefix}recall_{name}"] = float(np.mean(pred[is_c] == c)) if is_c.any() else math.nan
    return out


def confusion_matrix(
    logits: np.ndarray, y: np.ndarray, n_classes: int, *, normalize: bool = False
) -> np.ndarray:
    """``cm[true, predicted]`` counts (int64), or row-normalised fractions (rows without samples are 0)."""
    z = np.asarray(logits)
    if z.ndim != 2 or z.shape[1] != n_classes:
        raise InputError("confusion_matrix logits", f"shape (N, {n_classes})", str(z.shape))
    labels = _as_labels(y, z.shape[0], n_classes, "confusion_matrix labels")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels, z.argmax(1)), 1)
    if not normalize:
        return cm
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)


def _fidelity_pair(
    student_logits: np.ndarray, teacher_logits: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray]:
    s = _as_logits(student_logits, f"{where}student_logits")
    t = _as_logits(teacher_logits, f"{where}teacher_logits")
    if s.shape != t.shape:
        raise InputError(f"{where}teacher_logits", f"the student's shape {s.shape}", str(t.shape))
    if s.shape[0] == 0:
        raise InputError(f"{where}student_logits", "at least one sample", "0")
    return s, t


def teacher_agreement(student_logits: np.ndarray, teacher_logits: np.ndarray) -> float:
    """Top-1 agreement: the fraction of samples whose argmax class is the teacher's.

    Stanton et al. (2021, arXiv:2106.05945) measure distillation by it, apart from
    accuracy: a student can gain accuracy while matching its teacher poorly. Ties go to the
    first maximal class on both sides (``argmax``).
    """
    s, t = _fidelity_pair(student_logits, teacher_logits, "teacher_agreement ")
    return float(np.mean(s.argmax(1) == t.argmax(1)))


def teacher_kl(
    student_logits: np.ndarray, teacher_logits: np.ndarray, temperature: float = 1.0
) -> float:
    """Mean over samples of ``KL(softmax(t/T) || softmax(s/T))`` in nats (Stanton et al.'s
    predictive KL), from log-softmax on both sides (a confident teacher's zero probabilities
    give finite values). No ``T^2`` factor: a metric, not a loss; ``T = 1`` compares the
    models' actual predictive distributions.
    """
    if isinstance(temperature, bool) or not (
        isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0
    ):
        raise InputError("teacher_kl temperature", "a finite number > 0", repr(temperature))
    s, t = _fidelity_pair(student_logits, teacher_logits, "teacher_kl ")
    log_p, log_q = log_softmax(t / temperature), log_softmax(s / temperature)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1)))


def fidelity_metrics(
    student_logits: np.ndarray, teacher_logits: np.ndarray, prefix: str = "test_"
) -> dict[str, float]:
    """How well the student matches the teacher (Stanton et al. 2021, arXiv:2106.05945).

    ``{prefix}agreement``: :func:`teacher_agreement`; ``{prefix}kl_teacher``:
    :func:`teacher_kl` at temperature 1 (nats). The prefix names the jets: ``test_`` for the
    test set, ``train_`` for the student's own transfer jets (Stanton et al.'s gap between
    the two is the part of distillation that is an optimisation problem).
    """
    s, t = _fidelity_pair(student_logits, teacher_logits, prefix)
    return {
        f"{prefix}agreement": teacher_agreement(s, t),
        f"{prefix}kl_teacher": teacher_kl(s, t),
    }


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    path: str | os.PathLike[str],
) -> None:
    """HEP-style ROC: x = signal efficiency, y = background rejection 1/eps_B (log), one panel per class.

    ``curves`` maps a legend label (e.g. ``"teacher"``, ``"mlp16 KD"``) to ``(logits, y)``.
    Points with ``eps_B = 0`` (infinite rejection) are dropped.
    """
    plt = _pyplot()
    n = len(class_names)
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    for label, (logits, y) in curves.items():
        z = _as_logits(logits, f"plot_roc[{label}]")
        labels = _as_labels(y, z.shape[0], z.shape[1], f"plot_roc[{label}] labels")
        probs = softmax(z)
        for c, name in enumerate(class_names):
            if not (labels == c).any() or (labels == c).all():
                continue
            eps_s, eps_b = class_roc(probs, labels, c)
            keep = eps_b > 0
            auc = roc_auc_score((labels == c).astype(np.int64), probs[:, c])
            axes.flat[c].plot(eps_s[keep], 1.0 / eps_b[keep], label=f"{label} (AUC {auc:.3f})")
    for c, name in enumerate(class_names):
        ax = axes.flat[c]
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel(f"signal efficiency ({name})")
        ax.set_ylabel("background rejection 1/$\\epsilon_B$")
        ax.set_title(f"{name} vs rest")
        ax.grid(True, which="both", alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def plot_confusion(
    cm: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str]
) -> None:
    """Confusion matrix heat map (rows = true class); cells annotated with their value."""
    plt = _pyplot()
    cm = np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise InputError("plot_confusion cm", f"shape ({k}, {k})", str(cm.shape))
    fig, ax = plt.subplots(figsize=(1.1 * k + 2, 1.0 * k + 1.5))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    is_int = np.issubdtype(cm.dtype, np.integer)
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            txt = f"{cm[i, j]:d}" if is_int else f"{cm[i, j]:.2f}"
            ax.text(
                j,
                i,
                txt,
                ha="center",
                va="center",
                color="white" if cm[i, j] > thresh else "black",
                fontsize=8,
            )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
