"""The RTL tracer's op registry: one handler per ONNX op, on da4ml fixed-point values.

:func:`jetdistill.fpga.rtl.trace_qonnx` walks the cleaned QONNX graph and hands every node
after the input ``Quant`` to :func:`trace_node`, which dispatches on the ONNX ``op_type`` to
the handler registered with :func:`register_rtl_op` (:data:`RTL_OPS`). A handler gets the
node and the :class:`TraceState` (the graph and the values computed so far) and returns the
node's output: a numpy array when all its inputs are constants (folded at trace time), else
a da4ml ``FixedVariableArray``. It either reproduces the QONNX semantics bit for bit or
raises :class:`~jetdistill.fpga.qonnx.UnsupportedGraphError` naming the node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jetdistill.fpga.qonnx import (
    SHAPE_OPS,
    UnsupportedGraphError,
    initializer,
    node_attrs,
    quant_node_format,
)
from jetdistill.fpga.rtl_arrays import apply_shape_op, as_float_const, const_product, is_const


def _quantize_traced(value: Any, fmt: Any, node: Any) -> Any:
    _, _, fs = value.kif
    max_f = int(np.max(fs))
    if max_f > fmt.frac and fmt.rounding != "FLOOR":
        raise UnsupportedGraphError(
            f"Quant node {node.name!r} drops fractional bits with rounding {fmt.rounding}: only FLOOR is "
            "exactly representable in the adder graph (use FLOOR activation rounding)"
        )
    k = int(fmt.signed)
    i = fmt.bits - k - fmt.frac
    overflow = "SAT_SYM" if (fmt.narrow and fmt.signed) else "SAT"
    return value.quantize(k, i, fmt.frac, overflow, "TRN")


#: A handler traces one ONNX node: ``fn(node, state) -> value of node.output[0]``. Values are
#: numpy arrays (constants, folded at trace time) or da4ml ``FixedVariableArray`` (traced).
RTLOpHandler = Callable[[Any, "TraceState"], Any]

#: ONNX ``op_type`` -> its handler; filled by :func:`register_rtl_op`. The input ``Quant`` and
#: the shape ops before it are consumed by :func:`jetdistill.fpga.rtl.trace_qonnx` itself
#: (they define the ports).
RTL_OPS: dict[str, RTLOpHandler] = {}


def register_rtl_op(*op_types: str) -> Callable[[RTLOpHandler], RTLOpHandler]:
    """Register ``fn(node, state) -> value`` as the tracer of the ONNX ops ``op_types``.

    Why a registry: every new student op (a pooling reduction, a mask) is one handler next
    to the others, and an unsupported op fails with the list of the supported ones, as
    hls4ml does with its per-layer handlers. A handler must either reproduce the QONNX
    semantics bit for bit or raise :class:`UnsupportedGraphError` naming the node.
    """
    if not op_types:
        raise ValueError("register_rtl_op needs at least one ONNX op type")

    def deco(fn: RTLOpHandler) -> RTLOpHandler:
        for op in op_types:
            if op in RTL_OPS:
                raise ValueError(f"ONNX op {op!r} has two RTL handlers")
            RTL_OPS[op] = fn
        return fn

    return deco


@dataclass
class TraceState:
    """What a handler sees: the cleaned QONNX graph and the values computed so far."""

    mw: Any
    values: dict[str, Any] = field(default_factory=dict)
    #: what the graph is (e.g. ``QuantSetStudent 'set16'``), named in every tracer error
    model: str = "the QONNX graph"

    def where(self, node: Any) -> str:
        """``"<op> node '<name>' of <model>"``: the prefix of a handler's error message."""
        return f"{node.op_type} node {node.name!r} of {self.model}"

    def get(self, name: str) -> Any:
        """A computed value, else the constant initializer ``name`` as float64."""
        if name in self.values:
            return self.values[name]
        arr = self.mw.get_initializer(name)
        if arr is None:
            raise UnsupportedGraphError(f"tensor {name!r} is neither computed nor a constant")
        return as_float_const(arr)


def trace_node(node: Any, state: TraceState) -> Any:
    """Trace one node with its registered handler (the error lists the registered ops)."""
    handler = RTL_OPS.get(node.op_type)
    if handler is None:
        raise UnsupportedGraphError(
            f"ONNX op {node.op_type} (node {node.name!r} of {state.model}) is not supported by "
            f"the RTL tracer; registered ops: {', '.join(sorted(RTL_OPS))} "
            "(add one with @register_rtl_op)"
        )
    try:
        return handler(node, state)
    except UnsupportedGraphError as err:
        if state.model in str(err):
            raise
        raise UnsupportedGraphError(f"{state.model}: {err}") from err


# --------------------------------------------------------------------------- op handlers


@register_rtl_op("Quant")
def _trace_quant(node: Any, state: TraceState) -> Any:
    """On a constant: qonnx's own ``quant`` (folded); on a traced value: an exact cast."""
    from qonnx.custom_op.general.quant import quant

    x = state.get(node.input[0])
    if not is_const(x):
        return _quantize_traced(x, quant_node_format(state.mw, node), node)
    attrs = node_attrs(node)
    rnd = attrs.get("rounding_mode", "ROUND")
    rnd = rnd.decode() if isinstance(rnd, bytes) else rnd
    scale, zeropt, bits = (state.get(n) for n in node.input[1:4])
    out = quant(
        x, scale, zeropt, bits, int(attrs.get("signed", 1)), int(attrs.get("narrow", 0)), rnd
    )
    return as_float_const(out)


@register_rtl_op("MatMul")
def _trace_matmul(node: Any, state: TraceState) -> Any:
    """A constant matrix product: da4ml's multiplier-free adder graph (constants folded)."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    return const_product(a, b, f"MatMul {node.name!r}")


@register_rtl_op("Gemm")
def _trace_gemm(node: Any, state: TraceState) -> Any:
    attrs = node_attrs(node)
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if attrs.get("transA", 0):
        raise UnsupportedGraphError(f"Gemm {node.name!r}: transA is not supported")
    if attrs.get("transB", 0):
        b = b.T
    y = const_product(a, b, f"Gemm {node.name!r}") * float(attrs.get("alpha", 1.0))
    if len(node.input) > 2 and node.input[2]:
        y = y + state.get(node.input[2]) * float(attrs.get("beta", 1.0))
    return y


@register_rtl_op("Add")
def _trace_add(node: Any, state: TraceState) -> Any:
    """Elementwise, numpy broadcasting (a per-set term added to every constituent)."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    return a + b


@register_rtl_op("Sub")
def _trace_sub(node: Any, state: TraceState) -> Any:
    a, b = state.get(node.input[0]), state.get(node.input[1])
    return a - b


def _is_mask(value: Any) -> bool:
    """A traced value that can only be 0 or 1 (unsigned, one integer bit, no fraction)."""
    k, i, f = value.kif
    return bool(np.all(k == 0) and np.all(i <= 1) and np.all(f <= 0))


@register_rtl_op("Mul")
def _trace_mul(node: Any, state: TraceState) -> Any:
    """By a constant, or by a 0/1 mask (a multiplexer, broadcast like numpy); any other
    variable product would need a multiplier (DSP), not adders."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if is_const(a) or is_const(b):
        return a * b
    if _is_mask(b):
        return np.where(b, a, 0.0)
    if _is_mask(a):
        return np.where(a, b, 0.0)
    raise UnsupportedGraphError(
        f"{state.where(node)}: variable x variable products are not supported "
        "(except by a 0/1 mask: an unsigned 1-bit integer Quant or a boolean)"
    )


@register_rtl_op("Relu")
def _trace_relu(node: Any, state: TraceState) -> Any:
    x = state.get(node.input[0])
    return np.maximum(x, 0) if is_const(x) else x.relu()


def _reduce_axes(node: Any, state: TraceState, ndim: int) -> tuple[int, ...]:
    """The axes of an ONNX ``Reduce*`` node (input since opset 18, attribute before), >= 0.

    The batch axis may not be reduced: the traced value has batch 1, so a reduction over it
    would trace as a no-op but mean something else for a real batch.
    """
    if len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in initializer(state.mw, node.input[1]).ravel()]
    else:
        axes = [int(a) for a in node_attrs(node).get("axes", [])]
    if not axes:
        if node_attrs(node).get("noop_with_empty_axes", 0):
            return ()
        axes = list(range(ndim))
    norm = tuple(sorted(a % ndim for a in axes))
    if 0 in norm:
        raise UnsupportedGraphError(
            f"{node.op_type} {node.name!r} reduces over the batch axis (axes {axes}): "
            "reduce over the constituents (axis 1) instead"
        )
    return norm


@register_rtl_op("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
def _trace_reduce(node: Any, state: TraceState) -> Any:
    """Pooling over constituents: sums and max/min are exact adder/comparator trees; a mean
    is exact only over a power-of-two count (a shift), anything else would need a divider."""
    x = state.get(node.input[0])
    axes = _reduce_axes(node, state, len(x.shape))
    if not axes:
        return x
    keepdims = bool(node_attrs(node).get("keepdims", 1))
    count = int(np.prod([x.shape[a] for a in axes]))
    if node.op_type == "ReduceMean" and count & (count - 1):
        raise UnsupportedGraphError(
            f"ReduceMean {node.name!r} averages {count} elements: only a power-of-two count is "
            "exact in fixed point (use sum pooling, or pad the set to a power of two)"
        )
    if not is_const(x) and _is_mask(x) and node.op_type in ("ReduceMax", "ReduceMin"):
        # max / min of 0/1 values is an OR / AND gate, not a comparator tree (the padding mask:
        # a constituent is real if any of its features is nonzero)
        logic = np.any if node.op_type == "ReduceMax" else np.all
        return logic(x, axis=axes, keepdims=keepdims)
    fn = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.amax, "ReduceMin": np.amin}
    out = fn[node.op_type](x, axis=axes, keepdims=keepdims)
    return as_float_const(out) if is_const(x) else out


# ONNX TensorProto data types of Cast's ``to``
_FLOAT_TYPES = {1, 10, 11, 16}  # float, float16, double, bfloat16
_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}  # (u)int8/16/32/64
_BOOL = 9


@register_rtl_op("Equal")
def _trace_equal(node: Any, state: TraceState) -> Any:
    """``x == c`` -> a 0/1 value (a NOR of the bits of ``x - c``): the padding test ``x == 0``."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if is_const(a) and is_const(b):
        return as_float_const(np.equal(a, b))
    if is_const(a):
        a, b = b, a
    return a == b


@register_rtl_op("Not")
def _trace_not(node: Any, state: TraceState) -> Any:
    """Logical NOT of a boolean (a 0/1 value, e.g. the output of ``Equal``)."""
    x = state.get(node.input[0])
    if is_const(x):
        return as_float_const(np.logical_not(x))
    if not _is_mask(x):
        raise UnsupportedGraphError(f"{state.where(node)}: input is not a boolean (0/1) value")
    return ~x


@register_rtl_op("Cast")
def _trace_cast(node: Any, state: TraceState) -> Any:
    """Casts of the mask chain (bool <-> int64 <-> float): values are unchanged in fixed point.

    To bool, a non-boolean becomes ``x != 0``; to an integer type the value must already be
    an integer (a fractional value would be truncated toward zero, not traced here).
    """
    x = state.get(node.input[0])
    to = int(node_attrs(node).get("to", 1))
    if is_const(x):
        return as_float_const(x != 0) if to == _BOOL else np.trunc(x) if to in _INT_TYPES else x
    if to == _BOOL:
        return x if _is_mask(x) else x != 0
    if to in _FLOAT_TYPES:
        return x
    if to in _INT_TYPES:
        if np.all(x.kif[2] <= 0):
            return x
        raise UnsupportedGraphError(
            f"{state.where(node)}: cast of a fractional fixed-point value to integer type {to}"
        )
    raise UnsupportedGraphError(f"{state.where(node)}: cast to ONNX type {to} is not supported")


@register_rtl_op("Clip")
def _trace_clip(node: Any, state: TraceState) -> Any:
    """Clip to constant bounds (inputs since opset 11, attributes before): comparators."""
    x = state.get(node.input[0])
    attrs = node_attrs(node)
    bounds = []
    for k, key in ((1, "min"), (2, "max")):
        if len(node.input) > k and node.input[k]:
            v = state.get(node.input[k])
            if not is_const(v):
                raise UnsupportedGraphError(f"{state.where(node)}: the {key} bound is not constant")
            bounds.append(float(np.asarray(v).reshape(())))
        else:
            bounds.append(float(attrs[key]) if key in attrs else None)
    lo, hi = bounds
    if is_const(x):
        return as_float_const(np.clip(x, lo, hi))
    if lo is not None:
        x = np.maximum(x, np.full(x.shape, lo))
    if hi is not None:
        x = np.minimum(x, np.full(x.shape, hi))
    return x


@register_rtl_op("Div")
def _trace_div(node: Any, state: TraceState) -> Any:
    """Division by a constant power of two (a shift). A variable divisor (the masked mean's
    count of real constituents) would need a divider, which the adder graph does not have."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if is_const(a) and is_const(b):
        return as_float_const(a / b)
    if not is_const(b):
        raise UnsupportedGraphError(
            f"{state.where(node)}: division by a variable (e.g. a masked mean's count of real "
            "constituents) needs a divider, which the RTL tracer does not build; use sum or max "
            "pooling, or mask_padding: false (a mean over a fixed power-of-two count is a shift)"
        )
    if is_const(a) or not np.all(b != 0):
        raise UnsupportedGraphError(f"{state.where(node)}: only variable / nonzero constant")
    mant, _ = np.frexp(np.abs(b))
    if not np.all(mant == 0.5):
        raise UnsupportedGraphError(
            f"{state.where(node)}: divisor {b.ravel()[:4]} is not a power of two (not exact in "
            "fixed point)"
        )
    return a * (1.0 / b)


@register_rtl_op(*SHAPE_OPS)
def _trace_shape(node: Any, state: TraceState) -> Any:
    return apply_shape_op(node, state.get(node.input[0]), state.mw)
