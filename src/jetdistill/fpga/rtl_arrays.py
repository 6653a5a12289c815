"""Operations on the RTL tracer's values that are more than one numpy call.

A value is a numpy array (a constant, folded at trace time) or a da4ml ``FixedVariableArray``
(traced). Both the op handlers (:mod:`jetdistill.fpga.rtl_ops`) and the input path of
:mod:`jetdistill.fpga.rtl` (the shape ops before the input ``Quant``, applied to numpy
batches) use these, so they live below both: the ONNX shape ops on either kind of value, and
the matrix product with a constant that folds the constant elements of a traced operand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jetdistill.fpga.qonnx import UnsupportedGraphError, initializer, node_attrs


def as_float_const(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def is_const(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def apply_shape_op(node: Any, value: Any, mw: Any) -> Any:
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


def const_product(a: Any, b: Any, where: str) -> Any:
    """``a @ b`` with exactly one operand traced (see :func:`matmul_folding_constants`)."""
    if is_const(a) == is_const(b):
        raise UnsupportedGraphError(f"{where}: exactly one operand must be constant")
    if is_const(b):
        return matmul_folding_constants(a, b)
    if b.ndim == 2:  # constant @ traced = (traced^T @ constant^T)^T
        lead = a.shape[:-1]
        at = np.asarray(a, dtype=np.float64).reshape(-1, a.shape[-1]).T
        return matmul_folding_constants(b.T, at).T.reshape(*lead, b.shape[1])
    if _constant_elements(b).any():
        raise UnsupportedGraphError(f"{where}: a constant times a traced tensor of rank {b.ndim}")
    return a @ b
