"""What a student learns from: the jets of a view (:class:`Split`), the teacher logits it
trains on and is measured against (:class:`KDSetup`), the unlabelled transfer jets appended
to them, and the per-input gains a quantised twin reads its inputs through.

Plain paths and settings in, arrays out: the student jobs (:mod:`jetdistill.jobs`) pass the
files their rule declares.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- jets
@dataclass
class Split:
    """One split of a view: inputs, labels, global jet indices and the file's attributes."""

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    attrs: dict
    #: augmented copies of ``X`` (V, N, ...) drawn per jet per epoch in training (or None)
    views: np.ndarray | None = None

    @property
    def class_names(self) -> list[str]:
        return list(self.attrs["class_names"])

    def subset(self, rows: np.ndarray) -> Split:
        views = None if self.views is None else self.views[:, rows]
        return Split(self.X[rows], self.y[rows], self.index[rows], self.attrs, views)

    def batches(self, teacher_logits: np.ndarray | None = None, features: np.ndarray | None = None,
                view_logits: np.ndarray | None = None):  # fmt: skip
        """Training batches; with ``views`` a consistent view per jet per epoch
        (:class:`jetdistill.learn.training.ViewBatches`, ``view_logits`` the teacher's)."""
        from jetdistill.errors import InputError
        from jetdistill.learn.training import Batches, ViewBatches

        base = Batches.from_numpy(self.X, self.y, teacher_logits, features)
        if self.views is None:
            return base
        if features is not None:
            raise InputError("distillation.views", "a logit loss (a feature loss such as hint "
                             "reads the teacher's embedding of the original jets only)", "a feature loss")  # fmt: skip
        return ViewBatches.from_views(base, self.views, view_logits)


def load_split(path: str) -> Split:
    from jetdistill.data.prepare import load_split as load

    X, y, index, attrs = load(path)
    return Split(X, y, index, attrs)


def concat_splits(parts: Sequence[Split]) -> Split:
    """One training set from several splits of a view, rows in the order given (the
    attributes, class names included, are the first split's: every split of a view has
    the same)."""
    if len(parts) == 1:
        return parts[0]
    return Split(np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]),
                 np.concatenate([p.index for p in parts]), parts[0].attrs)  # fmt: skip


# --------------------------------------------------------------------------- teacher logits
@dataclass(frozen=True)
class KDSetup:
    """What a student job takes from its teacher: the loss, the soft targets it trains on
    and the teacher logits its fidelity is measured against.

    ``t_train`` / ``t_val`` are ``None`` for a solo student (it trains on labels only),
    while ``fidelity_train`` / ``fidelity_test`` always exist: a solo student is compared
    with the ``fidelity`` teacher on the same jets, so its agreement is the baseline a KD
    student's is read against (Stanton et al. 2021, arXiv:2106.05945).
    """

    loss_fn: Any
    t_train: np.ndarray | None
    t_val: np.ndarray | None
    fidelity_train: np.ndarray
    fidelity_test: np.ndarray
    #: the teacher's cached embeddings, for a feature loss (``hint``) only
    f_train: np.ndarray | None = None
    f_val: np.ndarray | None = None
    #: the teacher's logits of the augmented views of the transfer jets (V, N, K), or None
    tv_train: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> KDSetup:
        """The same set-up on the transfer rows ``rows`` (a learning-curve fraction)."""

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return KDSetup(self.loss_fn, take(self.t_train), self.t_val, self.fidelity_train[rows],
                       self.fidelity_test, take(self.f_train), self.f_val,
                       None if self.tv_train is None else self.tv_train[:, rows])  # fmt: skip

    def extend(self, t_extra: np.ndarray | None, fidelity_extra: np.ndarray) -> KDSetup:
        """The same set-up with jets appended to the training set (the unlabelled transfer
        jets): their teacher logits to train on (KD) and to measure fidelity against."""
        t = None if self.t_train is None else np.concatenate([self.t_train, t_extra])
        return KDSetup(self.loss_fn, t, self.t_val,
                       np.concatenate([self.fidelity_train, fidelity_extra]), self.fidelity_test)  # fmt: skip


def kd_setup(kd: dict | None, train: Split, val: Split, test: Split, *, targets: str,
             label_smoothing: float, parts: Mapping[str, Split] | None = None,
             model: Any = None) -> KDSetup:  # fmt: skip
    """The loss and the teacher logits of a student job (:class:`KDSetup`).

    ``targets`` is the soft-target cache the job reads: with ``kd`` (the KD settings,
    :func:`jetdistill.plan.kd_settings`) its teacher's (a student job's input
    ``soft_targets``), whose logits on each split are the soft targets and also the
    fidelity reference; without, the ``fidelity`` teacher's, and the set-up is cross
    entropy, no targets to train on, and that teacher's training and test logits (agreement
    and KL of a solo student are measured against the fidelity teacher). Float and QAT
    students share it, so a KD student is set up the same way in both. ``train`` is the
    union of ``parts`` (split name -> split, in order; default ``{"transfer": train}``),
    whose teacher logits are read split by split, each checked jet for jet. A feature loss
    (``hint``) also gets the teacher's cached embeddings of the training and val jets, and
    its projector is sized from ``model``'s representation (so build and seed the model first).
    """
    from jetdistill.learn.losses import LOSSES, build_loss
    from jetdistill.learn.softtargets import load_embedding, load_soft_targets

    parts = dict(parts or {"transfer": train})

    def on_train(path: str) -> np.ndarray:
        return np.concatenate([load_soft_targets(path, n, p.index) for n, p in parts.items()])

    if not kd:
        f_train, f_test = on_train(targets), load_soft_targets(targets, "test", test.index)
        return KDSetup(
            build_loss("ce", label_smoothing=label_smoothing), None, None, f_train, f_test
        )
    st = targets
    t_train = on_train(st)
    t_val, t_test = (load_soft_targets(st, name, split.index)
                     for name, split in (("val", val), ("test", test)))  # fmt: skip
    f_train = f_val = None
    dims = None
    if LOSSES[kd["method"]].needs_features:
        from jetdistill.errors import InputError
        from jetdistill.learn.training import representation_dim

        if model is None:
            raise InputError(f"loss {kd['method']!r}", "the student model (to size the hint projector)",
                             "none")  # fmt: skip
        f_train = np.concatenate([load_embedding(st, n, p.index) for n, p in parts.items()])
        f_val = load_embedding(st, "val", val.index)
        dims = (representation_dim(model, tuple(train.X.shape[1:])), int(f_train.shape[1]))
    loss_fn = build_loss(kd["method"], temperature=kd["temperature"], alpha=kd["alpha"],
                         params=kd["params"], label_smoothing=label_smoothing,
                         feature_dims=dims)  # fmt: skip
    tv = None
    if kd.get("views"):  # consistent views: the teacher's logits of each augmented view
        from jetdistill.learn.softtargets import load_view_logits

        tv = load_view_logits(st, "transfer", train.index, kd["views"])
    return KDSetup(loss_fn, t_train, t_val, t_train, t_test, f_train, f_val, tv)


def fidelity(model: Any, train: Split, logits: np.ndarray, setup: KDSetup) -> dict[str, float]:
    """Agreement and KL with the teacher on the jets the student trained on (``train_``)
    and on the test jets (``test_``; ``logits`` are the student's test logits).

    Stanton et al.'s gap between the two says how much of a student's mismatch with its
    teacher is optimisation (it fails to fit even the transfer jets) rather than
    generalisation."""
    from jetdistill.learn import metrics as M
    from jetdistill.learn.training import predict_logits

    out = M.fidelity_metrics(logits, setup.fidelity_test, prefix="test_")
    out.update(
        M.fidelity_metrics(predict_logits(model, train.X), setup.fidelity_train, prefix="train_")
    )
    return out


# --------------------------------------------------------------------------- unlabelled jets
def with_unlabelled(kd: dict | None, train: Split, setup: KDSetup, *, unlabelled: str | None,
                    targets: str | None = None,
                    input_gain: np.ndarray | None = None) -> tuple[Split, KDSetup]:  # fmt: skip
    """``train`` and ``setup`` with the unlabelled transfer jets of the view file
    ``unlabelled`` appended (``distillation.unlabelled``; ``None``: unchanged).

    ``targets`` is the soft-target cache of the teacher's logits on them: with ``kd`` its
    teacher's (input ``unlabelled_soft_targets``), else the fidelity teacher's (input
    ``unlabelled_fidelity``). A KD student gets the jets with the label
    :data:`jetdistill.learn.losses.UNLABELLED`, so its loss reads only the teacher's soft
    targets on them; the solo-on-all reference (no ``kd``) gets their labels, the upper
    bound of what the jets could give. Either way the teacher's logits on them join the
    fidelity reference (the jets the student trained on)."""
    from jetdistill.learn.losses import UNLABELLED
    from jetdistill.learn.softtargets import load_soft_targets

    if unlabelled is None:
        return train, setup
    u = load_split(unlabelled)
    if input_gain is not None:  # formatted like the labelled jets they join
        u = with_gain(u, input_gain)
    if kd:
        t_u = load_soft_targets(targets, "unlabelled", u.index)
        y_u, setup = np.full_like(u.y, UNLABELLED), setup.extend(t_u, t_u)
    else:
        f_u = load_soft_targets(targets, "unlabelled", u.index)
        y_u, setup = u.y, setup.extend(None, f_u)
    log.info("%d unlabelled transfer jets added to %d (%s)", len(u.y), len(train.y),
             "teacher term only" if kd else "with their labels: solo_all")  # fmt: skip
    merged = Split(np.concatenate([train.X, u.X]), np.concatenate([train.y, y_u]),
                   np.concatenate([train.index, u.index]), train.attrs)  # fmt: skip
    return merged, setup


# --------------------------------------------------------------------------- input gains
def apply_input_gain(x: np.ndarray, gain: Any) -> np.ndarray:
    """``x * gain`` in float32 (exact: the gains of
    :func:`jetdistill.compress.quant.fit_input_gain` are powers of two)."""
    return (np.asarray(x, dtype=np.float32) * np.asarray(gain, dtype=np.float32)).astype(np.float32)


def with_gain(split: Split, gain: np.ndarray) -> Split:
    """``split`` with its inputs (and augmented views) times per-input ``gain``
    (:func:`jetdistill.compress.quant.fit_input_gain`)."""
    from dataclasses import replace

    views = None if split.views is None else apply_input_gain(split.views, gain)
    return replace(split, X=apply_input_gain(split.X, gain), views=views)


# --------------------------------------------------------------------------- QAT targets
def float_student_targets(model: Any, *splits: Split, input_gain: np.ndarray | None = None,
                          where: str = "float_student_targets") -> list[np.ndarray]:  # fmt: skip
    """The float student's logits on each split: a QAT job's KD targets with
    ``compression.kd_targets: float_student`` (``model``, the student it fine-tunes from;
    ``None`` with ``compression.init: scratch``, which the config check rejects: an
    InputError at ``where``). Splits formatted with ``input_gain`` are divided by it first
    (exact: powers of two)."""
    from jetdistill.errors import InputError
    from jetdistill.learn.training import predict_logits

    if model is None:
        raise InputError(where, "input float_model (compression.kd_targets: "
                         "float_student needs compression.init: finetune)", "none")  # fmt: skip
    model.eval()
    g = None if input_gain is None else np.asarray(input_gain, dtype=np.float32)
    return [
        predict_logits(model, s.X if g is None else (s.X / g).astype(np.float32)) for s in splits
    ]


def float_agreement(model: Any, test: Split, logits: np.ndarray) -> float:
    """Fraction of test jets on which a compressed student's class is its float student's."""
    from jetdistill.learn.training import predict_logits

    model.eval()
    return float((predict_logits(model, test.X).argmax(1) == logits.argmax(1)).mean())
