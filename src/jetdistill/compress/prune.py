"""Iterative unstructured pruning with fixed masks (magnitude or Optimal Brain Damage).

How it is used (quantisation-aware pruning, arXiv:2102.11289, is this applied to a
Brevitas twin during QAT)::

    pruner = Pruner(model, scope="global", criterion="magnitude")
    for target in sparsity_schedule(0.75, steps=4):
        pruner.step(target)                       # new masks, weights zeroed
        fit(model, ..., step_hook=pruner.apply)   # fine-tune; masks re-applied each step

Design:

- Only the weight matrices of ``nn.Linear`` layers (Brevitas ``QuantLinear`` included, it
  subclasses ``nn.Linear``) are pruned; biases never are (they cost one adder each).
- Masks are monotone: a weight pruned at one step stays pruned, and between steps masks
  are fixed. :meth:`Pruner.apply` after every optimizer step makes the pruned weights
  *exactly* zero again, whatever the optimizer's momentum did.
- The number pruned is exact: ``round(sparsity * N)`` weights over all layers (``global``)
  or ``round(sparsity * N_l)`` per layer (``layer``), chosen by a stable sort of the
  scores, so ties cannot over- or under-prune.
- ``criterion="obd"``: Optimal Brain Damage (LeCun et al. 1990) saliency
  ``s = 0.5 * H_ii * w^2`` with the Hessian diagonal approximated by the empirical
  Fisher, the mean over samples of the squared per-sample gradient. Unlike magnitude it
  keeps small weights the loss is sensitive to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("global", "layer")
CRITERIA: tuple[str, ...] = ("magnitude", "obd")


def sparsity_schedule(target: float, steps: int, *, power: float = 3.0) -> list[float]:
    """Sparsity after each of ``steps`` pruning steps, ending exactly at ``target``.

    Polynomial ramp of Zhu & Gupta (arXiv:1710.01878): ``s_i = target * (1 - (1 - i/steps)^power)``,
    i = 1..steps; it prunes fast while many redundant weights remain and gently near the end.
    ``power=1`` gives a linear ramp.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError("compression.pruning.steps", "an integer >= 1", repr(steps))
    if not 0.0 <= float(target) < 1.0:
        raise InputError("sparsity", "a number in [0, 1)", repr(target))
    out = [float(target) * (1.0 - (1.0 - i / steps) ** power) for i in range(1, steps + 1)]
    out[-1] = float(target)
    return out


def prunable_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """Name -> Linear (or QuantLinear) whose weight matrix is pruned, in forward order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero entries over all prunable weight matrices."""
    layers = prunable_layers(model).values()
    total = sum(m.weight.numel() for m in layers)
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    return zeros / total if total else 0.0


SaliencyBatch = tuple[Any, ...]


class Pruner:
    """Masks for the Linear weights of ``model``; see the module docstring.

    ``masks[name]`` is a bool tensor shaped like ``layer.weight`` (True = kept).
    ``fisher_samples`` caps the number of per-sample gradients OBD evaluates.
    """

    def __init__(
        self,
        model: nn.Module,
        scope: str = "global",
        criterion: str = "magnitude",
        *,
        fisher_samples: int = 512,
    ) -> None:
        if scope not in SCOPES:
            raise InputError("compression.pruning.scope", f"one of {list(SCOPES)}", repr(scope))
        if criterion not in CRITERIA:
            raise InputError(
                "compression.pruning.criterion", f"one of {list(CRITERIA)}", repr(criterion)
            )
        self.model = model
        self.scope = scope
        self.criterion = criterion
        self.fisher_samples = int(fisher_samples)
        self.layers = prunable_layers(model)
        if not self.layers:
            raise InputError("Pruner model", "at least one nn.Linear layer", type(model).__name__)
        self.masks: dict[str, Tensor] = {
            name: torch.ones_like(m.weight, dtype=torch.bool) for name, m in self.layers.items()
        }

    # ----------------------------------------------------------------- masks
    @torch.no_grad()
    def apply(self, model: nn.Module | None = None) -> None:
        """Zero every pruned weight (use as ``fit(..., step_hook=pruner.apply)``).

        ``model`` is accepted for the step-hook signature; it must be the pruned model.
        Masks follow the weights to their device (``fit`` may move the model to a GPU).
        """
        if model is not None and model is not self.model:
            raise InputError(
                "Pruner.apply model", "the model the Pruner was built on", type(model).__name__
            )
        for name, layer in self.layers.items():
            mask = self.masks[name]
            if mask.device != layer.weight.device:
                mask = self.masks[name] = mask.to(layer.weight.device)
            layer.weight.data.mul_(mask)
            if layer.weight.grad is not None:
                layer.weight.grad.mul_(mask)

    apply_masks = apply  # name used in docs/ARCHITECTURE.md

    def sparsity(self) -> float:
        """Fraction of masked (pruned) weights over all prunable weights."""
        total = sum(m.numel() for m in self.masks.values())
        return sum(int((~m).sum()) for m in self.masks.values()) / total

    def layer_sparsity(self) -> dict[str, float]:
        return {name: float((~m).sum()) / m.numel() for name, m in self.masks.items()}

    # ----------------------------------------------------------------- scores
    def scores(self, saliency_batch: SaliencyBatch | None = None) -> dict[str, Tensor]:
        """Per-weight importance (higher = keep); already-pruned weights score -inf."""
        if self.criterion == "magnitude":
            raw = {name: layer.weight.detach().abs() for name, layer in self.layers.items()}
        else:
            if saliency_batch is None:
                raise InputError(
                    "Pruner.step saliency_batch",
                    "(x, y, loss_fn) or (x, y, t, loss_fn) for OBD",
                    "None",
                )
            fisher = self.empirical_fisher(saliency_batch)
            raw = {
                name: 0.5 * fisher[name] * layer.weight.detach() ** 2
                for name, layer in self.layers.items()
            }
        return {
            name: s.float().masked_fill(~self.masks[name].to(s.device), -torch.inf)
            for name, s in raw.items()
        }

    def empirical_fisher(self, saliency_batch: SaliencyBatch) -> dict[str, Tensor]:
        """Mean over samples of the squared per-sample loss gradient w.r.t. each weight.

        ``saliency_batch`` is ``(x, y, loss_fn)``, called as ``loss_fn(logits, y)``, or
        ``(x, y, t, loss_fn)``, called as ``loss_fn(logits, y, t)`` (jetdistill's LossFn
        signature; ``t`` teacher logits or None). Evaluated in eval mode so no quantiser
        statistics, BatchNorm statistics or dropout are touched; ``.grad`` is untouched.
        """
        x, y, t, loss_fn = _unpack_batch(saliency_batch)
        with_teacher = len(saliency_batch) == 4
        weights = [layer.weight for layer in self.layers.values()]
        device = weights[0].device
        n = min(int(x.shape[0]), self.fisher_samples)
        acc = [torch.zeros_like(w, dtype=torch.float32) for w in weights]
        was_training = self.model.training
        self.model.eval()
        try:
            for i in range(n):
                xi = torch.as_tensor(x[i : i + 1], dtype=torch.float32).to(device)
                yi = None if y is None else torch.as_tensor(y[i : i + 1]).to(device)
                logits = self.model(xi)
                if not with_teacher:
                    loss = loss_fn(logits, yi)
                else:
                    ti = (
                        None
                        if t is None
                        else torch.as_tensor(t[i : i + 1], dtype=torch.float32).to(device)
                    )
                    loss = loss_fn(logits, yi, ti)
                grads = torch.autograd.grad(loss, weights, allow_unused=True)
                for a, g in zip(acc, grads, strict=True):
                    if g is not None:
                        a.add_(g.detach().float() ** 2)
        finally:
            self.model.train(was_training)
        return {name: a / n for name, a in zip(self.layers, acc, strict=True)}

    # ----------------------------------------------------------------- step
    @torch.no_grad()
    def step(
        self, sparsity: float, *, saliency_batch: SaliencyBatch | None = None
    ) -> dict[str, float]:
        """Extend the masks to ``sparsity`` (fraction of weights pruned) and apply them.

        Masks only grow: a target below the current sparsity keeps the current masks.
        Returns the per-layer sparsity after the step.
        """
        if not 0.0 <= float(sparsity) < 1.0:
            raise InputError("Pruner.step sparsity", "a number in [0, 1)", repr(sparsity))
        with torch.enable_grad():
            scores = self.scores(saliency_batch)
        if self.scope == "layer":
            for name, s in scores.items():
                self.masks[name] = _keep_mask(s.flatten(), _n_prune(sparsity, s.numel())).view_as(
                    s
                ) & self.masks[name].to(s.device)
        else:
            flat = torch.cat([s.flatten().cpu() for s in scores.values()])
            keep = _keep_mask(flat, _n_prune(sparsity, flat.numel()))
            offset = 0
            for name, s in scores.items():
                part = keep[offset : offset + s.numel()].view_as(s).to(s.device)
                self.masks[name] = part & self.masks[name].to(s.device)
                offset += s.numel()
        self.apply()
        per_layer = self.layer_sparsity()
        log.info("pruning (%s, %s) to %.3f: reached %.4f; per layer %s", self.scope, self.criterion, sparsity,
                 self.sparsity(), {k: round(v, 3) for k, v in per_layer.items()})  # fmt: skip
        return per_layer


def _n_prune(sparsity: float, n: int) -> int:
    return round(float(sparsity) * n)


def _keep_mask(scores: Tensor, n_prune: int) -> Tensor:
    """True for all but the ``n_prune`` lowest scores (stable: ties pruned in index order)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if n_prune > 0:
        order = torch.sort(scores, stable=True).indices
        keep[order[:n_prune]] = False
    return keep


def _unpack_batch(batch: Sequence[Any]) -> tuple[Any, Any, Any, Callable[..., Tensor]]:
    if not isinstance(batch, (tuple, list)) or len(batch) not in (3, 4) or not callable(batch[-1]):
        raise InputError(
            "Pruner.step saliency_batch", "(x, y, loss_fn) or (x, y, t, loss_fn)", repr(type(batch))
        )
    if len(batch) == 3:
        x, y, loss_fn = batch
        return x, y, None, loss_fn
    x, y, t, loss_fn = batch
    return x, y, t, loss_fn


# --------------------------------------------------------------------------- the schedule
def prune_and_retrain(
    model: nn.Module,
    train: Any,
    val: Any,
    *,
    sparsity: float,
    steps: int,
    epochs_per_step: int,
    scope: str,
    criterion: str,
    train_cfg: Mapping[str, Any],
    loss_fn: Callable[..., Tensor],
    seed: int,
    saliency_batch: Sequence[Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Pruner, list[dict[str, Any]]]:
    """Prune ``model`` to ``sparsity`` in ``steps`` (:func:`sparsity_schedule`), retraining
    ``epochs_per_step`` epochs after each step with the masks fixed.

    ``train``/``val``: :class:`jetdistill.learn.training.Batches`; ``train_cfg``: the
    training settings of the final fine-tune (each step trains with them, for
    ``epochs_per_step`` epochs and without early stopping); step ``i`` trains with seed
    ``seed + i``. ``saliency_batch``: ``(x, y, teacher_logits, loss_fn)`` for OBD.
    Returns the pruner (whose :meth:`Pruner.apply` keeps the masks during the final
    fine-tune) and the per-epoch history, tagged with ``prune_step``/``target_sparsity``.
    """
    from jetdistill.learn.training import TrainConfig, fit

    pruner = Pruner(model, scope=scope, criterion=criterion)
    step_cfg = TrainConfig.from_dict({**train_cfg, "epochs": int(epochs_per_step), "patience": 0})
    history: list[dict[str, Any]] = []
    for i, target in enumerate(sparsity_schedule(sparsity, int(steps))):
        pruner.step(target, saliency_batch=saliency_batch if criterion == "obd" else None)
        res = fit(model, train, val, step_cfg, loss_fn, seed=seed + i, step_hook=pruner.apply)
        history += [{**rec, "prune_step": i, "target_sparsity": target} for rec in res.history]
        if on_step is not None:
            on_step(i, pruner.sparsity())
    return pruner, history
