"""Model cost: parameters, non-zeros, size in bits and bit operations (BOPs).

BOPs follow Baskin et al., "UNIQ" (arXiv:1804.10969), as used for jet taggers by
Hawks et al. (arXiv:2102.11289): a dense layer with ``n`` inputs, ``m`` outputs,
``b_w``-bit weights, ``b_a``-bit input activations and a fraction ``f_p`` of zero weights
costs ::

    BOPs = m * n * ((1 - f_p) * b_a * b_w + b_a + b_w + log2(n))

(multiplications plus the accumulator additions). A layer applied ``r`` times per sample
(Deep Sets' per-constituent ``phi``: ``r`` = number of constituents; the interaction
network's edge MLP: ``r`` = number of edges) costs ``r`` times that. ``r`` and the input
bit widths are measured, not assumed: one forward pass of a single zero sample with hooks
on every Linear records how many rows each layer sees and, for Brevitas layers, the bit
width of the QuantTensor it receives.

Bit widths: Brevitas ``QuantLinear`` layers report their own weight and bias bit widths
and their input's activation bit width; plain float layers use the ``weight_bits`` /
``act_bits`` arguments (default 32/32); ``input_bits`` overrides the activation width of
a float input tensor (a model that does not quantise its own input).
Zero weights: for quantised layers the *quantised* weights are counted, i.e. pruned
weights and weights that round to zero (the FPGA needs no multiplier for either).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

FLOAT_BITS = 32


@dataclass
class LayerCost:
    name: str
    n_in: int
    n_out: int
    applications: int  # rows per sample: 1 for a dense layer on a flat input
    weight_bits: int
    act_bits: int
    bias_bits: int
    weights: int
    nonzero_weights: int
    biases: int
    nonzero_biases: int

    @property
    def pruned_fraction(self) -> float:
        return 1.0 - self.nonzero_weights / self.weights if self.weights else 0.0

    @property
    def bops(self) -> float:
        return self.applications * bops_dense(
            self.n_in, self.n_out, self.weight_bits, self.act_bits, self.pruned_fraction
        )

    @property
    def size_bits(self) -> int:
        return self.nonzero_weights * self.weight_bits + self.nonzero_biases * self.bias_bits


def bops_dense(n: int, m: int, b_w: float, b_a: float, f_p: float = 0.0) -> float:
    """UNIQ BOPs of one dense layer: ``m*n*((1-f_p)*b_a*b_w + b_a + b_w + log2(n))``."""
    return m * n * ((1.0 - f_p) * b_a * b_w + b_a + b_w + math.log2(n))


def _is_quant_linear(m: nn.Module) -> bool:
    try:
        from brevitas.nn import QuantLinear
    except ImportError:  # pragma: no cover
        return False
    return isinstance(m, QuantLinear)


def _bit_width(x: object) -> int | None:
    bw = getattr(x, "bit_width", None)
    if bw is None:
        return None
    return round(float(bw))


def _bias_bits(layer: nn.Module) -> int:
    """Bit width of a QuantLinear's bias quantiser (32 when the bias is float).

    ``bias_quant.bit_width()`` needs the input scale for accumulator-scaled biases, so the
    constant bit width is read from the quantiser's clamp instead.
    """
    proxy = getattr(layer, "bias_quant", None)
    if getattr(layer, "bias", None) is None or proxy is None or not proxy.is_quant_enabled:
        return FLOAT_BITS
    impl = getattr(getattr(proxy, "tensor_quant", None), "msb_clamp_bit_width_impl", None)
    if impl is None:
        return FLOAT_BITS
    return round(float(impl()))


@torch.no_grad()
def _trace_linears(
    model: nn.Module, input_shape: Sequence[int]
) -> dict[str, tuple[int, int | None]]:
    """Name -> (rows per sample, input bit width or None) of each Linear called in a forward."""
    seen: dict[str, tuple[int, int | None]] = {}
    hooks = []

    def make_hook(name: str):
        def hook(mod: nn.Linear, args: tuple) -> None:
            inp = args[0]
            value = inp.value if hasattr(inp, "value") and not isinstance(inp, Tensor) else inp
            rows = int(value.numel() // mod.in_features)
            prev_rows = seen.get(name, (0, None))[0]
            seen[name] = (
                prev_rows + rows,
                _bit_width(inp) if not isinstance(inp, Tensor) else None,
            )

        return hook

    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_pre_hook(make_hook(name)))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        model(torch.zeros((1, *tuple(int(d) for d in input_shape)), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return seen


def _uncalled_applications(model: nn.Module, name: str) -> int:
    """Applications per sample of a Linear whose weights are used functionally, not called.

    The interaction network's factorised edge MLP applies ``f_r[0]`` through its weight
    slices; it is counted as in the paper's dense formulation, once per edge.
    """
    f_r = getattr(model, "f_r", None)
    n_edges = getattr(model, "n_edges", None)
    if f_r is not None and n_edges is not None and name == "f_r.0":
        return int(n_edges)
    log.warning(
        "cost: Linear %r is not called as a module in forward; counted once per sample", name
    )
    return 1


@torch.no_grad()
def layer_costs(
    model: nn.Module,
    input_shape: Sequence[int],
    weight_bits: int | None = None,
    act_bits: int | None = None,
    input_bits: int | None = None,
) -> list[LayerCost]:
    """Per-Linear cost records (forward order); see the module docstring for the rules."""
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise InputError(
            "cost_metrics input_shape", "positive dimensions (no batch axis)", repr(input_shape)
        )
    w_float = FLOAT_BITS if weight_bits is None else int(weight_bits)
    a_float = FLOAT_BITS if act_bits is None else int(act_bits)
    traced = _trace_linears(model, shape)
    first = True
    out: list[LayerCost] = []
    for name, m in model.named_modules():
        if not isinstance(m, nn.Linear):
            continue
        rows, in_bits = traced.get(name, (0, None))
        if rows == 0:
            rows = _uncalled_applications(model, name)
        if _is_quant_linear(m):
            qw = m.quant_weight()
            w = qw.value
            b_w = _bit_width(qw) or w_float
            b_b = _bias_bits(m)
        else:
            w, b_w, b_b = m.weight, w_float, FLOAT_BITS
        if in_bits is not None:
            b_a = in_bits
        elif first and input_bits is not None:
            b_a = int(input_bits)
        else:
            b_a = a_float
        first = False
        bias = m.bias if m.bias is not None else torch.zeros(0)
        out.append(LayerCost(
            name=name, n_in=m.in_features, n_out=m.out_features, applications=rows, weight_bits=b_w,
            act_bits=b_a, bias_bits=b_b, weights=w.numel(), nonzero_weights=int((w != 0).sum()),
            biases=bias.numel(), nonzero_biases=int((bias != 0).sum()),
        ))  # fmt: skip
    return out


def cost_metrics(
    model: nn.Module,
    input_shape: Sequence[int],
    weight_bits: int | None = None,
    act_bits: int | None = None,
    input_bits: int | None = None,
) -> dict[str, float]:
    """``params``, ``nonzero_params``, ``size_bits``, ``bops`` of ``model``.

    ``params`` counts Linear weights and biases plus BatchNorm affine parameters (Brevitas
    scale parameters are quantiser state, not model parameters, so a float student and its
    quantised twin report the same ``params``). ``size_bits`` sums the bit widths of the
    non-zero weights and biases (BatchNorm parameters at 32 bits). ``bops`` is summed over
    the Linear layers (BatchNorm, activations and pooling are not counted).
    """
    layers = layer_costs(model, input_shape, weight_bits, act_bits, input_bits)
    params = sum(lc.weights + lc.biases for lc in layers)
    nonzero = sum(lc.nonzero_weights + lc.nonzero_biases for lc in layers)
    size = sum(lc.size_bits for lc in layers)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            for p in (m.weight, m.bias):
                params += p.numel()
                nz = int((p != 0).sum())
                nonzero += nz
                size += nz * FLOAT_BITS
    bops = float(sum(lc.bops for lc in layers))
    log.debug("cost per layer: %s", [asdict(lc) for lc in layers])
    return {
        "params": int(params),
        "nonzero_params": int(nonzero),
        "size_bits": int(size),
        "bops": bops,
    }
