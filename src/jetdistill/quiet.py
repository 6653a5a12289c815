"""Narrow filters for third-party messages that tell a user nothing they can act on.

Why: a QAT or FPGA job's log used to open with the same library warnings every time,
burying the project's own lines (accuracy, bit-exactness, LUTs). Each filter below matches
one message of one module, so any other warning of the same library still shows. They are
installed when :mod:`jetdistill` is imported, i.e. before any of these libraries is.
"""

from __future__ import annotations

import logging
import warnings


def install() -> None:
    """Install the filters (idempotent: ``warnings`` drops an identical earlier filter)."""
    # Brevitas tries to import the optional CUDA kernel package fast_hadamard_transform
    # (used only by rotation-based equalisation, which this project never runs) and warns
    # on every import that it falls back to plain PyTorch, which is what we want anyway.
    warnings.filterwarnings(
        "ignore",
        message="fast_hadamard_transform package not found",
        category=UserWarning,
        module=r"brevitas\.graph\.equalize",
    )
    # qonnx's GemmToMatMul warns for every Gemm node of a graph whose opset is not 9;
    # Brevitas exports opset >= 13. Whether the transformation is right is checked where it
    # matters: jetdistill.fpga.hls compares the hls4ml C simulation bit by bit with Brevitas.
    warnings.filterwarnings(
        "ignore",
        message="The GemmToMatMul transformation only offers explicit support",
        category=UserWarning,
        module=r"qonnx\.transformation\.gemm_to_matmul",
    )
    # torch.onnx's dynamo exporter runs onnx_ir / onnxscript optimisation passes that log
    # every pass and every de-duplicated initializer at INFO (dozens of lines per export);
    # their warnings and errors still show.
    for name in ("onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.WARNING)
