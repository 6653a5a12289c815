"""QONNX helpers shared by the hls4ml conversion (:mod:`.hls`) and the RTL estimate (:mod:`.rtl`).

Brevitas models reach hls4ml and da4ml only through QONNX: :func:`export_clean_qonnx`
exports and cleans the graph (channels-last, GemmToMatMul); the ``Quant`` nodes, read as
fixed-point formats (:func:`quant_node_format`), say which ap_fixed types reproduce
Brevitas bit for bit; :func:`torch_forward` and :func:`agreement_metrics` are the reference
and the exactness check every converted model is held to.
"""

from __future__ import annotations

import contextlib
import copy
import io as _stdio
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, JetDistillError
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

SHAPE_OPS = ("Reshape", "Flatten", "Transpose", "Identity", "Squeeze", "Unsqueeze")


class UnsupportedGraphError(JetDistillError):
    """The exported QONNX graph uses something the fixed-point flow cannot represent exactly."""


@dataclass(frozen=True)
class FixedFormat:
    """A power-of-two ``Quant`` node as a fixed-point type.

    ``bits`` total bits including the sign, ``frac`` fractional bits (scale = 2**-frac),
    ``rounding`` the QONNX rounding mode (ROUND is half-to-even, like ``torch.round``).
    """

    signed: bool
    bits: int
    frac: int
    narrow: bool
    rounding: str

    @property
    def int_bits(self) -> int:
        """hls4ml/ap_fixed integer bits (they include the sign bit)."""
        return self.bits - self.frac

    def hls_type(self) -> str:
        rnd = {"ROUND": "RND_CONV", "FLOOR": "TRN"}.get(self.rounding, "RND_CONV")
        sat = "SAT_SYM" if (self.narrow and self.signed) else "SAT"
        base = "fixed" if self.signed else "ufixed"
        return f"{base}<{self.bits},{self.int_bits},{rnd},{sat}>"


def initializer(mw: Any, name: str) -> np.ndarray:
    arr = mw.get_initializer(name)
    if arr is None:
        raise UnsupportedGraphError(f"QONNX tensor {name!r} is not a constant initializer")
    return np.asarray(arr)


def node_attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def quant_node_format(mw: Any, node: Any) -> FixedFormat:
    """Read a QONNX ``Quant`` node as a fixed-point format; reject what is not one.

    Why strict: a non power-of-two scale or a zero point would make the hls4ml types
    only an approximation, and the exactness checks would fail for reasons no one can fix
    downstream. Raising here names the node instead.
    """
    scale = initializer(mw, node.input[1]).astype(np.float64)
    zeropt = initializer(mw, node.input[2]).astype(np.float64)
    bits = initializer(mw, node.input[3]).astype(np.float64)
    attrs = node_attrs(node)
    rounding = attrs.get("rounding_mode", "ROUND")
    rounding = rounding.decode() if isinstance(rounding, bytes) else str(rounding)
    if scale.size != 1 or bits.size != 1:
        raise UnsupportedGraphError(
            f"Quant node {node.name!r}: only per-tensor scales are supported, got shape {scale.shape}"
        )
    if np.any(zeropt != 0):
        raise UnsupportedGraphError(
            f"Quant node {node.name!r}: zero point must be 0, got {zeropt.ravel()[:4]}"
        )
    s = float(scale.ravel()[0])
    frac = -math.log2(s) if s > 0 else float("nan")
    if not (s > 0 and float(frac).is_integer()):
        raise UnsupportedGraphError(f"Quant node {node.name!r}: scale {s} is not a power of two")
    b = float(bits.ravel()[0])
    if not b.is_integer():
        raise UnsupportedGraphError(f"Quant node {node.name!r}: bit width {b} is not an integer")
    return FixedFormat(
        signed=bool(attrs.get("signed", 1)),
        bits=int(b),
        frac=int(frac),
        narrow=bool(attrs.get("narrow", 0)),
        rounding=rounding.upper(),
    )


def input_quant_node(mw: Any) -> tuple[list[Any], Any | None]:
    """The shape-only nodes after the graph input and the ``Quant`` node that follows them.

    Returns ``([shape nodes...], quant_node)``; ``quant_node`` is None when the input is
    used unquantised (then hls4ml's default input type applies).
    """
    name = mw.graph.input[0].name
    chain: list[Any] = []
    while True:
        consumers = [n for n in mw.graph.node if n.input and n.input[0] == name]
        if len(consumers) != 1:
            return chain, None
        node = consumers[0]
        if node.op_type == "Quant":
            return chain, node
        if node.op_type not in SHAPE_OPS:
            return chain, None
        chain.append(node)
        name = node.output[0]


def export_clean_qonnx(
    qmodel: Any, input_shape: Sequence[int], onnx_path: str | os.PathLike[str]
) -> Any:
    """Export a Brevitas model to QONNX and bring it into the form hls4ml ingests.

    Returns the qonnx ``ModelWrapper`` (also saved, cleaned, at ``onnx_path``). The model is
    exported from a deep copy because the exporter toggles ``train()`` on the modules it
    visits, which would leave the caller's model in training mode (and Brevitas activation
    quantisers keep collecting statistics in training mode).
    """
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(qmodel).cpu().eval()
    dummy = torch.zeros((1, *tuple(int(d) for d in input_shape)), dtype=torch.float32)
    raw_path = onnx_path.with_name(onnx_path.stem + ".raw.onnx")
    with quiet_stdout("QONNX export"):  # the dynamo exporter prints progress to stdout
        export_qonnx(model, dummy, export_path=str(raw_path))
    mw = cleanup_model(ModelWrapper(str(raw_path)))
    mw = mw.transform(ConvertToChannelsLastAndClean())
    mw = mw.transform(GemmToMatMul())
    mw = cleanup_model(mw)
    with atomic_path(onnx_path) as tmp:
        mw.save(str(tmp))
    for leftover in raw_path.parent.glob(raw_path.name + "*"):  # the raw graph and its .data
        leftover.unlink(missing_ok=True)
    log.info("QONNX graph (%d nodes) written to %s", len(mw.graph.node), onnx_path)
    return mw


def torch_forward(model: Any, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Reference outputs of a torch/Brevitas model in eval mode (QuantTensor -> its value)."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            y = model(
                torch.as_tensor(np.ascontiguousarray(x[i : i + batch_size]), dtype=torch.float32)
            )
            y = getattr(y, "value", y)
            outs.append(y.detach().cpu().numpy().reshape(len(x[i : i + batch_size]), -1))
    return np.concatenate(outs).astype(np.float64)


def agreement_metrics(
    reference: np.ndarray, candidate: np.ndarray, prefix: str
) -> dict[str, float]:
    """Exact-vector fraction, argmax agreement and max |diff| between two (N, K) outputs."""
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    cand = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    if ref.shape != cand.shape:
        raise InputError(f"{prefix} outputs", f"shape {ref.shape}", str(cand.shape))
    return {
        f"{prefix}_exact_fraction": float(np.mean(np.all(ref == cand, axis=1))),
        f"{prefix}_argmax_agreement": float(np.mean(ref.argmax(1) == cand.argmax(1))),
        f"{prefix}_max_abs_diff": float(np.max(np.abs(ref - cand))) if ref.size else 0.0,
    }


def check_inputs(x_test: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x_test, dtype=np.float32))
    if (
        x.ndim != len(input_shape) + 1
        or tuple(x.shape[1:]) != tuple(int(d) for d in input_shape)
        or len(x) == 0
    ):
        raise InputError(
            "x_test",
            f"a non-empty array of shape (N, {', '.join(map(str, input_shape))})",
            str(x.shape),
        )
    return x


@contextlib.contextmanager
def quiet_stdout(what: str) -> Iterator[None]:
    """Route a library's progress prints (hls4ml, torch.onnx) into the debug log."""
    buf = _stdio.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        if buf.getvalue().strip():
            log.debug("%s output:\n%s", what, buf.getvalue())
