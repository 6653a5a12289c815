"""Compute and cache teacher logits ("soft targets") once per teacher.

Running a large teacher (interaction network on 30-150 constituents) in every student
step dominates distillation cost, and a temperature/alpha/seed sweep would repeat the same
forward passes many times. So each teacher member runs exactly once over the transfer,
val and test splits (in the workflow also ``teacher_train``, which students may learn
from: ``distillation.transfer_splits``), and the *raw* logits are cached. Temperature is **not** applied here;
it is applied by the KD loss, so one file serves a whole temperature sweep.

File layout (``R/soft_targets/{teacher}.h5``), one group per split::

    /{split}/logits         (N, K) float32  member logits (M = 1) or log of the mean member
                                            softmax probability (ensemble, M > 1)
    /{split}/member_logits  (M, N, K) float32
    /{split}/index          (N,) int64     global jet index, order of the view file
    /{split}/y              (N,) int64
    /{split}/embedding      (N, D) float32  the teacher's embedding per jet (``embeddings=True``):
                                            the input of each member's last Linear layer
                                            (JEDI-net: phi_C's last hidden layer, computed
                                            from the pooled objects), members concatenated
    attrs: n_members, n_classes, splits (JSON), temperature_applied = False,
           embedding_dim (0 without embeddings),
           views (JSON of distillation.views; only with view_logits)
    /{split}/view_logits    (V, N, K) float32  optional: the teacher's logits of V augmented
                                            views of each jet (jetdistill.data.augment), combined
                                            over members like ``logits``; same jet order

The embedding is what a feature loss (``hint``) regresses the student onto; it comes from the
same forward pass as the logits (a forward pre-hook), so caching it costs no extra teacher run.
Readers of ``logits`` / ``member_logits`` never see the views, so a file with or without
them serves every existing job.

For an ensemble, ``log(mean_m softmax(z_m))`` is a valid logit vector (softmax of it gives
back the mean probability), so the KD loss can treat ensembles and single teachers alike.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from jetdistill.errors import InputError
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

#: Splits a distillation job needs; others are accepted and cached as well.
DEFAULT_SPLITS: tuple[str, ...] = ("transfer", "val", "test")


def ensemble_logits(member_logits: np.ndarray) -> np.ndarray:
    """Combine (M, N, K) member logits into (N, K) teacher logits.

    One member: its logits unchanged (so the file holds exactly what the teacher
    outputs). Several: the log of the mean member probability, computed with
    log-sum-exp of the members' log-softmax (stable for confident members).
    """
    if member_logits.ndim != 3 or member_logits.shape[0] < 1:
        raise InputError(
            "member_logits", "an array of shape (M >= 1, N, K)", str(member_logits.shape)
        )
    if member_logits.shape[0] == 1:
        return member_logits[0].astype(np.float32, copy=True)
    z = torch.from_numpy(np.asarray(member_logits, dtype=np.float64))
    log_p = torch.log_softmax(z, dim=-1)
    mean_log_p = torch.logsumexp(log_p, dim=0) - np.log(z.shape[0])
    return mean_log_p.numpy().astype(np.float32)


@torch.no_grad()
def _predict(
    model: nn.Module, x: Any, batch_size: int, embeddings: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits of ``model`` over ``x`` (array-like, sliced in batches) in eval mode, and with
    ``embeddings`` the input of its last Linear layer from the same forward passes."""
    from jetdistill.learn.training import FeatureCapture

    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    out, emb = [], []
    capture = FeatureCapture(model) if embeddings else None
    try:
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(
                np.asarray(x[start : start + batch_size], dtype=np.float32), device=device
            )
            out.append(model(xb).detach().float().cpu().numpy())
            if capture is not None:
                emb.append(capture.take().detach().float().cpu().numpy())
    finally:
        if capture is not None:
            capture.close()
    if not out:
        raise InputError("soft-target inputs", "at least one sample", "0")
    return np.concatenate(out, axis=0), (np.concatenate(emb, axis=0) if embeddings else None)


def _check_split(name: str, x: Any, y: Any, index: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.int64)
    idx_arr = np.asarray(index, dtype=np.int64)
    n = len(x)
    if y_arr.shape != (n,) or idx_arr.shape != (n,):
        raise InputError(
            f"split {name!r}",
            f"X, y and index of equal length {n}",
            f"y {y_arr.shape}, index {idx_arr.shape}",
        )
    if n == 0:
        raise InputError(f"split {name!r}", "at least one jet", "0")
    return y_arr, idx_arr


Member = nn.Module | tuple[nn.Module, str]
SplitData = tuple[Any, Any, Any]


def _member_inputs(
    name: str, split: SplitData | Mapping[str, SplitData], view: str | None, m: int
) -> SplitData:
    """The ``(X, y, index)`` member ``m`` (reading ``view``) runs on in split ``name``."""
    if isinstance(split, tuple):
        return split
    if view is None:
        if len(split) != 1:
            raise InputError(
                f"compute_soft_targets: member {m}",
                f"a (model, view) pair: split {name!r} has views {sorted(split)}",
                "a bare model",
            )
        return next(iter(split.values()))
    if view not in split:
        raise InputError(
            f"compute_soft_targets: splits[{name!r}]",
            f"view {view!r} of member {m}",
            str(sorted(split)),
        )
    return split[view]


def compute_soft_targets(
    member_models: Sequence[Member],
    splits: Mapping[str, SplitData | Mapping[str, SplitData]],
    out_path: str | os.PathLike[str],
    batch_size: int = 256,
    *,
    embeddings: bool = True,
    views: Mapping[str, Any] | None = None,
    views_attrs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every teacher member once over each split and cache the logits in HDF5.

    ``splits`` maps split name -> ``(X, y, index)`` from the teacher's view file (X may
    be an h5py dataset; it is read in batches). An ensemble whose members read different
    views passes members as ``(model, view)`` pairs and ``splits[name]`` as
    ``{view: (X, y, index)}``; every view of a split must hold the same jets in the same
    order (checked on ``index`` and ``y``). The default batch of 256 is deliberate: the
    interaction network's (B, C*(C-1), .) edge tensors fall out of CPU cache for larger
    batches (measured 9.2k jets/s at 256 vs 1.7k at 4096, 1 thread). ``embeddings``: also
    cache ``/{split}/embedding`` (module docstring). The file is written atomically. Returns
    a small summary (members, per-split jets and teacher accuracy).

    ``views``: split name -> the augmented inputs of that split, ``X (V, N, ...)`` in the
    split's jet order (or ``{view: X}`` like ``splits``); the teacher's logits of each view
    are cached as ``view_logits`` and ``views_attrs`` (the views config) is recorded.
    """
    if len(member_models) == 0:
        raise InputError("compute_soft_targets: member_models", "at least one teacher member", "0")
    if not splits:
        raise InputError(
            "compute_soft_targets: splits", f"split groups such as {list(DEFAULT_SPLITS)}", "none"
        )
    if batch_size < 1:
        raise InputError("compute_soft_targets: batch_size", "an integer >= 1", repr(batch_size))
    members = [mm if isinstance(mm, tuple) else (mm, None) for mm in member_models]

    checked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    results: dict[str, np.ndarray] = {}
    embedded: dict[str, np.ndarray] = {}
    n_classes: int | None = None
    for name, split in splits.items():
        per_member, per_member_emb = [], []
        for m, (model, view) in enumerate(members):
            x, y, idx = _member_inputs(name, split, view, m)
            y_arr, idx_arr = _check_split(name, x, y, idx)
            if name not in checked:
                checked[name] = (y_arr, idx_arr)
            elif not (
                np.array_equal(checked[name][1], idx_arr)
                and np.array_equal(checked[name][0], y_arr)
            ):
                raise InputError(
                    f"compute_soft_targets: split {name!r}, view {view!r}",
                    "the same jets (index and y) as the other members' views",
                    "a different jet order",
                )
            logits, emb = _predict(model, x, batch_size, embeddings)
            if logits.ndim != 2 or (n_classes is not None and logits.shape[1] != n_classes):
                raise InputError(
                    f"teacher member {m} on split {name!r}",
                    f"logits of shape (N, {n_classes or 'K'})",
                    str(logits.shape),
                )
            if not np.isfinite(logits).all():
                raise InputError(
                    f"teacher member {m} on split {name!r}", "finite logits", "NaN/inf"
                )
            n_classes = logits.shape[1]
            per_member.append(logits)
            if emb is not None:
                per_member_emb.append(emb)
        results[name] = np.stack(per_member, axis=0).astype(np.float32)
        if embeddings:
            embedded[name] = np.concatenate(per_member_emb, axis=1).astype(np.float32)

    view_results: dict[str, np.ndarray] = {}
    for name, split_views in (views or {}).items():
        if name not in checked:
            raise InputError(f"compute_soft_targets: views[{name!r}]", f"a split among {list(checked)}",
                             "a split without soft targets")  # fmt: skip
        per_view = []
        xs = [_member_view(split_views, view, m) for m, (_, view) in enumerate(members)]
        n_views = len(xs[0])
        for v in range(n_views):
            z = np.stack(
                [_predict(model, xs[m][v], batch_size)[0] for m, (model, _) in enumerate(members)]
            )
            if z.shape[1:] != (len(checked[name][0]), n_classes) or not np.isfinite(z).all():
                raise InputError(f"teacher on view {v} of split {name!r}",
                                 f"finite logits of shape (N, {n_classes})", str(z.shape))  # fmt: skip
            per_view.append(ensemble_logits(z.astype(np.float32)))
        view_results[name] = np.stack(per_view)

    summary: dict[str, Any] = {
        "n_members": len(member_models),
        "n_classes": n_classes,
        "embedding_dim": int(next(iter(embedded.values())).shape[1]) if embedded else 0,
        "splits": {},
    }
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["n_members"] = len(member_models)
        f.attrs["n_classes"] = int(n_classes or 0)
        f.attrs["splits"] = json.dumps(list(splits))
        f.attrs["temperature_applied"] = False
        f.attrs["embedding_dim"] = int(next(iter(embedded.values())).shape[1]) if embedded else 0
        for name, members in results.items():
            y_arr, idx_arr = checked[name]
            logits = ensemble_logits(members)
            g = f.create_group(name)
            g.create_dataset("logits", data=logits)
            g.create_dataset("member_logits", data=members)
            g.create_dataset("index", data=idx_arr)
            g.create_dataset("y", data=y_arr)
            if name in embedded:
                g.create_dataset("embedding", data=embedded[name])
            acc = float((logits.argmax(axis=1) == y_arr).mean())
            summary["splits"][name] = {"n": len(y_arr), "accuracy": acc}
            if name in view_results:
                g.create_dataset("view_logits", data=view_results[name])
                view_acc = (view_results[name].argmax(axis=2) == y_arr[None]).mean(axis=1)
                summary["splits"][name]["view_accuracy"] = [float(a) for a in view_acc]
                log.info("soft targets %s: %d views, teacher accuracy %s", name,
                         len(view_acc), np.round(view_acc, 4).tolist())  # fmt: skip
        if view_results:
            f.attrs["views"] = json.dumps(dict(views_attrs or {}), sort_keys=True)
            log.info("soft targets %s: %d jets, teacher accuracy %.4f", name, len(y_arr), acc)
    return summary


def _aligned_group(p: Path, f: h5py.File, split: str, expected_index: Any, datasets: Sequence[str]):
    """The split's group, its ``datasets`` present and its jet index equal to ``expected_index``."""
    if split not in f:
        raise InputError(
            f"{p}:/{split}", f"a split group (file has {sorted(f.keys())})", "missing group"
        )
    g = f[split]
    for ds in ("index", *datasets):
        if ds not in g:
            hint = (
                " (a teacher cached before embeddings were: rerun compute_soft_targets)"
                if ds == "embedding"
                else ""
            )
            raise InputError(f"{p}:/{split}/{ds}", "a dataset" + hint, "missing")
    index = g["index"][()]
    exp = np.asarray(expected_index, dtype=np.int64)
    if exp.shape != index.shape:
        raise InputError(
            f"{p}:/{split}/index",
            f"the student's jet index ({exp.shape[0] if exp.ndim else exp} jets)",
            f"{index.shape[0]} jets in the cache: teacher and student views do not align",
        )
    bad = np.flatnonzero(index != exp)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{p}:/{split}/index",
            "the same global jet order as the student's view",
            f"{bad.size} mismatching rows, first at row {i} (cache {int(index[i])}, student {int(exp[i])})",
        )
    return g


def _open(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(
            str(p), "a soft-target HDF5 file (run compute_soft_targets first)", "missing file"
        )
    return p


def _member_view(split_views: Any, view: str | None, m: int) -> Any:
    """The augmented inputs (V, N, ...) member ``m`` (reading ``view``) runs on."""
    if not isinstance(split_views, Mapping):
        return split_views
    if view is None and len(split_views) == 1:
        return next(iter(split_views.values()))
    if view not in split_views:
        raise InputError(f"compute_soft_targets: views, member {m}", f"augmented inputs of view {view!r}",
                         str(sorted(split_views)))  # fmt: skip
    return split_views[view]


def load_view_logits(
    path: str | os.PathLike[str], split: str, expected_index: Any, views: Mapping[str, Any]
) -> np.ndarray:
    """The teacher's logits of the augmented views of ``split``, (V, N, K), checked to be
    the views the student reads: same jets (``expected_index``) and same ``views`` settings
    (transforms, seed, ...), since a student paired with logits of other transforms would
    learn inconsistent targets without any error."""
    load_soft_targets(path, split, expected_index)  # the jet order check
    with h5py.File(path, "r") as f:
        g = f[split]
        if "view_logits" not in g:
            raise InputError(f"{path}:/{split}/view_logits", "the teacher's logits of augmented views "
                             "(distillation.views.k > 0 when compute_soft_targets ran)", "missing")  # fmt: skip
        cached = json.loads(f.attrs.get("views", "{}"))
        if cached != json.loads(json.dumps(dict(views), sort_keys=True)):
            raise InputError(
                f"{path}: attrs views", f"the student's views {dict(views)}", str(cached)
            )
        return g["view_logits"][()]


def load_soft_targets(
    path: str | os.PathLike[str], split: str, expected_index: Any, *, members: bool = False
) -> np.ndarray:
    """Teacher logits for ``split``, checked to align jet-for-jet with ``expected_index``.

    The student's view file and the teacher's cache come from different view files; if
    their jet order differed, the student would be trained towards another jet's soft
    targets without any error. So the global jet index must match exactly.
    ``members=True`` returns the (M, N, K) member logits instead.
    """
    p = _open(path)
    with h5py.File(p, "r") as f:
        g = _aligned_group(p, f, split, expected_index, ("logits", "member_logits"))
        return g["member_logits"][()] if members else g["logits"][()]


def load_embedding(path: str | os.PathLike[str], split: str, expected_index: Any) -> np.ndarray:
    """The teacher's cached embedding ``(N, D)`` for ``split``, aligned like
    :func:`load_soft_targets` (what a feature loss regresses the student onto)."""
    p = _open(path)
    with h5py.File(p, "r") as f:
        return _aligned_group(p, f, split, expected_index, ("embedding",))["embedding"][()]


def write_combined_soft_targets(
    out_path: str | os.PathLike[str],
    splits: Mapping[str, Mapping[str, np.ndarray]],
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write soft targets that are not one forward pass per member (the specialists'
    combination) in this module's layout, so every reader treats them like a teacher's.

    ``splits[name]`` holds ``logits`` (N, K), ``index``, ``y`` and optionally ``embedding``
    and any further (N, ...) arrays kept for inspection (``generalist_logits``, ``active``).
    The file is one "member": ``member_logits`` is ``logits[None]``. Written atomically."""
    if not splits:
        raise InputError("write_combined_soft_targets: splits", "at least one split", "none")
    first = next(iter(splits.values()))
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["n_members"] = 1
        f.attrs["n_classes"] = int(first["logits"].shape[1])
        f.attrs["splits"] = json.dumps(list(splits))
        f.attrs["temperature_applied"] = False
        f.attrs["embedding_dim"] = int(first["embedding"].shape[1]) if "embedding" in first else 0
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        for name, data in splits.items():
            logits = np.asarray(data["logits"], dtype=np.float32)
            n = len(logits)
            g = f.create_group(name)
            g.create_dataset("logits", data=logits)
            g.create_dataset("member_logits", data=logits[None])
            for key, value in data.items():
                if key in ("logits", "member_logits"):
                    continue
                arr = np.asarray(value)
                if arr.shape[:1] != (n,):
                    raise InputError(f"{name}/{key}", f"{n} rows", str(arr.shape))
                g.create_dataset(key, data=arr)
