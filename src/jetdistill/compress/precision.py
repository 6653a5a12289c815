"""Per-weight precision: a differentiable hardware-cost term for the Brevitas twins.

Why a penalty on the weights' digits (and not learned per-weight bit widths): the chip is
built by da4ml, whose constant-matrix products are multiplier-free adder graphs. Their cost
follows the number of nonzero canonical-signed-digit (CSD) digits of the integer weights
on each layer's per-tensor power-of-two grid, times the width of the input they add up.
Measured on 36 random 48x32 integer matrices (5-bit weights, 50-95% zeros, as they are,
with their low bits cleared, and halved; 8-bit inputs; 2026-12-06): da4ml's cost estimate
correlates 0.998 with the total CSD digit count (6.7 LUTs per digit), against 0.95 with the
nonzero count, 0.94 with the summed bit lengths and 0.96 with ``sum log2(1 + |q|)``.

So the term penalises CSD digits directly, weighted like EBOPs: a weight ``w`` of a layer
with grid step ``s`` (its per-tensor power-of-two scale), whose input is ``b_in`` bits wide
and which is applied ``r`` times per sample (a per-constituent layer: ``r`` constituents),
costs ``r * b_in * c(|w| / s)`` digit-bits, where ``c`` is

- ``"csd"`` (default): the CSD digit count of the integers, interpolated linearly between
  them. At an integer ``q`` it *is* the digit count of ``q``; between two integers its slope
  moves the weight towards the neighbour with fewer digits (3 -> 4, 7 -> 8, 0.6 -> 0);
- ``"log"``: ``log2(1 + |w| / s)``, a smooth magnitude surrogate (EBOPs-like) that pulls
  every weight towards zero, plateaus included.

The scale ``s`` is detached: the term moves weights on the grid, it does not shrink the grid.
The weights stay on the layer's own power-of-two grid (Brevitas rounds them as before), so
the exported QONNX graph, hls4ml's C simulation and the da4ml RTL are unchanged in form; the
gain shows up as fewer nonzero digits, and a weight that reaches zero digits is pruned.
Pruning (:mod:`jetdistill.compress.prune`) stays beside it: its masks keep pruned weights at
zero, where the term's gradient is zero too.

Units: ``strength`` is the loss added per 1000 digit-bits (at 8-bit inputs ~1000 digit-bits
are ~840 LUTs of da4ml's estimate), so ``loss = task_loss + strength * digit_bits / 1000``.

Not done here (and why): per-feature input bit widths would need a per-channel input
``Quant`` node, whose tensor bit width hls4ml's QONNX reader refuses. Per-input *ranges*
are fitted instead, outside the graph (``compression.input_scaling: per_input``,
:func:`jetdistill.compress.quant.fit_input_gain`): a power-of-two gain per input, which on
the chip is only each input's fixed-point format. Activation integer bits are already
fitted per layer to observed ranges by the twins' calibrated power-of-two activation
scales (:func:`jetdistill.compress.quant.calibrate`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

SURROGATES: tuple[str, ...] = ("csd", "log")
#: digit-bits per unit of ``strength``
UNIT = 1000.0
#: the CSD table covers integers up to 2**TABLE_BITS - 1 (weights are <= 16 bits here)
TABLE_BITS = 16


def csd_digit_count(n: int) -> int:
    """Nonzero digits of the canonical signed-digit (non-adjacent) form of ``|n|``.

    Each digit is one adder (or subtractor) of a multiplier-free constant product.
    """
    n, count = abs(int(n)), 0
    while n:
        if n & 1:
            count += 1
            n = n + 1 if n & 3 == 3 else n - 1  # ...11 -> carry up (a -1 digit), ...01 -> a +1
        n >>= 1
    return count


@functools.lru_cache(maxsize=4)
def _csd_table(device: str) -> Tensor:
    table = [csd_digit_count(n) for n in range(2**TABLE_BITS + 1)]
    return torch.tensor(table, dtype=torch.float32, device=device)


def csd_digits(q: Tensor) -> Tensor:
    """Exact CSD digit count of each element of an integer-valued tensor (float result)."""
    table = _csd_table(str(q.device))
    idx = q.detach().abs().round().long().clamp(max=table.numel() - 1)
    return table[idx]


def csd_interp(x: Tensor) -> Tensor:
    """The CSD digit count of ``|x|`` interpolated linearly between integers (differentiable).

    Equals :func:`csd_digits` at integers; its gradient points towards the cheaper neighbour.
    """
    table = _csd_table(str(x.device))
    a = x.abs().clamp(max=table.numel() - 1)
    lo = a.detach().floor().clamp(max=table.numel() - 2)
    i = lo.long()
    frac = a - lo
    return table[i] + frac * (table[i + 1] - table[i])


def surrogate_cost(x: Tensor, surrogate: str) -> Tensor:
    """Per-element cost of weights ``x`` in grid units (``w / s``)."""
    if surrogate == "csd":
        return csd_interp(x)
    if surrogate == "log":
        return torch.log2(1.0 + x.abs())
    raise InputError("precision surrogate", f"one of {list(SURROGATES)}", repr(surrogate))


@dataclass(frozen=True)
class WeightedLayer:
    """A QuantLinear of the twin and what one CSD digit of its weights costs in bit-adders:
    ``applications`` (rows per sample) x ``input_bits``."""

    name: str
    layer: nn.Module
    applications: int
    input_bits: int

    @property
    def weight(self) -> float:
        return float(self.applications * self.input_bits)


def weighted_layers(model: nn.Module, input_shape: Sequence[int]) -> list[WeightedLayer]:
    """Every Brevitas ``QuantLinear`` of ``model`` with its applications and input width,
    measured with one forward pass (:func:`jetdistill.compress.cost.layer_costs`)."""
    from brevitas.nn import QuantLinear

    from jetdistill.compress.cost import layer_costs

    modules = dict(model.named_modules())
    out = [
        WeightedLayer(lc.name, modules[lc.name], int(lc.applications), int(lc.act_bits))
        for lc in layer_costs(model, input_shape)
        if isinstance(modules[lc.name], QuantLinear)
    ]
    if not out:
        raise InputError(
            "cost penalty model", "a Brevitas twin with QuantLinear layers", type(model).__name__
        )
    return out


def grid_step(layer: nn.Module) -> Tensor:
    """The layer's weight grid step (its per-tensor power-of-two scale), detached."""
    return layer.quant_weight().scale.detach()


class CostPenalty:
    """``strength * sum_l r_l b_l sum_i c(|w_i| / s_l) / 1000``: see the module docstring.

    Built once per model (the layer weights come from one forward pass); calling it
    evaluates the term on the current weights, with gradients to them.
    """

    def __init__(
        self,
        model: nn.Module,
        input_shape: Sequence[int],
        strength: float,
        *,
        surrogate: str = "csd",
    ) -> None:
        check_strength(strength, "cost penalty strength")
        if surrogate not in SURROGATES:
            raise InputError("precision surrogate", f"one of {list(SURROGATES)}", repr(surrogate))
        self.strength = float(strength)
        self.surrogate = surrogate
        self.layers = weighted_layers(model, input_shape)

    def digit_bits(self) -> Tensor:
        """The surrogate's digit-bits of the current weights (differentiable)."""
        total = torch.zeros((), device=self.layers[0].layer.weight.device)
        for wl in self.layers:
            x = wl.layer.weight / grid_step(wl.layer)
            total = total + wl.weight * surrogate_cost(x, self.surrogate).sum()
        return total

    def __call__(self) -> Tensor:
        return self.strength * self.digit_bits() / UNIT

    def wrap(self, loss_fn: Any) -> Any:
        """``loss_fn`` plus this term (same :data:`jetdistill.learn.training.LossFn` signature).

        The validation loss ``fit`` early-stops on then includes the term as well: it is the
        objective being minimised. With strength 0 ``loss_fn`` itself is returned, so a zero
        penalty runs exactly the code it ran before.
        """
        if self.strength == 0.0:
            return loss_fn

        def loss(logits: Tensor, y: Tensor | None, t: Tensor | None = None) -> Tensor:
            return loss_fn(logits, y, t) + self()

        return loss


def check_strength(value: Any, where: str) -> float:
    """A cost-penalty strength: a finite number >= 0 (InputError otherwise)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0.0 <= float(value) < float("inf"):
        raise InputError(where, "a finite number >= 0", repr(value))
    return float(value)


@torch.no_grad()
def precision_metrics(model: nn.Module, input_shape: Sequence[int]) -> dict[str, float]:
    """Exact digit counts of the *quantised* weights: ``csd_digits`` (all layers),
    ``csd_digit_bits`` (each digit times its layer's applications x input width, the
    quantity the penalty's ``csd`` surrogate equals on the grid) and ``zero_weight_fraction``
    (pruned or rounded to zero)."""
    digits = digit_bits = zeros = total = 0.0
    for wl in weighted_layers(model, input_shape):
        qw = wl.layer.quant_weight()
        q = qw.value / qw.scale
        d = float(csd_digits(q).sum())
        digits += d
        digit_bits += wl.weight * d
        zeros += float((q.round() == 0).sum())
        total += q.numel()
    return {
        "csd_digits": digits,
        "csd_digit_bits": digit_bits,
        "zero_weight_fraction": zeros / total if total else 0.0,
    }
