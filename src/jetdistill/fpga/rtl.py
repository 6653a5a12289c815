"""Open-source hardware estimate of a quantised student: da4ml -> Verilog -> Verilator + Yosys.

No vendor tools are needed. The cleaned QONNX graph (the same one hls4ml converts, see
:mod:`jetdistill.fpga.hls`) is traced symbolically with da4ml's fixed-point variables: every
``Quant`` becomes an exact fixed-point cast and every constant matrix product becomes a
multiplier-free adder graph (distributed arithmetic), in which zero weights cost nothing,
so pruning shows up directly in the LUT count. Each ONNX op is traced by the handler
registered for it (:func:`register_rtl_op`, :data:`RTL_OPS`). From the trace da4ml emits a
pipelined Verilog design, which is

* checked bit for bit against Brevitas twice: da4ml's integer emulation on all test samples
  and a cycle-accurate Verilator simulation of the generated RTL on a few hundred;
* synthesised with Yosys ``synth_xilinx`` for LUT/FF/DSP/CARRY counts.

Latency is the number of register layers between input and output port (pipeline stages
plus the input register da4ml places), in cycles and in ns at the configured clock. The
stage split uses da4ml's adder-depth model (``latency_cutoff`` adder levels per stage);
it is an estimate, not a timing-closed result.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, JetDistillError
from jetdistill.fpga.qonnx import (
    SHAPE_OPS,
    UnsupportedGraphError,
    agreement_metrics,
    check_inputs,
    export_clean_qonnx,
    initializer,
    input_quant_node,
    node_attrs,
    quant_node_format,
    torch_forward,
)
from jetdistill.io import write_json

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `apt-get install yosys verilator`"
PROJECT = "jdnet"
#: Yosys cell names counted as LUTs (an INV occupies a LUT1 on the device).
LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV")
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "FDR", "FDS", "FDC", "FDP", "FD", "LDCE", "LDPE")
CARRY_CELLS = ("CARRY4", "CARRY8")
#: Verilated C++ of a 48-64-32-32-5 net takes minutes to optimise and seconds to run a few
#: hundred samples: compile it unoptimised (measured 6-8x faster end to end).
NO_OPT = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


class ToolNotFoundError(JetDistillError):
    """An external open-source tool (yosys, verilator) is not installed."""


class RTLMismatchError(JetDistillError):
    """The traced integer model or its RTL does not reproduce Brevitas bit for bit."""


class ToolFailedError(JetDistillError):
    """yosys/verilator/g++ failed or timed out; the message points to the log file."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(f"{name} not found on PATH: {INSTALL_HINT}")
    return path


# --------------------------------------------------------------------------- tracing


def _as_float_const(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _apply_shape_op(node: Any, value: Any, mw: Any) -> Any:
    """Reshape/Flatten/Transpose on either a numpy batch or a traced (1, ...) array."""
    attrs = node_attrs(node)
    if node.op_type in ("Identity",):
        return value
    if node.op_type == "Reshape":
        shape = [int(s) for s in initializer(mw, node.input[1])]
        if isinstance(value, np.ndarray):
            # numpy values carry the real batch; the exported shape has batch 1 (or -1)
            if shape and shape[0] in (1, -1):
                shape = [len(value), *shape[1:]]
            return value.reshape(shape)
        return value.reshape(*shape)
    if node.op_type == "Flatten":
        axis = int(attrs.get("axis", 1))
        lead = int(np.prod(value.shape[:axis]))
        return value.reshape(lead, -1)
    if node.op_type == "Transpose":
        perm = attrs.get("perm")
        return np.transpose(value, perm) if isinstance(value, np.ndarray) else value.transpose(perm)
    if node.op_type in ("Squeeze", "Unsqueeze"):
        return _squeeze(node, value, mw)
    raise UnsupportedGraphError(f"unexpected shape op {node.op_type}")


def _node_axes(node: Any, mw: Any) -> list[int] | None:
    """``axes`` of a node: its second input since opset 13/18, an attribute before; None if absent."""
    if len(node.input) > 1 and node.input[1]:
        return [int(a) for a in initializer(mw, node.input[1]).ravel()]
    axes = node_attrs(node).get("axes")
    return None if axes is None else [int(a) for a in axes]


def _squeeze(node: Any, value: Any, mw: Any) -> Any:
    """Squeeze/Unsqueeze as a reshape (the set student broadcasts its pooled context back to
    every constituent with ``Unsqueeze(axis=1)``). Works on numpy batches and traced arrays
    alike: both carry the batch axis, so ONNX's axis numbers apply unchanged."""
    shape = list(value.shape)
    axes = _node_axes(node, mw)
    if node.op_type == "Unsqueeze":
        if not axes:
            raise UnsupportedGraphError(f"Unsqueeze node {node.name!r} has no axes")
        rank = len(shape) + len(axes)
        for a in sorted(ax % rank for ax in axes):
            shape.insert(a, 1)
    else:
        drop = (
            {a % len(shape) for a in axes}
            if axes
            else {a for a, d in enumerate(shape) if d == 1 and a != 0}
        )
        if 0 in drop and not isinstance(value, np.ndarray):
            raise UnsupportedGraphError(f"Squeeze node {node.name!r} removes the batch axis")
        shape = [d for a, d in enumerate(shape) if a not in drop]
    return value.reshape(shape) if isinstance(value, np.ndarray) else value.reshape(*shape)


def quantize_inputs(mw: Any, x: np.ndarray) -> np.ndarray:
    """Apply the graph's input shape ops and input quantiser in numpy: the RTL's input words.

    The design takes already-quantised inputs (that is how a trigger would feed it), so the
    reference input for the emulation and Verilator runs is the quantiser's output, computed
    with qonnx's own ``Quant`` implementation (ROUND = half-to-even, like ``torch.round``).
    """
    from qonnx.custom_op.general.quant import quant

    chain, qnode = input_quant_node(mw)
    if qnode is None:
        raise UnsupportedGraphError(
            "the QONNX graph has no input Quant node: RTL needs a fixed-point input"
        )
    v: np.ndarray = np.asarray(x, dtype=np.float32)
    for node in chain:
        v = _apply_shape_op(node, v, mw)
    fmt = quant_node_format(mw, qnode)
    q = quant(
        v.astype(np.float32),
        initializer(mw, qnode.input[1]),
        initializer(mw, qnode.input[2]),
        initializer(mw, qnode.input[3]),
        int(fmt.signed),
        int(fmt.narrow),
        fmt.rounding,
    )
    return np.asarray(q, dtype=np.float64).reshape(len(x), -1)


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
#: the shape ops before it are consumed by :func:`trace_qonnx` itself (they define the ports).
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
        return _as_float_const(arr)


def _is_const(value: Any) -> bool:
    return isinstance(value, np.ndarray)


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


def trace_qonnx(
    mw: Any, *, solver_options: dict[str, Any] | None = None, model_name: str | None = None
) -> Any:
    """Trace a cleaned QONNX graph into a da4ml ``CombLogic`` (combinational integer model).

    The graph input, after optional shape ops, must feed a ``Quant`` node: its fixed-point
    format is the input port's. Every other node is traced by its handler in
    :data:`RTL_OPS` (see :func:`register_rtl_op`); an op without one raises
    :class:`UnsupportedGraphError` naming the node, ``model_name`` (what the graph is, e.g.
    the student's class and config name) and listing the registered ops.
    """
    from da4ml.trace import FixedVariableArray, HWConfig, comb_trace

    chain, qnode = input_quant_node(mw)
    if qnode is None:
        raise UnsupportedGraphError(
            "the QONNX graph has no input Quant node: RTL needs a fixed-point input"
        )
    fmt = quant_node_format(mw, qnode)
    in_shape = [int(d.dim_value) or 1 for d in mw.graph.input[0].type.tensor_type.shape.dim]
    probe = np.zeros(in_shape, dtype=np.float32)
    for node in chain:
        probe = _apply_shape_op(node, probe, mw)
    k, i, f = int(fmt.signed), fmt.bits - int(fmt.signed) - fmt.frac, fmt.frac
    kif = [np.full(probe.shape, v, dtype=np.int8) for v in (k, i, f)]
    inp = FixedVariableArray.from_kif(*kif, HWConfig(1, -1, -1), solver_options=solver_options)
    state = TraceState(mw, {qnode.output[0]: inp}, model=model_name or "the QONNX graph")
    skip = {id(n) for n in chain} | {id(qnode)}
    for node in mw.graph.node:
        if id(node) not in skip:
            state.values[node.output[0]] = trace_node(node, state)

    out = state.values.get(mw.graph.output[0].name)
    if out is None or _is_const(out):
        raise UnsupportedGraphError("graph output does not depend on the input")
    return comb_trace(inp.ravel(), out.ravel())


# --------------------------------------------------------------------------- op handlers


@register_rtl_op("Quant")
def _trace_quant(node: Any, state: TraceState) -> Any:
    """On a constant: qonnx's own ``quant`` (folded); on a traced value: an exact cast."""
    from qonnx.custom_op.general.quant import quant

    x = state.get(node.input[0])
    if not _is_const(x):
        return _quantize_traced(x, quant_node_format(state.mw, node), node)
    attrs = node_attrs(node)
    rnd = attrs.get("rounding_mode", "ROUND")
    rnd = rnd.decode() if isinstance(rnd, bytes) else rnd
    scale, zeropt, bits = (state.get(n) for n in node.input[1:4])
    out = quant(
        x, scale, zeropt, bits, int(attrs.get("signed", 1)), int(attrs.get("narrow", 0)), rnd
    )
    return _as_float_const(out)


def _constant_elements(value: Any) -> np.ndarray:
    """Where a traced array holds constants (da4ml interval ``low == high``), same shape.

    Such elements come from hidden units whose incoming weights are all zero (pruned, or
    pulled to zero by the CSD penalty): their output is ``relu(bias)`` on the activation grid.
    """
    flat = [v.low == v.high for v in value._vars.ravel()]
    return np.asarray(flat, dtype=bool).reshape(value.shape)


def _exact_dot(values: Sequence[Any], w: np.ndarray) -> np.ndarray:
    """``values @ w`` in exact rational arithmetic (every operand is a dyadic fraction),
    returned as float64, refused if float64 cannot hold a result exactly."""
    from fractions import Fraction

    vals = [Fraction(v) for v in values]
    out = []
    for col in w.T:
        total = sum((v * Fraction(float(c)) for v, c in zip(vals, col, strict=True)), Fraction(0))
        if Fraction(float(total)) != total:
            raise UnsupportedGraphError(f"a folded constant {total} is not exact in float64")
        out.append(float(total))
    return np.asarray(out, dtype=np.float64)


def matmul_folding_constants(x: Any, w: np.ndarray) -> Any:
    """``x @ w`` for a traced ``x`` of shape ``(..., n)`` and a constant matrix ``w`` ``(n, m)``,
    with the constant elements of ``x`` folded into a constant offset at trace time.

    Why: da4ml (0.6.0) builds each row's product with its adder-graph solver, which takes the
    inputs as intervals; a constant input is an interval of width zero. When the solver adds
    two negative terms (``-a - b``) it emits an op that computes ``a + b`` (the sign goes to
    the output) but labels it with the interval of ``-(a + b)``. For varying inputs that only
    mirrors a range; for constants it is a wrong constant: 1/8, 1/8, 1/4 times -1/8 come out
    as the interval [0, 0] instead of -1/16, and the solver's stage split then drops that
    output as a constant zero. Its emulation and the Verilog are then off by a fixed amount
    on every input (the penalised and pruned mlp16 was off by 2^-6 in one logit: 61 of the
    64 units of its second hidden layer had lost every incoming weight). Folding constants
    here is what a compiler does anyway: they need no adders, only the sum of the constant
    terms of each output, added once (da4ml's exact constant addition). Only the varying
    elements reach the solver; a row without any is a row of da4ml constants.
    """
    from da4ml.trace import FixedVariableArray
    from da4ml.trace.fixed_variable import FixedVariable

    w = np.asarray(w, dtype=np.float64)
    const = _constant_elements(x)
    if not const.any():
        return x @ w
    if w.ndim != 2:
        raise UnsupportedGraphError(
            f"a product of a traced value with constant elements and a {w.ndim}-D constant"
        )
    n, m = w.shape
    rows, const = x._vars.reshape(-1, n), const.reshape(-1, n)
    hwconf = rows.ravel()[0].hwconf
    out = np.empty((rows.shape[0], m), dtype=object)
    for r, (row, c) in enumerate(zip(rows, const, strict=True)):
        offset = _exact_dot([v.low for v in row[c]], w[c])
        if c.all():
            out[r] = [FixedVariable.from_const(v, hwconf=hwconf) for v in offset]
            continue
        live = FixedVariableArray(row[~c], x.solver_options, hwconf=x.hwconf) @ w[~c]
        out[r] = (live + offset)._vars if c.any() else live._vars
    return FixedVariableArray(out.reshape(*x.shape[:-1], m), x.solver_options, hwconf=x.hwconf)


def _const_product(a: Any, b: Any, where: str) -> Any:
    """``a @ b`` with exactly one operand traced (see :func:`matmul_folding_constants`)."""
    if _is_const(a) == _is_const(b):
        raise UnsupportedGraphError(f"{where}: exactly one operand must be constant")
    if _is_const(b):
        return matmul_folding_constants(a, b)
    if b.ndim == 2:  # constant @ traced = (traced^T @ constant^T)^T
        lead = a.shape[:-1]
        at = np.asarray(a, dtype=np.float64).reshape(-1, a.shape[-1]).T
        return matmul_folding_constants(b.T, at).T.reshape(*lead, b.shape[1])
    if _constant_elements(b).any():
        raise UnsupportedGraphError(f"{where}: a constant times a traced tensor of rank {b.ndim}")
    return a @ b


@register_rtl_op("MatMul")
def _trace_matmul(node: Any, state: TraceState) -> Any:
    """A constant matrix product: da4ml's multiplier-free adder graph (constants folded)."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    return _const_product(a, b, f"MatMul {node.name!r}")


@register_rtl_op("Gemm")
def _trace_gemm(node: Any, state: TraceState) -> Any:
    attrs = node_attrs(node)
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if attrs.get("transA", 0):
        raise UnsupportedGraphError(f"Gemm {node.name!r}: transA is not supported")
    if attrs.get("transB", 0):
        b = b.T
    y = _const_product(a, b, f"Gemm {node.name!r}") * float(attrs.get("alpha", 1.0))
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
    if _is_const(a) or _is_const(b):
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
    return np.maximum(x, 0) if _is_const(x) else x.relu()


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
    if not _is_const(x) and _is_mask(x) and node.op_type in ("ReduceMax", "ReduceMin"):
        # max / min of 0/1 values is an OR / AND gate, not a comparator tree (the padding mask:
        # a constituent is real if any of its features is nonzero)
        logic = np.any if node.op_type == "ReduceMax" else np.all
        return logic(x, axis=axes, keepdims=keepdims)
    fn = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.amax, "ReduceMin": np.amin}
    out = fn[node.op_type](x, axis=axes, keepdims=keepdims)
    return _as_float_const(out) if _is_const(x) else out


# ONNX TensorProto data types of Cast's ``to``
_FLOAT_TYPES = {1, 10, 11, 16}  # float, float16, double, bfloat16
_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}  # (u)int8/16/32/64
_BOOL = 9


@register_rtl_op("Equal")
def _trace_equal(node: Any, state: TraceState) -> Any:
    """``x == c`` -> a 0/1 value (a NOR of the bits of ``x - c``): the padding test ``x == 0``."""
    a, b = state.get(node.input[0]), state.get(node.input[1])
    if _is_const(a) and _is_const(b):
        return _as_float_const(np.equal(a, b))
    if _is_const(a):
        a, b = b, a
    return a == b


@register_rtl_op("Not")
def _trace_not(node: Any, state: TraceState) -> Any:
    """Logical NOT of a boolean (a 0/1 value, e.g. the output of ``Equal``)."""
    x = state.get(node.input[0])
    if _is_const(x):
        return _as_float_const(np.logical_not(x))
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
    if _is_const(x):
        return _as_float_const(x != 0) if to == _BOOL else np.trunc(x) if to in _INT_TYPES else x
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
            if not _is_const(v):
                raise UnsupportedGraphError(f"{state.where(node)}: the {key} bound is not constant")
            bounds.append(float(np.asarray(v).reshape(())))
        else:
            bounds.append(float(attrs[key]) if key in attrs else None)
    lo, hi = bounds
    if _is_const(x):
        return _as_float_const(np.clip(x, lo, hi))
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
    if _is_const(a) and _is_const(b):
        return _as_float_const(a / b)
    if not _is_const(b):
        raise UnsupportedGraphError(
            f"{state.where(node)}: division by a variable (e.g. a masked mean's count of real "
            "constituents) needs a divider, which the RTL tracer does not build; use sum or max "
            "pooling, or mask_padding: false (a mean over a fixed power-of-two count is a shift)"
        )
    if _is_const(a) or not np.all(b != 0):
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
    return _apply_shape_op(node, state.get(node.input[0]), state.mw)


# --------------------------------------------------------------------------- Verilator


def _verilator_version() -> tuple[int, int]:
    out = subprocess.run(
        ["verilator", "--version"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _verilator_root() -> Path:
    out = subprocess.run(
        ["verilator", "--getenv", "VERILATOR_ROOT"], check=False, capture_output=True, text=True
    ).stdout.strip()
    root = Path(out) if out else Path("/usr/share/verilator")
    if not (root / "include" / "verilated.h").exists():
        raise ToolNotFoundError(f"Verilator include files not found under {root}: {INSTALL_HINT}")
    return root


def _run(cmd: list[str], cwd: Path, log_path: Path, timeout_s: float, what: str) -> None:
    with open(log_path, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        try:
            r = subprocess.run(
                cmd, check=False, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as err:
            raise ToolFailedError(
                f"{what} timed out after {timeout_s:.0f} s; see {log_path}"
            ) from err
    if r.returncode != 0:
        tail = log_path.read_text()[-2000:]
        raise ToolFailedError(f"{what} failed (exit {r.returncode}); see {log_path}:\n{tail}")


def build_verilator_sim(
    rtl_model: Any, prj_dir: Path, *, jobs: int = 2, timeout_s: float = 1800
) -> None:
    """Verilate the da4ml wrapper and link da4ml's C++ binder into a loadable library.

    da4ml's own ``compile()`` relies on a Verilator that ships ``libverilated.a`` and knows the
    ``WIDTHTRUNC`` lint code (>= 5.008); Debian's 5.006 has neither, so the lint pragmas are
    downgraded to ``WIDTH`` and the Verilator runtime sources are compiled into the library.
    """
    require_tool("verilator")
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise ToolNotFoundError("g++ not found on PATH: install it with `apt-get install g++`")
    if _verilator_version() < (5, 8):
        for v in (prj_dir / "src" / "static").glob("*.v"):
            v.write_text(v.read_text().replace("WIDTHTRUNC", "WIDTH"))
    root = _verilator_root()
    sim = prj_dir / "sim"
    shutil.rmtree(sim / "obj_dir", ignore_errors=True)
    log_path = prj_dir / "verilator.log"
    log_path.write_text("")
    wrapper = f"{PROJECT}_wrapper"
    _run(
        ["verilator", "--cc", "-j", str(jobs), "-build", f"{wrapper}.v", "--prefix", f"V{wrapper}", "-Wall",
         "-Wno-fatal", "-CFLAGS", "-std=c++17 -fPIC -O0", "-MAKEFLAGS", NO_OPT, "-I../src",
         "-I../src/static"],
        sim, log_path, timeout_s, "verilator",
    )  # fmt: skip
    stamp = str(uuid.uuid4())
    inc = root / "include"
    _run(
        [cxx, "-std=c++17", "-fPIC", "-O0", "-I./obj_dir", f"-I{inc}", f"-I{inc / 'vltstd'}", "-I../src",
         "-pthread", "-shared", "-o", f"lib{wrapper}_{stamp}.so", f"{wrapper}_binder.cc",
         f"./obj_dir/V{wrapper}__ALL.a", str(inc / "verilated.cpp"), str(inc / "verilated_threads.cpp"), "-fopenmp"],
        sim, log_path, timeout_s, "g++ (Verilator binder)",
    )  # fmt: skip
    shutil.rmtree(sim / "obj_dir", ignore_errors=True)
    rtl_model._load_lib(stamp)


# --------------------------------------------------------------------------- Yosys


def parse_yosys_stat(text: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` block of a Yosys log -> luts/ffs/dsps/carry (+ raw cells)."""
    blocks = text.split("Number of cells:")
    if len(blocks) < 2:
        raise ToolFailedError("no 'Number of cells' block in the Yosys statistics")
    cells: dict[str, int] = {}
    for line in blocks[-1].splitlines()[1:]:
        m = re.match(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", line)
        if not m:
            if line.strip() == "" and cells:
                break
            continue
        cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return {
        "luts": sum(v for k, v in cells.items() if k in LUT_CELLS),
        "ffs": sum(v for k, v in cells.items() if k in FF_CELLS),
        "dsps": sum(v for k, v in cells.items() if k.startswith("DSP48")),
        "carry": sum(v for k, v in cells.items() if k in CARRY_CELLS),
        "cells": cells,  # type: ignore[dict-item]
    }


def run_yosys(
    prj_dir: Path, n_stages: int, *, family: str = "xcup", timeout_s: float = 1800
) -> dict[str, Any]:
    """``synth_xilinx`` of the pipelined top module (no I/O buffers: an in-context block)."""
    require_tool("yosys")
    src = prj_dir / "src"
    memfiles = sorted((src / "memfiles").glob("*")) if (src / "memfiles").exists() else []
    static = sorted(
        p for p in (src / "static").glob("*.v") if memfiles or p.name != "lookup_table.v"
    )
    stages = [src / f"{PROJECT}_stage{i}.v" for i in range(n_stages)]
    files = [*static, *[s for s in stages if s.exists()], src / f"{PROJECT}.v"]
    script = prj_dir / "synth.ys"
    stat = prj_dir / "yosys_stat.txt"
    script.write_text(
        "read_verilog -sv " + " ".join(str(p.resolve()) for p in files) + "\n"
        f"synth_xilinx -top {PROJECT} -family {family} -flatten -noiopad\n"
        f"tee -q -o {stat.resolve()} stat\n"
    )
    log_path = prj_dir / "yosys.log"
    log_path.write_text("")
    cwd = (src / "memfiles") if memfiles else prj_dir
    t0 = time.perf_counter()
    _run(
        ["yosys", "-q", "-s", str(script.resolve())], cwd, log_path, timeout_s, "yosys synth_xilinx"
    )
    res: dict[str, Any] = parse_yosys_stat(stat.read_text())
    res["yosys_s"] = round(time.perf_counter() - t0, 2)
    return res


# --------------------------------------------------------------------------- public API


def estimate_rtl(
    qmodel: Any,
    input_shape: Sequence[int],
    x_test: np.ndarray,
    out_dir: str | os.PathLike[str],
    *,
    clock_period_ns: float = 5.0,
    latency_cutoff: float = 5.0,
    yosys: bool = True,
    verilator: bool = True,
    verilator_samples: int = 300,
    yosys_timeout_s: float = 1800,
    part: str = "xcvu13p-flga2577-2-e",
    qonnx_model: Any = None,
    model_name: str | None = None,
) -> dict[str, Any]:
    """da4ml RTL of a Brevitas student, bit-exactness checks, Yosys resources and latency.

    Writes under ``out_dir`` the cleaned QONNX graph, the da4ml Verilog project
    (``out_dir/rtl/src/jdnet.v`` + stages), Verilator/Yosys logs and ``rtl_metrics.json``.
    ``qonnx_model`` may pass the already exported graph (a qonnx ``ModelWrapper`` or the
    ``qonnx_path`` that :func:`jetdistill.fpga.hls.convert_quantized` reports) to skip the export.
    ``model_name`` (e.g. the config's student name) is named, with the twin's class, in
    tracer errors such as an unsupported op.
    Returns ``rtl_exact_fraction`` (Verilator when run, else da4ml emulation),
    ``rtl_emulation_exact_fraction``, ``luts``, ``ffs``, ``dsps``, ``carry`` (Yosys when run,
    else da4ml's own estimate, see ``rtl_resource_source``), ``latency_cycles``,
    ``latency_ns``, ``verilog_path`` and wall times (``yosys_timeout_s`` also bounds the
    Verilator build). Raises :class:`RTLMismatchError` if the
    da4ml emulation or the RTL simulation is not bit-exact with Brevitas.
    """
    from da4ml.codegen import VerilogModel

    if verilator:
        require_tool("verilator")
    if yosys:
        require_tool("yosys")
    if not clock_period_ns > 0:
        raise InputError("fpga.clock_period_ns", "a positive number", repr(clock_period_ns))
    x = check_inputs(x_test, input_shape)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prj_dir = out / "rtl"
    shutil.rmtree(prj_dir, ignore_errors=True)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if qonnx_model is None:
        mw = export_clean_qonnx(qmodel, input_shape, out / "model.qonnx.onnx")
    elif isinstance(qonnx_model, (str, os.PathLike)):
        from qonnx.core.modelwrapper import ModelWrapper

        if not Path(qonnx_model).is_file():
            raise InputError(
                str(qonnx_model), "a cleaned QONNX file written by jetdistill.fpga.hls"
            )
        mw = ModelWrapper(str(qonnx_model))
    else:
        mw = qonnx_model
    what = type(qmodel).__name__
    comb = trace_qonnx(mw, model_name=f"{what} {model_name!r}" if model_name else what)
    timings["rtl_trace_s"] = time.perf_counter() - t0

    # 1) da4ml's integer emulation of the traced model vs Brevitas on every test sample
    ref = torch_forward(qmodel, x)
    xq = quantize_inputs(mw, x)
    emu = np.asarray(comb.predict(xq), dtype=np.float64)
    emu_metrics = agreement_metrics(ref, emu, "rtl_emulation")
    if emu_metrics["rtl_emulation_exact_fraction"] < 1.0:
        raise RTLMismatchError(
            f"da4ml emulation is not bit-exact with Brevitas: exact fraction "
            f"{emu_metrics['rtl_emulation_exact_fraction']:.4f}, max |diff| {emu_metrics['rtl_emulation_max_abs_diff']:.4g}"
        )

    # 2) Verilog generation (pipelined)
    t0 = time.perf_counter()
    vm = VerilogModel(
        comb,
        PROJECT,
        prj_dir,
        latency_cutoff=latency_cutoff,
        clock_period=clock_period_ns,
        part_name=part,
    )
    vm.write()
    pipe = vm._pipe
    n_stages = len(pipe.solutions) if pipe is not None else 0
    timings["rtl_codegen_s"] = time.perf_counter() - t0
    metrics: dict[str, Any] = {
        **emu_metrics,
        "rtl_n_samples": len(x),
        "latency_cycles": n_stages + 1 if n_stages else 0,
        "latency_ns": float((n_stages + 1 if n_stages else 0) * clock_period_ns),
        "rtl_stages": n_stages,
        "rtl_latency_cutoff": float(latency_cutoff),
        "da4ml_cost_luts": float(comb.cost),
        "da4ml_reg_bits": int(pipe.reg_bits) if pipe is not None else 0,
        "verilog_path": str((prj_dir / "src" / f"{PROJECT}.v").resolve()),
    }

    # 3) Verilator simulation of the generated RTL
    if verilator:
        t0 = time.perf_counter()
        build_verilator_sim(
            vm, prj_dir, jobs=max(1, min(2, os.cpu_count() or 1)), timeout_s=yosys_timeout_s
        )
        n = min(int(verilator_samples), len(x))
        y_rtl = np.asarray(vm.predict(xq[:n], n_threads=1), dtype=np.float64)
        sim = agreement_metrics(ref[:n], y_rtl, "rtl")
        metrics.update(sim, rtl_verilator_samples=n)
        timings["rtl_verilator_s"] = time.perf_counter() - t0
        if sim["rtl_exact_fraction"] < 1.0:
            raise RTLMismatchError(
                f"Verilator simulation of {metrics['verilog_path']} is not bit-exact with Brevitas: "
                f"exact fraction {sim['rtl_exact_fraction']:.4f} on {n} samples"
            )
    else:
        metrics["rtl_exact_fraction"] = emu_metrics["rtl_emulation_exact_fraction"]
        metrics["rtl_verilator_samples"] = 0

    # 4) Yosys synthesis
    if yosys:
        res = run_yosys(prj_dir, n_stages, timeout_s=yosys_timeout_s)
        timings["rtl_yosys_s"] = res.pop("yosys_s")
        cells = res.pop("cells")
        metrics.update(res, rtl_resource_source="yosys synth_xilinx")
        write_json(prj_dir / "yosys_cells.json", cells)
    else:
        metrics.update(
            luts=round(comb.cost), ffs=metrics["da4ml_reg_bits"], dsps=0, carry=0,
            rtl_resource_source="da4ml estimate",
        )  # fmt: skip
    metrics.update({k: round(v, 3) for k, v in timings.items()})
    log.info(
        "RTL: exact %.4f (emulation %.4f), %d LUT, %d FF, %d DSP, %d carry, %d cycles = %.1f ns",
        metrics["rtl_exact_fraction"], metrics["rtl_emulation_exact_fraction"], metrics["luts"], metrics["ffs"],
        metrics["dsps"], metrics["carry"], metrics["latency_cycles"], metrics["latency_ns"],
    )  # fmt: skip
    write_json(out / "rtl_metrics.json", metrics)
    return metrics


#: Name used in docs/ARCHITECTURE.md.
estimate = estimate_rtl
