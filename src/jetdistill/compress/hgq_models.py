"""HGQ twins of the chip students: per-weight and per-activation bit widths (HGQ2, Keras 3).

The Brevitas twins (:mod:`jetdistill.compress.quant`) give every tensor one bit width. HGQ
(Sun et al., arXiv:2308.04405) learns one bit width per weight and per activation element,
with a differentiable cost ``beta * EBOPs`` (effective bit operations, a LUT proxy) added to
the loss, so training itself finds which multipliers the chip can drop. The twins here are
built with HGQ2 layers that da4ml's tracer (``da4ml.converter.trace_model``) converts bit for
bit, which is what makes a trained twin a chip design (tests/test_hgq_models.py checks it).

Each builder mirrors its float student layer for layer, so :func:`load_float_weights` can
start quantisation-aware training at the float student's accuracy:

- ``mlp``: ``Flatten`` (row-major over ``(C, F)``, as ``nn.Flatten``), then one ``QDense``
  per Linear; BatchNorm is folded into the Linear before it (the twin has none), dropout is
  an identity at inference;
- ``set``: per-constituent ``QDense`` (phi), context layers
  ``relu(QAdd(A h_i, B pool_j h_j))``, a pool and the ``rho`` head. Sum and power-of-two mean
  pools are ``QSum`` (a shift), max pools ``QGlobalMaxPooling1D``. Padding masking
  (``mask_padding``) is a 0/1 factor per constituent computed from the quantised input
  (``min(2^24 sum_f |x_f|, 1)``: nonzero iff some feature is, an OR of bits on the chip)
  that multiplies ``h`` before every pool, as :func:`jetdistill.learn.models.masked_pool`
  does; for ReLU outputs the masked max equals ``max_i(m_i h_i)``.

What cannot be exact on a chip is refused by the registry's ``hgq_limits`` (see
:func:`hgq_limits`): activations other than ReLU, and mean pools that need a divider (over
the real constituents, or over a count that is not a power of two).

Keras must run on the PyTorch backend and is imported inside the functions only, so that
importing this module costs nothing for the rest of the project.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jetdistill.errors import InputError

log = logging.getLogger(__name__)

#: Dense layers are named ``lin_00, lin_01, ...`` in the float student's Linear order.
LAYER_PREFIX = "lin_"
#: ``2^MASK_SHIFT`` times any nonzero quantised input is >= 1 (input fractional bits <= 24).
MASK_SHIFT = 24
#: ``(key, expected, got)`` naming a setting a twin cannot take, or None (``ChipLimits``).
Limit = tuple[str, str, str] | None


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def quantiser_scopes(init_bits: int) -> tuple[Any, ...]:
    """HGQ2 quantiser settings of JEDI-linear (:mod:`jetdistill.compress.peer`), which da4ml
    converts bit-exactly: weights ``kbi`` (``init_bits`` bits, saturating), activations
    ``kif`` per element (``init_bits`` fractional bits, wrapping, integer bits from data)."""
    from hgq.config import LayerConfigScope, QuantizerConfigScope
    from hgq.constraints import MinMax
    from hgq.regularizers import MonoL1

    return (
        QuantizerConfigScope(default_q_type="kbi", b0=init_bits, overflow_mode="wrap", i0=0,
                             fr=MonoL1(1e-8), ir=MonoL1(1e-8)),
        QuantizerConfigScope(default_q_type="kif", place="datalane", overflow_mode="wrap",
                             f0=init_bits, fr=MonoL1(1e-8), ic=MinMax(0, 12)),
        LayerConfigScope(beta0=0, enable_ebops=True),
        QuantizerConfigScope(place=("weight", "bias"), overflow_mode="SAT_SYM"),
    )  # fmt: skip


def input_quantiser() -> Any:
    """The input quantiser: per element, round to nearest (JEDI-linear's)."""
    from hgq.config import QuantizerConfig

    return QuantizerConfig(place="datalane", round_mode="RND")


class _Namer:
    """``lin_00, lin_01, ...``: the float student's Linear order, which load_float_weights
    copies by (the functional graph's layer order need not be it)."""

    def __init__(self) -> None:
        self.i = 0

    def __call__(self) -> str:
        self.i += 1
        return f"{LAYER_PREFIX}{self.i - 1:02d}"


def _dense(name: _Namer, units: int, relu: bool, **kw: Any) -> Any:
    from hgq.layers import QDense

    return QDense(units, activation="relu" if relu else None, name=name(), **kw)


def _refuse(problem: Limit) -> None:
    if problem:
        raise InputError(f"hgq twin {problem[0]}", problem[1], problem[2])


def build_hgq_mlp(
    shape: Sequence[int], n_classes: int, *, init_bits: int = 7, hidden: Sequence[int] = (64, 32, 32),
    activation: str = "relu", batch_norm: bool = False, dropout: float = 0.0,
) -> Any:  # fmt: skip
    """HGQ twin of :class:`jetdistill.learn.models.MLP`: ``Flatten``, ``QDense`` per Linear.

    ``batch_norm`` students are accepted because :func:`load_float_weights` folds their
    BatchNorm into the Linear before it; ``dropout`` is an identity at inference.
    """
    keras = _keras()
    _refuse(mlp_limits({"activation": activation}, None))
    name = _Namer()
    s = quantiser_scopes(init_bits)
    with s[0], s[1], s[2], s[3]:
        inp = keras.layers.Input(tuple(int(d) for d in shape))
        x = keras.layers.Flatten()(inp)
        for i, width in enumerate([*hidden, n_classes]):
            last = i == len(hidden)
            kw = {"iq_conf": input_quantiser()} if i == 0 else {}
            x = _dense(name, width, not last, **kw)(x)
    return keras.Model(inp, x, name="hgq_mlp")


def _pool(h: Any, mask: Any, pooling: str, n: int, keepdims: bool) -> Any:
    """``masked_pool`` of the float student over the constituent axis, in HGQ2 layers."""
    keras = _keras()
    from hgq.layers import QGlobalMaxPooling1D, QSum

    if mask is not None:
        h = keras.ops.multiply(h, mask)
    if pooling == "max":
        return QGlobalMaxPooling1D(keepdims=keepdims)(h)
    scale = 1.0 if pooling == "sum" else 1.0 / n  # a power of two: hgq_limits checked it
    return QSum(axes=1, scale=scale, keepdims=keepdims)(h)


def _padding_mask(inp: Any) -> Any:
    """``(B, C, 1)`` 0/1: whether a constituent has a nonzero quantised feature.

    From the quantised input (its own quantiser) because that is what the chip receives: a
    real constituent whose features all round to 0 is padding to the chip, and to the twin;
    ``min(2^24 sum_f |x_f|, 1)`` is 1 for any nonzero fixed-point value with at most 24
    fractional bits, also in float32 (a sum of non-negative terms), and da4ml traces abs, a
    sum, a shift and a min.
    """
    keras = _keras()
    from hgq.layers import QSum
    from hgq.quantizer import Quantizer

    xq = Quantizer(input_quantiser(), name="mask_iq")(inp)
    # a layer, not keras.ops.sum: da4ml's replay of a keras reduction drops its axis
    a = QSum(axes=-1, keepdims=True, enable_iq=False, name="mask_any")(keras.ops.abs(xq))
    return keras.ops.minimum(keras.ops.multiply(a, float(2**MASK_SHIFT)), 1.0)


def build_hgq_set(
    shape: Sequence[int], n_classes: int, *, init_bits: int = 7, phi_hidden: Sequence[int] = (32, 32),
    context_widths: Sequence[int] = (32,), context_pooling: str = "mean", pooling: str = "max",
    rho_hidden: Sequence[int] = (32,), activation: str = "relu", mask_padding: bool = True,
) -> Any:  # fmt: skip
    """HGQ twin of :class:`jetdistill.learn.models.SetStudent` (same defaults, same maths).

    Dense layers are created in the float student's Linear order (phi, then each context
    layer's ``local`` and ``context``, then rho), which :func:`load_float_weights` relies on.
    """
    keras = _keras()
    from hgq.layers import QAdd

    _refuse(set_limits(
        {"context_widths": list(context_widths), "context_pooling": context_pooling,
         "pooling": pooling, "activation": activation, "mask_padding": mask_padding}, shape[0],
    ))  # fmt: skip
    n = int(shape[0])
    name = _Namer()
    s = quantiser_scopes(init_bits)
    with s[0], s[1], s[2], s[3]:
        inp = keras.layers.Input((n, int(shape[1])))
        mask = _padding_mask(inp) if mask_padding else None
        h = inp
        for i, width in enumerate(phi_hidden):
            kw = {"iq_conf": input_quantiser()} if i == 0 else {}
            h = _dense(name, width, True, **kw)(h)
        for width in context_widths:
            local = _dense(name, width, False)(h)
            pooled = _pool(h, mask, context_pooling, n, keepdims=True)  # (B, 1, L)
            glob = _dense(name, width, False)(pooled)
            h = keras.layers.ReLU()(QAdd()([local, glob]))
        x = _pool(h, mask, pooling, n, keepdims=False)
        for i, width in enumerate([*rho_hidden, n_classes]):
            x = _dense(name, width, i < len(rho_hidden))(x)
    return keras.Model(inp, x, name="hgq_set")


def build_hgq_model(
    spec: Mapping[str, Any], shape: Sequence[int], n_classes: int, *, init_bits: int
) -> Any:
    """:func:`jetdistill.learn.models.build_hgq_model` (the registry's dispatch), here too so
    that callers of this module need one import."""
    from jetdistill.learn.models import build_hgq_model as build

    return build(spec, shape, n_classes, init_bits=init_bits)


# --------------------------------------------------------------------------- limits
def _relu_limit(params: Mapping[str, Any]) -> Limit:
    if params.get("activation", "relu") != "relu":
        return "activation", "relu (da4ml traces ReLU; other activations need lookup tables)", repr(params["activation"])  # fmt: skip
    return None


def mlp_limits(params: Mapping[str, Any], n_constituents: int | None) -> Limit:
    """ReLU only (BatchNorm folds, dropout is an identity: nothing else to refuse)."""
    return _relu_limit(params)


def set_limits(params: Mapping[str, Any], n_constituents: int | None) -> Limit:
    """ReLU only; a mean pool only where it is a shift: unmasked, over a power-of-two count
    (a mean over the real constituents divides by their number: a divider, no HGQ2 layer)."""
    bad = _relu_limit(params)
    if bad:
        return bad
    keys = ("context_pooling", "pooling") if params.get("context_widths") else ("pooling",)
    for key in keys:
        if params.get(key) != "mean":
            continue
        if params.get("mask_padding"):
            return key, "sum or max (a mean over the real constituents needs a divider), or mask_padding: false", "'mean'"  # fmt: skip
        if not n_constituents or n_constituents & (n_constituents - 1):
            return key, f"sum or max (a mean is a shift only over a power-of-two count, not {n_constituents})", "'mean'"  # fmt: skip
    return None


def hgq_limits(params: Mapping[str, Any], n_constituents: int | None) -> Limit:
    """``(key, expected, got)`` for a ``models.<name>`` spec (defaults filled in here) whose
    HGQ twin cannot be built bit-exactly, else None; dispatches on ``params["type"]``."""
    from jetdistill.learn.models import MODEL_REGISTRY, hgq_model_types, resolve_spec

    mtype = params.get("type")
    if mtype not in hgq_model_types():
        return "type", f"one of {list(hgq_model_types())} (types with an HGQ twin)", repr(mtype)
    check = MODEL_REGISTRY[mtype].hgq_limits
    return check(resolve_spec(params), n_constituents) if check else None


# --------------------------------------------------------------------------- weights
def _fold_bn(
    w: torch.Tensor, b: torch.Tensor, bn: nn.BatchNorm1d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm ``g (z - mu) / sqrt(var + eps) + beta`` folded into the Linear."""
    g = bn.weight.detach() if bn.affine else torch.ones(bn.num_features)
    beta = bn.bias.detach() if bn.affine else torch.zeros(bn.num_features)
    inv = g / torch.sqrt(bn.running_var + bn.eps)
    return w * inv[:, None], (b - bn.running_mean) * inv + beta


def float_linears(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(weight (out, in), bias)`` of every Linear in forward order, BatchNorm folded."""
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            b = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)
            pairs.append((m.weight.detach().clone(), b.clone()))
        elif isinstance(m, nn.BatchNorm1d):
            if not pairs or pairs[-1][0].shape[0] != m.num_features or m.running_var is None:
                raise InputError(
                    "load_float_weights", "BatchNorm1d right after a Linear of its width"
                )
            pairs[-1] = _fold_bn(*pairs[-1], m)
    return [(w.double().numpy(), b.double().numpy()) for w, b in pairs]


def dense_layers(kmodel: Any) -> list[Any]:
    """The twin's ``QDense`` layers in the float student's Linear order (by name)."""
    layers = [ly for ly in kmodel.layers if ly.name.startswith(LAYER_PREFIX)]
    return sorted(layers, key=lambda ly: ly.name)


def _fit_integer_bits(quantizer: Any, values: Any) -> None:
    """Set a saturating weight quantiser's integer bits per element to the fewest that hold
    ``values``: the default (0) would clip a float student's weights above 1."""
    keras = _keras()
    q = quantizer.quantizer
    q._i.assign(keras.ops.cast(q.get_minimal_i(values), q._i.dtype))


def load_float_weights(kmodel: Any, float_model: nn.Module) -> None:
    """Copy the float student's Linear weights (BatchNorm folded) into the twin.

    Each weight keeps the twin's ``b`` bits with its integer bits fitted to its magnitude, so
    QAT starts from the float function up to the rounding of ``init_bits`` significant bits.
    Activation integer bits still come from data: run :func:`calibrate` (or train) first.
    """
    src = float_linears(float_model)
    dst = dense_layers(kmodel)
    if len(src) != len(dst):
        raise InputError("load_float_weights", f"{len(dst)} Linear layers as in the HGQ twin", str(len(src)))  # fmt: skip
    for i, ((w, b), layer) in enumerate(zip(src, dst, strict=True)):
        kernel = w.T.astype(np.float32)
        if tuple(kernel.shape) != tuple(layer.kernel.shape):
            raise InputError(f"load_float_weights layer {i}", f"kernel shape {tuple(layer.kernel.shape)}",
                             str(tuple(kernel.shape)))  # fmt: skip
        layer.kernel.assign(kernel)
        layer.bias.assign(b.astype(np.float32))
        _fit_integer_bits(layer.kq, layer.kernel)
        _fit_integer_bits(layer.bq, layer.bias)
    log.info("loaded %d float Linear layers into the HGQ twin %s", len(dst), kmodel.name)


def calibrate(kmodel: Any, x: np.ndarray, batch_size: int = 4096) -> float:
    """Activation integer bits from ``x`` (HGQ2's ``trace_minmax``; wrapping quantisers need
    them before conversion); returns the EBOPs it measures."""
    from hgq.utils import trace_minmax

    return float(trace_minmax(kmodel, np.asarray(x, dtype=np.float32), batch_size=batch_size))


def ebops(kmodel: Any) -> float:
    """Sum of the layers' EBOPs as last measured (the last training step or :func:`calibrate`)."""
    keras = _keras()
    from hgq.layers import QLayerBase

    return float(sum(
        int(keras.ops.convert_to_numpy(ly._ebops)) for ly in kmodel._flatten_layers()
        if isinstance(ly, QLayerBase) and ly.enable_ebops
    ))  # fmt: skip


# --------------------------------------------------------------------------- files
#: The meta's entry inside the ``.keras`` zip (Keras reads only its own entries).
META_ENTRY = "jetdistill_meta.json"


def save_hgq_model(kmodel: Any, path: str | os.PathLike[str], meta: Mapping[str, Any]) -> Path:
    """One ``.keras`` file: the model (HGQ2 layers, bit widths included) with ``meta`` as a
    JSON entry of the same zip, so the file is self-describing and an atomic rename of it
    (:func:`jetdistill.io.atomic_path`) moves both."""
    path = Path(path)
    if path.suffix != ".keras":
        raise InputError(str(path), "a path ending in .keras", path.suffix or "no suffix")
    path.parent.mkdir(parents=True, exist_ok=True)
    kmodel.save(path)
    text = json.dumps(dict(meta), indent=1, default=_jsonable)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(META_ENTRY, text)
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def read_hgq_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The meta of a file written by :func:`save_hgq_model`, without Keras."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(META_ENTRY))
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(
            str(path), "an HGQ model file written by save_hgq_model", str(exc)
        ) from None


def load_hgq_model(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """``(model, meta)`` saved by :func:`save_hgq_model` (HGQ2's custom layers registered)."""
    keras = _keras()
    import hgq  # noqa: F401  (registers HGQ2's layers with Keras' deserialiser)

    meta = read_hgq_meta(path)
    return keras.models.load_model(Path(path), compile=False), meta
