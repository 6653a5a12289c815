"""Open-source hardware estimate of a quantised student: da4ml -> Verilog -> Verilator + Yosys.

No vendor tools are needed. The cleaned QONNX graph (the same one hls4ml converts, see
:mod:`jetdistill.fpga.hls`) is traced symbolically with da4ml's fixed-point variables: every
``Quant`` becomes an exact fixed-point cast and every constant matrix product becomes a
multiplier-free adder graph (distributed arithmetic), in which zero weights cost nothing,
so pruning shows up directly in the LUT count. Each ONNX op is traced by the handler
registered for it in :mod:`jetdistill.fpga.rtl_ops` (``register_rtl_op``, ``RTL_OPS``). From
the trace da4ml emits a pipelined Verilog design, which is

* checked bit for bit against Brevitas twice: da4ml's integer emulation on all test samples
  and a cycle-accurate Verilator simulation of the generated RTL on a few hundred;
* synthesised with Yosys ``synth_xilinx`` for LUT/FF/DSP/CARRY counts.

Latency is the number of register layers between input and output port (pipeline stages
plus the input register da4ml places), in cycles and in ns at the configured clock. The
stage split uses da4ml's adder-depth model (``latency_cutoff`` adder levels per stage);
it is an estimate, not a timing-closed result.

This module is the public path (:func:`quantize_inputs`, :func:`trace_qonnx`,
:func:`estimate_rtl`); the op handlers are in :mod:`jetdistill.fpga.rtl_ops` and the Verilator
and Yosys runs in :mod:`jetdistill.fpga.eda`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, JetDistillError
from jetdistill.fpga.eda import PROJECT, build_verilator_sim, require_tool, run_yosys
from jetdistill.fpga.qonnx import (
    UnsupportedGraphError,
    agreement_metrics,
    check_inputs,
    export_clean_qonnx,
    initializer,
    input_quant_node,
    quant_node_format,
    torch_forward,
)
from jetdistill.fpga.rtl_arrays import apply_shape_op, is_const
from jetdistill.fpga.rtl_ops import TraceState, trace_node
from jetdistill.io import write_json

log = logging.getLogger(__name__)


class RTLMismatchError(JetDistillError):
    """The traced integer model or its RTL does not reproduce Brevitas bit for bit."""


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
        v = apply_shape_op(node, v, mw)
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


def trace_qonnx(
    mw: Any, *, solver_options: dict[str, Any] | None = None, model_name: str | None = None
) -> Any:
    """Trace a cleaned QONNX graph into a da4ml ``CombLogic`` (combinational integer model).

    The graph input, after optional shape ops, must feed a ``Quant`` node: its fixed-point
    format is the input port's. Every other node is traced by its handler in
    :data:`~jetdistill.fpga.rtl_ops.RTL_OPS` (see
    :func:`~jetdistill.fpga.rtl_ops.register_rtl_op`); an op without one raises
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
        probe = apply_shape_op(node, probe, mw)
    k, i, f = int(fmt.signed), fmt.bits - int(fmt.signed) - fmt.frac, fmt.frac
    kif = [np.full(probe.shape, v, dtype=np.int8) for v in (k, i, f)]
    inp = FixedVariableArray.from_kif(*kif, HWConfig(1, -1, -1), solver_options=solver_options)
    state = TraceState(mw, {qnode.output[0]: inp}, model=model_name or "the QONNX graph")
    skip = {id(n) for n in chain} | {id(qnode)}
    for node in mw.graph.node:
        if id(node) not in skip:
            state.values[node.output[0]] = trace_node(node, state)

    out = state.values.get(mw.graph.output[0].name)
    if out is None or is_const(out):
        raise UnsupportedGraphError("graph output does not depend on the input")
    return comb_trace(inp.ravel(), out.ravel())


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
