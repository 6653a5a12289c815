"""Brevitas quantised twins of the students: power-of-two per-tensor scales, FLOOR activations.

Why these quantisers: hls4ml turns every QONNX ``Quant`` node into an ``ap_fixed`` type.
That is only *exact* when

- every scale is a power of two (a float scale would be folded into an approximate
  multiplication, and the C simulation would no longer match Brevitas bit for bit), and
- the rounding mode of each activation quantiser is one ``ap_fixed`` implements with the
  same semantics: ``FLOOR`` maps to ``AP_TRN`` (hls4ml's default truncation).

So the twins use the Brevitas *FixedPoint* quantisers:

- input: ``QuantIdentity`` with a signed ``input_bits`` quantiser, FLOOR rounding;
- weights: ``Int8WeightPerTensorFixedPoint`` (narrow signed, max-abs statistics, scale
  ``2**ceil(log2(max|w| / (2**(b-1)-1)))``, round-half-even like ``ap_fixed``'s RND_CONV);
- biases: :class:`FixedPointBias`, an ``IntBias`` at the *accumulator* scale
  (input scale x weight scale, itself a power of two) with ``bias_bits`` bits, so the bias
  adds into the accumulator without any rescaling;
- hidden activations: unsigned ``bits``-bit ``QuantReLU`` with FLOOR rounding.

Measured: an MLP twin exported with ``export_qonnx`` -> qonnx cleanup -> channels-last ->
``GemmToMatMul`` -> ``convert_from_onnx_model`` (Vitis backend) reproduced Brevitas on 2000
random inputs exactly (max |diff| = 0), both with pre-quantised and with raw float inputs.

Activation scales are learned parameters initialised from runtime statistics (the first
300 training forward passes, or :func:`calibrate` on a batch); weight scales follow the
weights. Only ``relu`` activations have a twin; BatchNorm of a float student is folded
into the preceding Linear by :func:`load_float_weights` (the twin itself has no BN, which
keeps the exported graph a pure chain of MatMul/Add/Relu/Quant).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from brevitas.inject.enum import FloatToIntImplType
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    IntBias,
    Uint8ActPerTensorFixedPoint,
)
from brevitas.quant_tensor import QuantTensor
from torch import Tensor, nn

from jetdistill.errors import InputError
from jetdistill.learn.kd_data import apply_input_gain

log = logging.getLogger(__name__)

# Model types with a quantised twin are registered in jetdistill.learn.models (quant_twin);
# "deepsets" is for QAT studies only, not hls4ml; "set" (QuantSetStudent) is the set student
# meant for the chip (its sum / max pools stay in the integer domain).


# --------------------------------------------------------------------------- quantisers


class FloorIntActFixedPoint(Int8ActPerTensorFixedPoint):
    """Signed power-of-two activation quantiser that truncates (FLOOR -> ``AP_TRN``)."""

    float_to_int_impl_type = FloatToIntImplType.FLOOR


class FloorUintActFixedPoint(Uint8ActPerTensorFixedPoint):
    """Unsigned power-of-two activation quantiser that truncates (FLOOR -> ``AP_TRN``)."""

    float_to_int_impl_type = FloatToIntImplType.FLOOR


class FixedPointBias(IntBias):
    """Signed bias at the accumulator scale (input scale x weight scale, a power of two).

    16 bits by default; pass ``bias_bit_width`` to the layer to change it.
    """

    bit_width = 16


@dataclass(frozen=True)
class QuantConfig:
    """Bit widths of a quantised twin.

    ``bits``: weights and hidden activations; ``activation_bits``: the hidden activations
    instead, when given (``compression.activation_bits``); ``input_bits``: the input quantiser;
    ``accumulator_bits``: bit width of the biases (which live at the accumulator scale);
    the accumulator itself is sized by hls4ml.
    """

    bits: int = 6
    input_bits: int = 8
    accumulator_bits: int = 16
    activation_bits: int | None = None

    def validate(self, where: str = "compression") -> None:
        for key, lo, hi in (("bits", 2, 16), ("input_bits", 2, 16), ("accumulator_bits", 8, 32),
                            ("activation_bits", 2, 16)):  # fmt: skip
            v = getattr(self, key)
            if key == "activation_bits" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InputError(f"{where}.{key}", f"an integer in [{lo}, {hi}]", repr(v))


# --------------------------------------------------------------------------- layer factories


def quant_input(input_bits: int) -> QuantIdentity:
    return QuantIdentity(
        act_quant=FloorIntActFixedPoint, bit_width=input_bits, return_quant_tensor=True
    )


def quant_linear(in_features: int, out_features: int, bits: int, bias_bits: int) -> QuantLinear:
    """A QuantLinear whose input must be a QuantTensor (the bias needs the input scale)."""
    return QuantLinear(
        in_features,
        out_features,
        bias=True,
        weight_quant=Int8WeightPerTensorFixedPoint,
        weight_bit_width=bits,
        bias_quant=FixedPointBias,
        bias_bit_width=bias_bits,
        return_quant_tensor=False,
    )


def quant_relu(bits: int) -> QuantReLU:
    return QuantReLU(act_quant=FloorUintActFixedPoint, bit_width=bits, return_quant_tensor=True)


def _quant_stack(
    in_dim: int,
    widths: Sequence[int],
    bits: int,
    bias_bits: int,
    *,
    final_activation: bool,
    dropout: float = 0.0,
    act_bits: int | None = None,
) -> list[nn.Module]:
    """``QuantLinear -> [Dropout] -> QuantReLU`` per width (last Linear bare unless asked);
    ``bits``-bit weights, ``act_bits``-bit activations (``bits`` when None).

    Dropout sits *before* the activation quantiser so the ReLU output stays on its grid
    (dropout rescales by ``1/(1-p)``); in eval mode both orders are the identity.
    """
    layers: list[nn.Module] = []
    prev = in_dim
    for i, width in enumerate(widths):
        layers.append(quant_linear(prev, width, bits, bias_bits))
        if i < len(widths) - 1 or final_activation:
            if dropout > 0.0:
                layers.append(nn.Dropout(dropout))
            layers.append(quant_relu(act_bits or bits))
        prev = width
    return layers


def _quant_phi(
    n_features: int, phi_hidden: Sequence[int], bits: int, bias_bits: int, act_bits: int | None
) -> nn.Sequential:
    """The per-constituent MLP of the set twins: every layer activated, its output on a grid."""
    layers = _quant_stack(
        n_features, list(phi_hidden), bits, bias_bits, final_activation=True, act_bits=act_bits
    )
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- models


class QuantMLP(nn.Sequential):
    """``Flatten, QuantIdentity, (QuantLinear, [Dropout], QuantReLU)*, QuantLinear``.

    Returns float logits (the last layer's accumulator value, exact in float32 for the
    bit widths used here). A plain ``nn.Sequential`` so export, pruning and cost walk it
    in order.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        hidden: Sequence[int],
        bits: int,
        input_bits: int,
        bias_bits: int = 16,
        dropout: float = 0.0,
        act_bits: int | None = None,
    ) -> None:
        in_dim = 1
        for d in input_shape:
            in_dim *= int(d)
        body = _quant_stack(
            in_dim,
            [*hidden, n_classes],
            bits,
            bias_bits,
            final_activation=False,
            dropout=dropout,
            act_bits=act_bits,
        )
        super().__init__(nn.Flatten(), quant_input(input_bits), *body)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.bits, self.input_bits, self.bias_bits = bits, input_bits, bias_bits
        self.act_bits = act_bits or bits


class QuantDeepSets(nn.Module):
    """Quantised Deep Sets: per-constituent ``phi``, pooling, re-quantisation, ``rho``.

    The pooled vector is re-quantised with an unsigned ``bits``-bit FLOOR quantiser so
    ``rho`` sees a fixed-point input again. Intended for QAT accuracy studies; the hls4ml
    flow here targets :class:`QuantMLP` only.
    """

    def __init__(
        self,
        n_constituents: int,
        n_features: int,
        n_classes: int,
        *,
        phi_hidden: Sequence[int],
        rho_hidden: Sequence[int],
        pooling: str,
        bits: int,
        input_bits: int,
        bias_bits: int = 16,
        act_bits: int | None = None,
    ) -> None:
        super().__init__()
        self.n_constituents = n_constituents
        self.pooling = pooling
        self.bits, self.input_bits, self.bias_bits = bits, input_bits, bias_bits
        self.quant_in = quant_input(input_bits)
        self.phi = _quant_phi(n_features, phi_hidden, bits, bias_bits, act_bits)
        # pooled ReLU outputs are >= 0: ReLU is the identity here
        self.pool_quant = quant_relu(act_bits or bits)
        self.rho = nn.Sequential(
            *_quant_stack(
                phi_hidden[-1],
                [*rho_hidden, n_classes],
                bits,
                bias_bits,
                final_activation=False,
                act_bits=act_bits,
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.phi(self.quant_in(x))
        hv = h.value if isinstance(h, QuantTensor) else h
        if self.pooling == "sum":
            pooled = hv.sum(dim=1)
        elif self.pooling == "max":
            pooled = hv.amax(dim=1)
        else:
            pooled = hv.mean(dim=1)
        return self.rho(self.pool_quant(pooled))


class QuantContext(nn.Module):
    """Quantised :class:`jetdistill.learn.models.EquivariantContext`: ``relu(A h_i + B q(pool h))``.

    ``h`` is a QuantTensor (unsigned ``bits``-bit values on a power-of-two grid ``s_h``) and
    the pool is taken on its values, so it stays in the integer domain: a masked sum or max
    of integers times ``s_h`` is again an integer times ``s_h``. The pool is re-quantised
    (:func:`pool_quantiser`) so that ``B`` sees a fixed-point input with a known width;
    ``A h_i`` (accumulator scale ``s_h s_A``, its bias there) and the broadcast ``B p``
    (accumulator scale ``s_p s_B``, its bias there) are both on power-of-two grids, so
    their sum is exact, and the FLOOR ReLU quantiser truncates it like ``AP_TRN``.
    """

    def __init__(
        self, in_dim: int, out_dim: int, *, pooling: str, n_constituents: int, bits: int,
        bias_bits: int, act_bits: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.pooling = pooling
        self.local = quant_linear(in_dim, out_dim, bits, bias_bits)
        self.context = quant_linear(in_dim, out_dim, bits, bias_bits)
        self.pool_quant = pool_quantiser(pooling, n_constituents, act_bits or bits)
        self.act = quant_relu(act_bits or bits)

    def forward(self, h: QuantTensor, mask: Tensor | None) -> QuantTensor:
        hv = h.value if isinstance(h, QuantTensor) else h  # plain tensors while calibrating
        pooled = self.pool_quant(relu_pool(hv, mask, self.pooling))
        return self.act(self.local(h) + self.context(pooled).unsqueeze(1))


def relu_pool(h: Tensor, mask: Tensor | None, pooling: str) -> Tensor:
    """:func:`jetdistill.learn.models.masked_pool` for ``h >= 0`` (ReLU outputs), as a chip does it.

    Padded rows are zeroed by the mask multiply (an AND) and then pooled with every row:
    for non-negative ``h`` the max of the masked rows is the max over the real ones (and 0
    for a jet without constituents), so no ``-inf`` fill or select is exported. Same
    values as ``masked_pool`` on such inputs; ``mask=None`` pools every slot.
    """
    if mask is None:
        from jetdistill.learn.models import masked_pool

        return masked_pool(h, None, pooling)
    gated = h * mask
    if pooling == "max":
        return gated.amax(dim=1)
    total = gated.sum(dim=1)
    if pooling == "mean":
        return total / mask.sum(dim=1).clamp(min=1.0)
    return total


def pool_quantiser(pooling: str, n_constituents: int, bits: int) -> QuantReLU:
    """Unsigned FLOOR re-quantiser of a pooled vector of ReLU outputs (>= 0, so the ReLU is
    the identity here).

    - ``max``: the result is already on the input grid; ``bits`` wide.
    - ``sum``: exact integer sum, whose range grows by up to ``C``: ``bits + ceil(log2 C)``
      wide so that the learned power-of-two scale need not drop low bits.
    - ``mean``: the masked sum divided by the number of real constituents, then FLOOR:
      bit-exactly ``floor(sum_int * 2**k / count)`` (a quotient by ``count <= C`` that is not
      on the grid lies at least ``1/C`` of a step from it, far beyond float32's rounding at
      these widths), but a chip needs a divide by ``count in 1..C`` for it.
      The chip's pooling is ``sum``; a mean with a fixed ``1/C`` (``C`` a power of two) is
      ``sum`` with ``B`` scaled by ``1/C``, which the power-of-two scales absorb, so it
      needs no option of its own.
    """
    extra = math.ceil(math.log2(n_constituents)) if pooling == "sum" and n_constituents > 1 else 0
    return quant_relu(bits + extra)


class QuantSetStudent(nn.Module):
    """Quantised :class:`jetdistill.learn.models.SetStudent` (same Linear order, same masking).

    ``quant_in`` -> per-constituent ``phi`` -> :class:`QuantContext` layers -> masked pool ->
    :func:`pool_quantiser` -> ``rho`` -> float logits (the last accumulator, as in
    :class:`QuantMLP`). The padding mask is computed from the *quantised* input, which is
    what the chip sees and keeps the twin bit-exact: a real constituent whose features all
    truncate to 0 (every one in ``[0, s_in)``, the input grid's first step) counts as padding.
    """

    def __init__(
        self, n_constituents: int, n_features: int, n_classes: int, *, phi_hidden: Sequence[int],
        context_widths: Sequence[int], context_pooling: str, pooling: str,
        rho_hidden: Sequence[int], mask_padding: bool, bits: int, input_bits: int,
        bias_bits: int = 16, act_bits: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.n_constituents, self.n_features = n_constituents, n_features
        self.pooling, self.context_pooling = pooling, context_pooling
        self.mask_padding = mask_padding
        self.bits, self.input_bits, self.bias_bits = bits, input_bits, bias_bits
        self.quant_in = quant_input(input_bits)
        self.phi = _quant_phi(n_features, phi_hidden, bits, bias_bits, act_bits)
        prev, layers = phi_hidden[-1], []
        for width in context_widths:
            layers.append(QuantContext(prev, width, pooling=context_pooling,
                                       n_constituents=n_constituents, bits=bits,
                                       bias_bits=bias_bits, act_bits=act_bits))  # fmt: skip
            prev = width
        self.context = nn.ModuleList(layers)
        self.embedding_dim = prev
        self.pool_quant = pool_quantiser(pooling, n_constituents, act_bits or bits)
        self.rho = nn.Sequential(
            *_quant_stack(
                prev,
                [*rho_hidden, n_classes],
                bits,
                bias_bits,
                final_activation=False,
                act_bits=act_bits,
            )
        )

    def embed(self, x: Tensor) -> QuantTensor:
        """The re-quantised pooled vector ``(B, embedding_dim)`` that ``rho`` classifies."""
        from jetdistill.learn.models import constituent_mask

        xq = self.quant_in(x)
        xv = xq.value if isinstance(xq, QuantTensor) else xq
        mask = constituent_mask(xv) if self.mask_padding else None
        h = self.phi(xq)
        for layer in self.context:
            h = layer(h, mask)
        hv = h.value if isinstance(h, QuantTensor) else h
        return self.pool_quant(relu_pool(hv, mask, self.pooling))

    def forward(self, x: Tensor) -> Tensor:
        return self.rho(self.embed(x))


def build_quant_model(
    spec: Mapping[str, Any],
    input_shape: Sequence[int],
    n_classes: int,
    bits: int,
    input_bits: int,
    *,
    bias_bits: int = 16,
    name: str | None = None,
    act_bits: int | None = None,
) -> nn.Module:
    """Quantised twin of the ``models.<name>`` block ``spec`` (a type with a registered twin):
    ``bits``-bit weights, ``act_bits``-bit hidden activations (``bits`` when None).

    The spec is validated by :func:`jetdistill.learn.models.resolve_spec`; twin-specific limits
    (ReLU only; BatchNorm only via folding in :func:`load_float_weights`) raise InputError.
    """
    from jetdistill.learn.models import MODEL_REGISTRY, resolve_spec

    prefix = f"models.{name}" if name else "model spec"
    QuantConfig(bits=bits, input_bits=input_bits, accumulator_bits=bias_bits,
                activation_bits=act_bits).validate(prefix)  # fmt: skip
    params = resolve_spec(spec, name=name)
    mtype = params.pop("type")
    twin = MODEL_REGISTRY[mtype].quant_twin
    if twin is None:
        raise InputError(
            f"{prefix}.type",
            f"one of {list(quant_model_types())} for a quantised twin",
            repr(mtype),
        )
    if params.get("activation", "relu") != "relu":
        raise InputError(f"{prefix}.activation", "'relu' (the only activation with a fixed-point twin)",
                         repr(params["activation"]))  # fmt: skip
    shape = tuple(int(d) for d in input_shape)
    if MODEL_REGISTRY[mtype].set_input and len(shape) != 2:
        raise InputError(
            f"{prefix} input_shape", f"(constituents, features) for {mtype}", repr(shape)
        )
    module, func = twin.split(":")
    build = getattr(importlib.import_module(module), func)
    model = build(shape, n_classes, bits=bits, input_bits=input_bits, bias_bits=bias_bits,
                  prefix=prefix, act_bits=act_bits, **params)  # fmt: skip
    log.info("built quantised %s twin: %d-bit weights/activations, %d-bit input, %d-bit bias",
             mtype, bits, input_bits, bias_bits)  # fmt: skip
    return model


def quant_model_types() -> tuple[str, ...]:
    """Model types with a registered quantised twin (:class:`jetdistill.learn.models.ModelType`)."""
    from jetdistill.learn.models import MODEL_REGISTRY

    return tuple(n for n, m in MODEL_REGISTRY.items() if m.quant_twin)


def build_quant_mlp(shape: tuple[int, ...], n_classes: int, *, bits: int, input_bits: int,
                    bias_bits: int, prefix: str, hidden: Sequence[int], dropout: float,
                    batch_norm: bool, activation: str, act_bits: int | None = None) -> nn.Module:  # fmt: skip
    """Twin of ``type: mlp`` (registered in :data:`jetdistill.learn.models.MODEL_REGISTRY`)."""
    if batch_norm:
        log.info("%s: batch_norm is folded into the Linear layers by load_float_weights", prefix)
    return QuantMLP(shape, n_classes, hidden=hidden, bits=bits, input_bits=input_bits,
                    bias_bits=bias_bits, dropout=dropout, act_bits=act_bits)  # fmt: skip


def build_quant_deepsets(shape: tuple[int, ...], n_classes: int, *, bits: int, input_bits: int,
                         bias_bits: int, prefix: str, phi_hidden: Sequence[int],
                         rho_hidden: Sequence[int], pooling: str, activation: str,
                         act_bits: int | None = None) -> nn.Module:  # fmt: skip
    """Twin of ``type: deepsets``."""
    return QuantDeepSets(shape[0], shape[1], n_classes, phi_hidden=phi_hidden, rho_hidden=rho_hidden,
                         pooling=pooling, bits=bits, input_bits=input_bits, bias_bits=bias_bits,
                         act_bits=act_bits)  # fmt: skip


def build_quant_set(shape: tuple[int, ...], n_classes: int, *, bits: int, input_bits: int,
                    bias_bits: int, prefix: str, phi_hidden: Sequence[int],
                    context_widths: Sequence[int], context_pooling: str, pooling: str,
                    rho_hidden: Sequence[int], activation: str, mask_padding: bool,
                    act_bits: int | None = None) -> nn.Module:  # fmt: skip
    """Twin of ``type: set``. ``mean`` pools need a divider on a chip (see :func:`pool_quantiser`)."""
    if pooling == "mean" or (context_pooling == "mean" and len(context_widths) > 0):
        log.info("%s: mean pooling is bit-exact in QAT but needs a divide by the constituent "
                 "count on a chip; sum or max pooling map to adders / comparators", prefix)  # fmt: skip
    return QuantSetStudent(shape[0], shape[1], n_classes, phi_hidden=phi_hidden,
                           context_widths=context_widths, context_pooling=context_pooling,
                           pooling=pooling, rho_hidden=rho_hidden, mask_padding=mask_padding,
                           bits=bits, input_bits=input_bits, bias_bits=bias_bits,
                           act_bits=act_bits)  # fmt: skip


# --------------------------------------------------------------------------- introspection


def quant_layers(qmodel: nn.Module) -> list[tuple[str, QuantLinear, int]]:
    """``(name, layer, weight bit width)`` of every QuantLinear, in forward order."""
    out = []
    for name, m in qmodel.named_modules():
        if isinstance(m, QuantLinear):
            out.append((name, m, round(float(m.quant_weight().bit_width))))
    return out


def weight_scale(layer: QuantLinear) -> float:
    return float(layer.quant_weight().scale)


def is_power_of_two(x: float) -> bool:
    import math

    if not x > 0 or not math.isfinite(x):
        return False
    mantissa, _ = math.frexp(x)
    return mantissa == 0.5


# --------------------------------------------------------------------------- float -> quant


def _fold_bn(
    weight: Tensor, bias: Tensor, bn: Mapping[str, Tensor], eps: float
) -> tuple[Tensor, Tensor]:
    """Fold eval-mode BatchNorm ``g*(z-mu)/sqrt(var+eps)+b`` into the preceding Linear."""
    inv = bn["weight"] / torch.sqrt(bn["running_var"] + eps)
    return weight * inv[:, None], (bias - bn["running_mean"]) * inv + bn["bias"]


def _linears_from_module(model: nn.Module) -> list[tuple[Tensor, Tensor]]:
    pairs: list[tuple[Tensor, Tensor]] = []
    for m in model.modules():
        if isinstance(m, nn.Linear):  # QuantLinear is a Linear too (quant -> quant copies work)
            b = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)
            pairs.append((m.weight.detach().clone(), b.clone()))
        elif isinstance(m, nn.BatchNorm1d):
            if not pairs or pairs[-1][0].shape[0] != m.num_features or not m.track_running_stats:
                raise InputError(
                    "load_float_weights", "BatchNorm1d directly after a Linear of the same width"
                )
            stats = {"weight": m.weight.detach() if m.affine else torch.ones(m.num_features),
                     "bias": m.bias.detach() if m.affine else torch.zeros(m.num_features),
                     "running_mean": m.running_mean, "running_var": m.running_var}  # fmt: skip
            pairs[-1] = _fold_bn(*pairs[-1], stats, m.eps)
    return pairs


def _linears_from_state(state: Mapping[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Linear (2-D ``*.weight``) tensors of a float state dict, in order; BN (eps 1e-5) folded."""
    pairs: list[tuple[Tensor, Tensor]] = []
    for key, value in state.items():
        if not key.endswith(".weight") and key != "weight":
            continue
        prefix = key[: -len("weight")]
        if value.ndim == 2:
            bias = state.get(prefix + "bias")
            pairs.append(
                (
                    value.detach().clone(),
                    bias.detach().clone() if bias is not None else torch.zeros(value.shape[0]),
                )
            )
        elif value.ndim == 1 and prefix + "running_mean" in state:
            if not pairs or pairs[-1][0].shape[0] != value.shape[0]:
                raise InputError(
                    f"load_float_weights state key {key}", "BatchNorm1d directly after a Linear"
                )
            stats = {
                k: state[prefix + k] for k in ("weight", "bias", "running_mean", "running_var")
            }
            pairs[-1] = _fold_bn(*pairs[-1], stats, 1e-5)
    return pairs


# --------------------------------------------------------------------------- input formats
#: the |x| percentile each input's range is fitted to by :func:`fit_input_gain`
GAIN_PERCENTILE = 99.9


def fit_input_gain(
    x: np.ndarray, *, per_feature: bool, percentile: float = GAIN_PERCENTILE, max_log2: int = 8
) -> np.ndarray:
    """Power-of-two gains that give every input the same fixed-point range, fitted to ``x``.

    Why: the twin's input quantiser is one per-tensor ``ap_fixed`` (hls4ml's QONNX reader takes
    no per-channel input ``Quant``), whose range the widest input sets. On the default c16
    view the leading constituent's pT reaches 18 while the trailing ones stay below 1 and most
    eta/phi values within 0.5, so at 8 bits (step 1/8) those inputs keep a few levels:
    measured (2026-12-06, mlp32 KD float students, 16-bit weights and activations) the 8-bit
    input alone cost 4-5 points before QAT, 0.5 with these gains. The gain of input ``k`` is
    ``2**floor(log2(a_max / a_k))``, ``a_k`` its ``percentile`` of ``|x|``: every input then
    spans (a_max/2, a_max], one per-tensor format fits them all, and on the chip the gain is
    only the choice of each input's fixed-point format (which bits of the upstream value are
    wired in, no logic). Inputs that are always zero keep gain 1; gains are capped at
    ``2**max_log2``.

    ``per_feature``: one gain per feature, shared by every constituent (a set model's
    per-constituent layers share their weights), shape ``(1, F)``; else one per input,
    shape ``x.shape[1:]``.
    """
    x = np.abs(np.asarray(x, dtype=np.float64))
    if per_feature:
        a = np.percentile(x.reshape(-1, x.shape[-1]), percentile, axis=0)[None, :]
    else:
        a = np.percentile(x, percentile, axis=0)
    amax = float(a.max())
    if amax <= 0:
        return np.ones_like(a, dtype=np.float32)
    e = np.where(a > 0, np.floor(np.log2(amax / np.where(a > 0, a, 1.0))), 0.0)
    return (2.0 ** np.clip(e, 0, max_log2)).astype(np.float32)


def shares_input_weights(spec: Mapping[str, Any]) -> bool:
    """Whether a model type's first layer is shared by every constituent (a set model):
    then its inputs can only be formatted per feature (:func:`fit_input_gain`)."""
    from jetdistill.learn.models import MODEL_REGISTRY

    return bool(MODEL_REGISTRY[spec["type"]].set_input)


def chip_inputs(x: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """``x`` as a QAT checkpoint's chip receives it: times its ``input_gain`` when it has one
    (exact in float32: the gains are powers of two)."""
    g = meta.get("input_gain")
    return x if g is None else apply_input_gain(x, g)


@torch.no_grad()
def load_float_weights(
    qmodel: nn.Module,
    float_model_or_state: nn.Module | Mapping[str, Tensor],
    *,
    calib_x: Tensor | None = None,
    input_gain: np.ndarray | None = None,
) -> nn.Module:
    """Initialise the twin from a trained float student (fine-tuning start point).

    Linear weights/biases are copied in forward order, BatchNorm folded into the Linear
    before it. Counts and shapes must match exactly (InputError otherwise). With
    ``input_gain`` (:func:`fit_input_gain`; the twin will see ``x * input_gain``) the first
    layer's input columns are divided by it, so the twin starts as the same function. With
    ``calib_x`` (already scaled) the activation scales are calibrated on it
    (:func:`calibrate`); else they initialise from the first training batches.
    """
    if isinstance(float_model_or_state, nn.Module):
        src = _linears_from_module(float_model_or_state)
    elif isinstance(float_model_or_state, Mapping):
        src = _linears_from_state(float_model_or_state)
    else:
        raise InputError(
            "load_float_weights",
            "an nn.Module or a state dict",
            type(float_model_or_state).__name__,
        )
    dst = [m for _, m, _ in quant_layers(qmodel)]
    if len(src) != len(dst):
        raise InputError(
            "load_float_weights",
            f"{len(dst)} Linear layers as in the quantised twin",
            str(len(src)),
        )
    for i, ((w, b), layer) in enumerate(zip(src, dst, strict=True)):
        if tuple(w.shape) != tuple(layer.weight.shape):
            raise InputError(f"load_float_weights layer {i}", f"weight shape {tuple(layer.weight.shape)}",
                             str(tuple(w.shape)))  # fmt: skip
        layer.weight.copy_(w.to(layer.weight))
        layer.bias.copy_(b.to(layer.bias))
    if input_gain is not None:
        g = torch.as_tensor(np.asarray(input_gain, dtype=np.float32).reshape(-1))
        if g.numel() != dst[0].weight.shape[1]:
            raise InputError("load_float_weights input_gain",
                             f"{dst[0].weight.shape[1]} gains (the first layer's inputs)", str(g.numel()))  # fmt: skip
        dst[0].weight.div_(g.to(dst[0].weight))
    log.info("loaded %d float Linear layers into the quantised twin", len(dst))
    if calib_x is not None:
        calibrate(qmodel, calib_x)
    return qmodel


@torch.no_grad()
def calibrate(qmodel: nn.Module, x: Tensor, batch_size: int = 1024) -> nn.Module:
    """Set every activation scale from statistics of ``x`` (Brevitas ``calibration_mode``).

    Without this, scales are initialised from the first 300 training forward passes;
    calibrating first gives fine-tuning a sensible start and makes eval-mode outputs of a
    freshly loaded twin meaningful. Leaves the model in eval mode.
    """
    from brevitas.graph.calibrate import calibration_mode

    qmodel.eval()
    device = next(qmodel.parameters()).device
    x = torch.as_tensor(x, dtype=torch.float32)
    with calibration_mode(qmodel):
        for start in range(0, x.shape[0], batch_size):
            qmodel(x[start : start + batch_size].to(device))
    qmodel.eval()
    return qmodel


# --------------------------------------------------------------------------- checkpoints
def checkpoint_meta(
    spec: Mapping[str, Any], input_shape: Sequence[int], n_classes: int, *, bits: int,
    input_bits: int, bias_bits: int, sparsity: float, name: str | None = None,
    input_gain: np.ndarray | None = None, act_bits: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What :func:`load_quant_model` needs to rebuild a QAT student: the float model's
    metadata (:func:`jetdistill.learn.models.checkpoint_meta`) plus the quantiser widths,
    stored in its checkpoint so the FPGA jobs need no compression settings; with
    ``input_gain``, the input formatting (:func:`chip_inputs`) the twin was trained behind."""
    from jetdistill.learn.models import checkpoint_meta as float_meta

    extra: dict[str, Any] = (
        {} if input_gain is None else {"input_gain": np.asarray(input_gain).tolist()}
    )
    if act_bits is not None and int(act_bits) != int(bits):
        extra["act_bits"] = int(act_bits)
    return {
        **extra,
        **float_meta(spec, input_shape, n_classes, name=name),
        "kind": "quant",
        "bits": int(bits),
        "input_bits": int(input_bits),
        "bias_bits": int(bias_bits),
        "sparsity": float(sparsity),
        "quantizers": "power-of-two per-tensor fixed point, FLOOR activation rounding",
    }


def load_quant_model(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a quantised twin from its self-describing checkpoint: ``(model in eval mode, meta)``."""
    from jetdistill.learn.training import checkpoint_meta as read_meta
    from jetdistill.learn.training import load_checkpoint

    meta = read_meta(path)
    if meta.get("kind") != "quant":
        raise InputError(str(path), "a quantised (QAT) checkpoint", f"kind {meta.get('kind')!r}")
    model = build_quant_model(meta["spec"], meta["input_shape"], meta["n_classes"], meta["bits"],
                              meta["input_bits"], bias_bits=meta["bias_bits"], name=meta["name"],
                              act_bits=meta.get("act_bits"))  # fmt: skip
    load_checkpoint(model, path)
    return model.eval(), meta
