"""Specialist models (Hinton, Vinyals & Dean 2015, section 5): what a generalist confuses,
specialists for it, and the one distribution that agrees with all of them.

Why: a generalist teacher spends most of its errors on a few class pairs (here light quark vs
gluon, W vs Z). A specialist, a copy of the generalist whose output layer only distinguishes
its group's classes from a *dustbin* (every other class merged), trained briefly on data
enriched in its group, sharpens exactly those decisions; trained from the generalist's
weights, it costs a few epochs, and specialists train in parallel. The pieces, each pure:

- :func:`confusion_groups`: greedy clustering of the generalist's symmetrised, row-normalised
  validation confusion into disjoint class groups (Hinton cluster the covariance of the
  generalist's predictions; with 5 classes the confusion matrix says the same thing directly).
- :func:`specialist_targets` / :func:`enriched_rows`: the specialist's labels (group classes
  ``0..G-1``, dustbin ``G``) and its training rows: every jet of the group plus as many drawn
  at random from the rest ("half its examples from its special subset", section 5.1).
- :func:`init_specialist`: the generalist's weights, output layer remapped (group rows copied,
  the dustbin row the mean of the other rows, its bias + log of their number).
- :func:`dustbin_prior_shift`: the correction of the dustbin logit for the enrichment
  ("incrementing the logit of the dustbin class by the log of the proportion by which the
  specialist class is oversampled").
- :func:`combine`: section 5.3's inference. For each jet, the full distribution ``q =
  softmax(z)`` minimising ``KL(p_g || q) + sum_m KL(p_m || P_m q)`` over the active
  specialists ``m``, where ``P_m q`` is ``q`` on the group's classes plus the dustbin mass
  ``sum_{c not in group} q_c``; solved for all jets at once
  (the objective is a sum over jets, so one batched optimisation solves every jet): by EM,
  the objective being convex in ``q`` (a multinomial likelihood with coarsened dustbin
  observations), or by gradient descent (Adam) on ``z`` as a cross-check.
  A specialist is active for a jet when its group meets the generalist's ``active_top`` most
  probable classes (Hinton's "active set").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- groups


def confusion_rates(cm: np.ndarray) -> np.ndarray:
    """Symmetrised confusion rates ``S[i, j] = C[i, j] + C[j, i]`` with ``C`` the row-normalised
    confusion matrix (rows: true class), diagonal 0: how often ``i`` and ``j`` are taken for
    each other, independent of the class sizes."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
        raise InputError("confusion matrix", "a square (K, K) array with K >= 2", str(cm.shape))
    if (cm < 0).any():
        raise InputError("confusion matrix", "non-negative counts", "a negative entry")
    rows = cm.sum(axis=1, keepdims=True)
    c = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    s = c + c.T
    np.fill_diagonal(s, 0.0)
    return s


def confusion_groups(cm: np.ndarray, n_groups: int, max_group_size: int = 2) -> list[list[int]]:
    """``n_groups`` disjoint class groups (sorted class indices) that the generalist confuses
    most, most confused first.

    Greedy average-linkage clustering of :func:`confusion_rates`: start from singletons and
    repeatedly merge the two clusters with the highest mean pairwise rate whose union has at
    most ``max_group_size`` classes; the ``n_groups`` multi-class clusters with the highest
    linkage are returned. Ties go to the lower class indices, so the result is deterministic.
    Raises when fewer than ``n_groups`` groups can be formed.
    """
    s = confusion_rates(cm)
    k = s.shape[0]
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise InputError("specialists.n_groups", "an integer >= 1", repr(n_groups))
    if (
        isinstance(max_group_size, bool)
        or not isinstance(max_group_size, int)
        or max_group_size < 2
    ):
        raise InputError("specialists.max_group_size", "an integer >= 2", repr(max_group_size))
    if 2 * n_groups > k:
        raise InputError(
            "specialists.n_groups",
            f"at most {k // 2} disjoint groups of >= 2 classes for {k} classes",
            repr(n_groups),
        )
    clusters: list[list[int]] = [[i] for i in range(k)]
    linkage: dict[tuple[int, ...], float] = {}
    while True:
        best: tuple[float, int, int] | None = None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                if len(clusters[a]) + len(clusters[b]) > max_group_size:
                    continue
                score = float(s[np.ix_(clusters[a], clusters[b])].mean())
                if best is None or score > best[0] + 1e-12:
                    best = (score, a, b)
        if best is None:
            break
        score, a, b = best
        merged = sorted(clusters[a] + clusters[b])
        linkage[tuple(merged)] = score
        clusters = [c for i, c in enumerate(clusters) if i not in (a, b)] + [merged]
    groups = sorted((c for c in clusters if len(c) > 1), key=lambda c: (-linkage[tuple(c)], c))
    if len(groups) < n_groups:
        raise InputError(
            "specialists.n_groups",
            f"at most {len(groups)} groups with max_group_size {max_group_size}",
            repr(n_groups),
        )
    return groups[:n_groups]


def resolve_groups(given: Sequence[Sequence[str]], class_names: Sequence[str]) -> list[list[int]]:
    """Class-name groups of the config (``specialists.groups``) as sorted indices, checked:
    known names, >= 2 classes and at least one class left for the dustbin, disjoint."""
    names = list(class_names)
    out: list[list[int]] = []
    seen: set[int] = set()
    for i, g in enumerate(given):
        where = f"specialists.groups[{i}]"
        unknown = [c for c in g if c not in names]
        if unknown:
            raise InputError(where, f"class names among {names}", str(unknown))
        idx = sorted({names.index(c) for c in g})
        if len(idx) < 2 or len(idx) >= len(names):
            raise InputError(where, f"2 to {len(names) - 1} distinct classes", str(list(g)))
        if seen & set(idx):
            raise InputError(where, "classes in no other group", str(list(g)))
        seen |= set(idx)
        out.append(idx)
    if not out:
        raise InputError("specialists.groups", "'auto' or a non-empty list of groups", "[]")
    return out


# --------------------------------------------------------------------------- training data


def specialist_targets(y: np.ndarray, group: Sequence[int]) -> np.ndarray:
    """Labels of a specialist: the position of ``y`` in ``group`` (``0..G-1``), else the
    dustbin ``G``."""
    y = np.asarray(y, dtype=np.int64)
    out = np.full_like(y, len(group))
    for pos, c in enumerate(group):
        out[y == c] = pos
    return out


def enriched_rows(
    y: np.ndarray, group: Sequence[int], seed: int, group_fraction: float = 0.5
) -> np.ndarray:
    """Training rows of a specialist: every jet of ``group``, plus jets of the other classes
    drawn without replacement (seeded) so that ``group_fraction`` of the rows are the
    group's (Hinton: half). All other jets are taken when there are too few. Sorted rows."""
    if not 0.0 < group_fraction < 1.0:
        raise InputError("specialists.group_fraction", "a number in (0, 1)", repr(group_fraction))
    y = np.asarray(y, dtype=np.int64)
    in_group = np.isin(y, np.asarray(group))
    own, rest = np.flatnonzero(in_group), np.flatnonzero(~in_group)
    if own.size == 0 or rest.size == 0:
        raise InputError(
            "specialist training data", "jets of the group and of the other classes",
            f"{own.size} of the group, {rest.size} others",
        )  # fmt: skip
    n_rest = min(rest.size, round(own.size * (1.0 - group_fraction) / group_fraction))
    rng = np.random.default_rng(seed)
    drawn = rng.choice(rest, size=n_rest, replace=False)
    return np.sort(np.concatenate([own, drawn]))


def dustbin_prior_shift(y_full: np.ndarray, y_rows: np.ndarray, group: Sequence[int]) -> float:
    """What to add to the dustbin logit of a specialist trained on ``y_rows`` (the enriched
    set) so that its probabilities are those of the natural class mix ``y_full``.

    A prior shift multiplies the posterior of class ``c`` by ``pi_true(c) / pi_train(c)``;
    enrichment changes the group's and the dustbin's totals only, so the logit shift is
    ``log(pi_true(D) / pi_train(D)) - log(pi_true(G) / pi_train(G))`` on the dustbin (a common
    shift of every logit changes nothing). E.g. group 40 % of the jets, trained 50/50:
    ``log(0.6 / 0.5) - log(0.4 / 0.5) = log 1.5``."""
    g = np.asarray(group)
    full_g = float(np.isin(np.asarray(y_full), g).mean())
    rows_g = float(np.isin(np.asarray(y_rows), g).mean())
    if not (0 < full_g < 1 and 0 < rows_g < 1):
        raise InputError(
            "specialist class mix", "both group and dustbin jets", f"{full_g}, {rows_g}"
        )
    return math.log((1 - full_g) / (1 - rows_g)) - math.log(full_g / rows_g)


# --------------------------------------------------------------------------- models


def output_layer(model: nn.Module) -> nn.Linear:
    """The logit layer (the last ``nn.Linear`` registered), as the training loop's
    representation hook sees it."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise InputError(type(model).__name__, "a model with an nn.Linear output layer", "none")
    return layers[-1]


@torch.no_grad()
def init_specialist(generalist: nn.Module, specialist: nn.Module, group: Sequence[int]) -> None:
    """Copy the generalist's weights into ``specialist`` (same architecture, ``G + 1``
    outputs) and remap the output layer: the group's rows are the generalist's rows of those
    classes; the dustbin row is the mean of the other classes' rows, its bias their mean bias
    plus ``log(number of other classes)`` (the log-sum-exp of equal logits), so the
    specialist starts close to the generalist's own verdict on group vs rest."""
    out_g, out_s = output_layer(generalist), output_layer(specialist)
    k, g = out_g.out_features, len(group)
    if out_s.out_features != g + 1 or out_s.in_features != out_g.in_features:
        raise InputError(
            "specialist output layer", f"{out_g.in_features} -> {g + 1}",
            f"{out_s.in_features} -> {out_s.out_features}",
        )  # fmt: skip
    rest = [c for c in range(k) if c not in set(group)]
    name = _output_name(generalist)
    if name != _output_name(specialist):
        raise InputError("specialist", f"the generalist's architecture (output {name!r})",
                         repr(_output_name(specialist)))  # fmt: skip
    body = {key: v for key, v in generalist.state_dict().items() if not key.startswith(name + ".")}
    state = specialist.state_dict()
    if set(body) != {key for key in state if not key.startswith(name + ".")}:
        raise InputError("specialist", "the generalist's architecture", "other parameters")
    state.update(body)
    specialist.load_state_dict(state)
    w, b = out_g.weight, out_g.bias
    out_s.weight[:g] = w[list(group)]
    out_s.weight[g] = w[rest].mean(dim=0)
    if out_s.bias is not None and b is not None:
        out_s.bias[:g] = b[list(group)]
        out_s.bias[g] = b[rest].mean() + math.log(len(rest))


def _output_name(model: nn.Module) -> str:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


@torch.no_grad()
def shift_dustbin(specialist: nn.Module, shift: float) -> None:
    """Add ``shift`` to the dustbin (last) logit through the output bias (see
    :func:`dustbin_prior_shift`)."""
    layer = output_layer(specialist)
    if layer.bias is None:
        raise InputError("specialist output layer", "a bias to shift", "none")
    layer.bias[-1] += shift


# --------------------------------------------------------------------------- combination


@dataclass(frozen=True)
class CombineResult:
    """``logits`` (N, K) = ``log q`` (normalised), ``active`` (N, M) which specialists
    applied to each jet, the final objective per jet and the largest gradient norm left."""

    logits: np.ndarray
    active: np.ndarray
    objective: np.ndarray
    max_grad: float
    steps: int


def active_specialists(
    generalist_logits: np.ndarray, groups: Sequence[Sequence[int]], top: int
) -> np.ndarray:
    """``(N, M)`` bool: specialist ``m`` applies to jet ``i`` when its group meets the
    generalist's ``top`` most probable classes of that jet."""
    z = np.asarray(generalist_logits)
    if not 1 <= top <= z.shape[1]:
        raise InputError("specialists.active_top", f"an integer in [1, {z.shape[1]}]", repr(top))
    order = np.argsort(-z, axis=1, kind="stable")[:, :top]
    return (
        np.stack([np.isin(order, np.asarray(g)).any(axis=1) for g in groups], axis=1)
        if groups
        else np.zeros((len(z), 0), dtype=bool)
    )


def _projection(groups: Sequence[Sequence[int]], k: int) -> Tensor:
    """``(M, G_max + 1, K)`` 0/1 maps from the K classes to each specialist's outputs (its
    group's classes, then the dustbin); rows past a short group's dustbin stay empty."""
    g_max = max(len(g) for g in groups)
    proj = torch.zeros(len(groups), g_max + 1, k, dtype=torch.float64)
    for m, g in enumerate(groups):
        for pos, c in enumerate(g):
            proj[m, pos, c] = 1.0
        rest = [c for c in range(k) if c not in set(g)]
        proj[m, len(g), rest] = 1.0
    return proj


def combine(
    generalist_logits: np.ndarray,
    specialist_logits: Sequence[np.ndarray],
    groups: Sequence[Sequence[int]],
    *,
    active_top: int = 2,
    steps: int = 2000,
    solver: str = "em",
    lr: float = 0.1,
    tol: float = 1e-9,
) -> CombineResult:
    """Hinton's section 5.3 combination: for each jet, ``q = softmax(z)`` minimising
    ``KL(p_g || q) + sum_{m active} KL(p_m || P_m q)`` (see the module docstring).

    ``specialist_logits[m]``: (N, G_m + 1) logits of specialist ``m`` (its group's classes in
    ``groups[m]`` order, then the dustbin). All jets are solved at once, from ``q = p_g`` (the
    answer when no specialist applies), float64 throughout:

    - ``solver="em"`` (default): the objective is, up to constants, ``-sum_c a_c log q_c -
      sum_m p_m(D) log q(D_m)`` with ``a_c`` the generalist's plus the active specialists'
      probability of class ``c``, a multinomial likelihood with coarsened (dustbin)
      observations, convex in ``q``. Its EM update ``q_c <- (a_c + sum_m [c in D_m] p_m(D)
      q_c / q(D_m)) / (1 + active count)`` decreases it monotonically to the optimum; it
      stops when no probability moves by more than ``tol`` or after ``steps`` updates.
    - ``solver="adam"``: gradient descent (Adam, ``lr``) on ``z``, ``steps`` steps (the literal
      recipe; slower to converge, kept as the cross-check).

    ``max_grad`` of the result is the largest per-jet norm of the objective's gradient in
    ``z`` at the answer, whichever solver ran.
    """
    zg = torch.as_tensor(np.asarray(generalist_logits), dtype=torch.float64)
    n, k = zg.shape
    if len(specialist_logits) != len(groups):
        raise InputError(
            "combine", f"{len(groups)} specialists' logits", str(len(specialist_logits))
        )
    if solver not in ("em", "adam"):
        raise InputError("combine: solver", "'em' or 'adam'", repr(solver))
    log_pg = F.log_softmax(zg, dim=1)
    active = active_specialists(generalist_logits, groups, active_top)
    if not groups:
        return CombineResult(log_pg.numpy().astype(np.float32), active, np.zeros(n), 0.0, 0)
    g_max = max(len(g) for g in groups)
    proj = _projection(groups, k)
    # (M, N, G_max + 1) specialist probabilities, padded with zeros past each dustbin
    p_spec = torch.zeros(len(groups), n, g_max + 1, dtype=torch.float64)
    for m, (zs, g) in enumerate(zip(specialist_logits, groups, strict=True)):
        zs_t = torch.as_tensor(np.asarray(zs), dtype=torch.float64)
        if zs_t.shape != (n, len(g) + 1):
            raise InputError(
                f"specialist {m} logits", f"shape ({n}, {len(g) + 1})", str(tuple(zs_t.shape))
            )
        p_spec[m, :, : len(g) + 1] = F.softmax(zs_t, dim=1)
    weight = torch.as_tensor(active, dtype=torch.float64).T  # (M, N)
    p_g = log_pg.exp()
    tiny = torch.finfo(torch.float64).tiny

    def objective(z: Tensor) -> Tensor:
        log_q = F.log_softmax(z, dim=1)
        kl_g = (p_g * (log_pg - log_q)).sum(1)
        q_proj = torch.einsum("mgk,nk->mng", proj, log_q.exp())  # (M, N, G_max + 1)
        kl_s = (
            p_spec * (torch.log(p_spec.clamp_min(tiny)) - torch.log(q_proj.clamp_min(tiny)))
        ).sum(2)
        return kl_g + (weight * kl_s).sum(0)

    if solver == "em":
        z, done = _solve_em(p_g, p_spec, weight, groups, proj, steps, tol)
    else:
        z, done = _solve_adam(log_pg, objective, steps, lr)
    z = z.detach().requires_grad_(True)
    final = objective(z)
    final.sum().backward()
    max_grad = float(z.grad.norm(dim=1).max())
    log_q = F.log_softmax(z.detach(), dim=1)
    log.info(
        "combined %d jets with %d specialists (%.1f%% of jets with >= 1 active): %s, %d steps, "
        "max gradient norm %.2e", n, len(groups), 100 * active.any(axis=1).mean(), solver, done,
        max_grad,
    )  # fmt: skip
    return CombineResult(
        log_q.numpy().astype(np.float32), active, final.detach().numpy(), max_grad, done
    )


def _solve_em(
    p_g: Tensor,
    p_spec: Tensor,
    weight: Tensor,
    groups: Sequence[Sequence[int]],
    proj: Tensor,
    steps: int,
    tol: float,
) -> tuple[Tensor, int]:
    """The EM iteration of :func:`combine`; returns ``(log q, updates run)``."""
    a = p_g.clone()
    dust = torch.stack([proj[m, len(g)] for m, g in enumerate(groups)])  # (M, K) 0/1
    p_dust = torch.stack([p_spec[m, :, len(g)] for m, g in enumerate(groups)]) * weight  # (M, N)
    for m, g in enumerate(groups):
        for pos, c in enumerate(g):
            a[:, c] += weight[m] * p_spec[m, :, pos]
    total = (1.0 + weight.sum(0)).unsqueeze(1)  # (N, 1)
    q, done = p_g.clone(), 0
    for done in range(1, steps + 1):
        q_dust = q @ dust.T  # (N, M)
        q_new = (a + q * ((p_dust.T / q_dust) @ dust)) / total
        moved = float((q_new - q).abs().max())
        q = q_new
        if moved < tol:
            break
    return torch.log(q), done


def _solve_adam(log_pg: Tensor, objective, steps: int, lr: float) -> tuple[Tensor, int]:
    """Gradient descent of :func:`combine` (Adam on ``z``); returns ``(z, steps run)``."""
    z = log_pg.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        objective(z).sum().backward()
        opt.step()
    return z.detach(), steps
