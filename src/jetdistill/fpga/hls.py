"""hls4ml conversion of the students, bit-exactness checks and (optional) vendor synthesis.

Quantised (Brevitas) students reach hls4ml only through QONNX: Brevitas exports the graph
with explicit ``Quant`` nodes, qonnx cleans it and hls4ml turns every ``Quant`` into a
fixed-point type. With power-of-two scales and FLOOR activation rounding every quantiser
is an exact ``ap_fixed`` cast, so the hls4ml C simulation must reproduce Brevitas *bit for
bit*; ``hls_exact_fraction`` measures exactly that and anything below 1.0 is a bug in the
conversion, not a rounding nuisance. Float students go through hls4ml's PyTorch frontend
at a fixed precision, where only argmax agreement is meaningful.

Vendor synthesis (Vivado/Vitis HLS) runs only where those tools are installed; the
open-source estimate of the same integer model lives in :mod:`jetdistill.fpga.rtl`.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, JetDistillError
from jetdistill.fpga.qonnx import (
    UnsupportedGraphError,
    agreement_metrics,
    check_inputs,
    export_clean_qonnx,
    input_quant_node,
    quant_node_format,
    quiet_stdout,
    torch_forward,
)
from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

BACKENDS = ("Vitis", "Vivado", "VivadoAccelerator")
VENDOR_MODES = ("auto", "never", "always")
#: HLS tool each backend's ``build()`` shells out to.
VENDOR_TOOLS = {
    "Vitis": ("vitis-run",),
    "Vivado": ("vivado_hls", "vitis_hls"),
    "VivadoAccelerator": ("vivado_hls",),
}
#: ONNX ops that only move data around; allowed between the graph input and its quantiser.
#: Strings hls4ml writes verbatim into generated files (``set part "..."`` in project.tcl,
#: C++ type aliases): anything else could inject Tcl (``[exec ...]``) or C++. Same patterns
#: as ``fpga.part`` / ``fpga.float_precision`` in the config schema.
SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SAFE_PRECISION = re.compile(
    r"^(ap_)?u?(fixed|int)<[0-9]{1,3}(,-?[0-9]{1,3})?(,[A-Z_]{2,12}){0,3}>$"
)
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_generated_string(where: str, value: str, pattern: re.Pattern[str]) -> str:
    """Return ``value`` if it matches ``pattern``; InputError naming ``where`` otherwise."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InputError(where, f"a string matching {pattern.pattern}", repr(value))
    return value


class HLSAgreementError(JetDistillError):
    """The hls4ml C simulation disagrees with the reference model beyond the tolerance."""


class VendorToolError(JetDistillError):
    """Vendor synthesis was required (``vendor: always``) but the tool is missing or failed."""


@dataclass(frozen=True)
class HLSConfig:
    """hls4ml settings; field names follow ``config["fpga"]`` in the schema."""

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    clock_period_ns: float = 5.0
    part: str = "xcvu13p-flga2577-2-e"
    agreement_tolerance: float = 0.99
    vendor: str = "auto"
    #: precision of tensors no ``Quant`` node fixes (the float path uses its own argument).
    default_precision: str = "fixed<16,6>"
    project_name: str = "jetdistill"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError("fpga.backend", f"one of {BACKENDS}", repr(self.backend))
        if self.io_type != "io_parallel":
            raise InputError(
                "fpga.io_type",
                "'io_parallel' (the only type the checks are validated for)",
                repr(self.io_type),
            )
        if self.strategy not in ("Latency", "Resource"):
            raise InputError("fpga.strategy", "'Latency' or 'Resource'", repr(self.strategy))
        if int(self.reuse_factor) < 1:
            raise InputError("fpga.reuse_factor", "an integer >= 1", repr(self.reuse_factor))
        if not self.clock_period_ns > 0:
            raise InputError(
                "fpga.clock_period_ns", "a positive number", repr(self.clock_period_ns)
            )
        if not 0.0 <= self.agreement_tolerance <= 1.0:
            raise InputError(
                "fpga.agreement_tolerance", "a number in [0, 1]", repr(self.agreement_tolerance)
            )
        if self.vendor not in VENDOR_MODES:
            raise InputError("fpga.vendor", f"one of {VENDOR_MODES}", repr(self.vendor))
        check_generated_string("fpga.part", self.part, SAFE_PART)
        check_generated_string("hls default_precision", self.default_precision, SAFE_PRECISION)
        check_generated_string("hls project_name", self.project_name, SAFE_NAME)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> HLSConfig:
        """Build from ``config["fpga"]``; keys that are not hls4ml settings are ignored."""
        d = d or {}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_agreement(metrics: dict[str, float], tolerance: float, what: str) -> None:
    agree = metrics["hls_argmax_agreement"]
    if agree < tolerance:
        raise HLSAgreementError(
            f"{what}: hls4ml C simulation argmax agreement {agree:.4f} < tolerance {tolerance:.4f} "
            f"(exact fraction {metrics['hls_exact_fraction']:.4f}, max |diff| {metrics['hls_max_abs_diff']:.4g}, "
            f"n={metrics['hls_n_samples']})"
        )


def _hls_predict(hls_model: Any, x: np.ndarray) -> np.ndarray:
    y = np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float32)))
    return y.reshape(len(x), -1).astype(np.float64)


def _fresh_dir(out_dir: str | os.PathLike[str]) -> Path:
    """hls4ml writes many files into its project directory; stale ones would be mixed in."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


# --------------------------------------------------------------------------- public API


def build_quantized_hls_model(
    qmodel: Any, input_shape: Sequence[int], out_dir: str | os.PathLike[str], cfg: HLSConfig
) -> tuple[Any, Any]:
    """QONNX export + hls4ml conversion + C-simulation compile. Returns ``(hls_model, qonnx_model)``.

    The input layer gets the exact type of the model's input quantiser, so the C simulation
    rounds raw float inputs the way Brevitas does (hls4ml's default ``fixed<16,6>`` input
    would truncate them first and break bit-exactness for a few percent of samples). It also
    makes the hardware input port as narrow as the quantiser.
    """
    import hls4ml

    out = _fresh_dir(out_dir)
    mw = export_clean_qonnx(qmodel, input_shape, out / "model.qonnx.onnx")
    check_hls4ml_ops(mw, type(qmodel).__name__)
    with quiet_stdout("hls4ml config"):
        hls_cfg = hls4ml.utils.config.config_from_onnx_model(
            mw,
            granularity="name",
            backend=cfg.backend,
            default_precision=cfg.default_precision,
            default_reuse_factor=cfg.reuse_factor,
        )
    hls_cfg["Model"]["Strategy"] = cfg.strategy
    _, qnode = input_quant_node(mw)
    in_name = mw.graph.input[0].name
    if qnode is not None:
        fmt = quant_node_format(mw, qnode)
        hls_cfg["LayerName"].setdefault(in_name, {}).setdefault("Precision", {})["result"] = (
            fmt.hls_type()
        )
        log.info("hls4ml input precision %s (from %s)", fmt.hls_type(), qnode.name)
    else:
        log.warning("no input quantiser found: hls4ml input stays at %s", cfg.default_precision)
    with quiet_stdout("hls4ml"):
        hls_model = _convert_onnx(hls4ml, mw, out, hls_cfg, cfg)
        hls_model.compile()
    return hls_model, mw


#: ONNX ops hls4ml's reader skips without a handler (``parse_onnx_model``'s ``skip_layers``).
HLS4ML_SKIPPED_ONNX_OPS = ("Dropout", "Identity")


def hls4ml_onnx_ops() -> tuple[str, ...]:
    """ONNX op types the installed hls4ml's ONNX reader has a handler for (its registry)."""
    from hls4ml.converters.onnx_to_hls import get_supported_onnx_layers

    return (*get_supported_onnx_layers(), *HLS4ML_SKIPPED_ONNX_OPS)


def check_hls4ml_ops(mw: Any, model: str) -> None:
    """Refuse a cleaned QONNX graph with ops hls4ml cannot read, before converting it.

    Why: hls4ml stops at the first one with a bare ``Exception('ERROR: Unsupported
    operation type: ReduceSum')`` from inside its config builder. This names every such op,
    the model, and the path that does take it (the set student's pooling, broadcast and
    padding-mask ops, measured with hls4ml 1.3.0: ``ReduceSum``/``ReduceMax``,
    ``Unsqueeze``, ``Equal``/``Not``/``Cast`` have no ONNX handler; the da4ml RTL tracer
    of :mod:`jetdistill.fpga.rtl` has one for each).
    """
    known = set(hls4ml_onnx_ops())
    missing = sorted({n.op_type for n in mw.graph.node} - known)
    if missing:
        import hls4ml

        raise UnsupportedGraphError(
            f"{model}: hls4ml {hls4ml.__version__} cannot read ONNX op(s) {', '.join(missing)} "
            f"of its QONNX graph (it reads {', '.join(sorted(known))}); convert it through the "
            "da4ml RTL path instead (jetdistill.fpga.rtl, fpga.rtl: true)"
        )


def _convert_onnx(hls4ml: Any, mw: Any, out: Path, hls_cfg: dict[str, Any], cfg: HLSConfig) -> Any:
    return hls4ml.converters.convert_from_onnx_model(
        mw,
        output_dir=str(out / "hls4ml_prj"),
        project_name=cfg.project_name,
        io_type=cfg.io_type,
        backend=cfg.backend,
        hls_config=hls_cfg,
        part=cfg.part,
        clock_period=cfg.clock_period_ns,
    )


def convert_quantized(
    qmodel: Any,
    input_shape: Sequence[int],
    x_test: np.ndarray,
    out_dir: str | os.PathLike[str],
    cfg: HLSConfig | None = None,
) -> dict[str, Any]:
    """Convert a Brevitas student with hls4ml and check the C simulation against Brevitas.

    Writes the QONNX graph and the hls4ml project under ``out_dir`` (recreated). Returns
    JSON-ready metrics: ``hls_exact_fraction`` (samples whose output vector equals Brevitas's
    exactly), ``hls_argmax_agreement``, ``hls_max_abs_diff``, ``hls_n_samples``, wall times,
    and the vendor-synthesis figures (or ``vendor_synthesis: "skipped: ..."``).
    Raises :class:`HLSAgreementError` when the argmax agreement is below the tolerance.
    """
    cfg = cfg or HLSConfig()
    x = check_inputs(x_test, input_shape)
    t0 = time.perf_counter()
    hls_model, _ = build_quantized_hls_model(qmodel, input_shape, out_dir, cfg)
    t1 = time.perf_counter()
    ref = torch_forward(qmodel, x)
    y = _hls_predict(hls_model, x)
    t2 = time.perf_counter()
    metrics: dict[str, Any] = agreement_metrics(ref, y, "hls")
    metrics.update(
        hls_n_samples=len(x), hls_convert_s=round(t1 - t0, 3), hls_csim_s=round(t2 - t1, 3)
    )
    metrics["qonnx_path"] = str((Path(out_dir) / "model.qonnx.onnx").resolve())
    log.info(
        "hls4ml C-sim vs Brevitas: exact %.4f, argmax %.4f, max|diff| %.3g on %d samples",
        metrics["hls_exact_fraction"], metrics["hls_argmax_agreement"], metrics["hls_max_abs_diff"], len(x),
    )  # fmt: skip
    if metrics["hls_exact_fraction"] < 1.0:
        log.warning(
            "hls4ml C simulation is not bit-exact with Brevitas (%.4f)",
            metrics["hls_exact_fraction"],
        )
    _check_agreement(metrics, cfg.agreement_tolerance, "quantised model")
    metrics.update(vendor_synthesis(hls_model, cfg))
    return metrics


def convert_float(
    model: Any,
    input_shape: Sequence[int],
    x_test: np.ndarray,
    out_dir: str | os.PathLike[str],
    cfg: HLSConfig | None = None,
    precision: str = "ap_fixed<16,6>",
) -> dict[str, Any]:
    """Convert a float student with hls4ml's PyTorch frontend at one fixed precision.

    Same metric names as :func:`convert_quantized`; here ``hls_exact_fraction`` is expected
    to be ~0 (the float model is not fixed point) and the argmax agreement is what is checked.
    """
    import hls4ml

    cfg = cfg or HLSConfig()
    check_generated_string("fpga.float_precision", precision, SAFE_PRECISION)
    x = check_inputs(x_test, input_shape)
    out = _fresh_dir(out_dir)
    t0 = time.perf_counter()
    model = copy.deepcopy(model).cpu().eval()
    shape = tuple(int(d) for d in input_shape)
    with quiet_stdout("hls4ml config"):
        hls_cfg = hls4ml.utils.config_from_pytorch_model(
            model,
            shape,
            granularity="name",
            backend=cfg.backend,
            default_precision=precision,
            default_reuse_factor=cfg.reuse_factor,
        )
    hls_cfg["Model"]["Strategy"] = cfg.strategy
    with quiet_stdout("hls4ml"):
        hls_model = hls4ml.converters.convert_from_pytorch_model(
            model,
            hls_config=hls_cfg,
            output_dir=str(out / "hls4ml_prj"),
            project_name=cfg.project_name,
            backend=cfg.backend,
            io_type=cfg.io_type,
            part=cfg.part,
            clock_period=cfg.clock_period_ns,
        )
        hls_model.compile()
    t1 = time.perf_counter()
    ref = torch_forward(model, x)
    y = _hls_predict(hls_model, x)
    t2 = time.perf_counter()
    metrics: dict[str, Any] = agreement_metrics(ref, y, "hls")
    metrics.update(
        hls_n_samples=len(x),
        hls_convert_s=round(t1 - t0, 3),
        hls_csim_s=round(t2 - t1, 3),
        hls_precision=precision,
    )
    log.info(
        "hls4ml (%s) vs torch: argmax %.4f, max|diff| %.3g",
        precision,
        metrics["hls_argmax_agreement"],
        metrics["hls_max_abs_diff"],
    )
    _check_agreement(metrics, cfg.agreement_tolerance, f"float model at {precision}")
    metrics.update(vendor_synthesis(hls_model, cfg))
    return metrics


def vendor_tool(backend: str) -> str | None:
    """The first HLS executable on PATH for ``backend`` (None when not installed)."""
    for tool in VENDOR_TOOLS.get(backend, ()):
        if shutil.which(tool):
            return tool
    return None


def vendor_synthesis(hls_model: Any, cfg: HLSConfig) -> dict[str, Any]:
    """Run vendor HLS synthesis where the tool exists; otherwise say why it was skipped.

    ``vendor: never`` always skips, ``auto`` skips when the tool is missing, ``always``
    raises :class:`VendorToolError` then. The report is mapped onto the shared metric names.
    """
    if cfg.vendor == "never":
        why = "skipped: fpga.vendor is 'never'"
        log.info("vendor synthesis %s", why)
        return {"vendor_synthesis": why}
    tool = vendor_tool(cfg.backend)
    if tool is None:
        wanted = " or ".join(VENDOR_TOOLS.get(cfg.backend, ("?",)))
        why = f"skipped: {wanted} not on PATH (backend {cfg.backend})"
        if cfg.vendor == "always":
            raise VendorToolError(
                f"fpga.vendor is 'always' but vendor synthesis is impossible: {why}"
            )
        log.info("vendor synthesis %s", why)
        return {"vendor_synthesis": why}
    log.info("running vendor synthesis with %s (csim=False, synth=True)", tool)
    t0 = time.perf_counter()
    try:
        report = hls_model.build(csim=False, synth=True)
    except Exception as err:  # vendor failures are reported, not fatal, in auto mode
        if cfg.vendor == "always":
            raise VendorToolError(f"vendor synthesis with {tool} failed: {err}") from err
        log.warning("vendor synthesis with %s failed: %s", tool, err)
        return {"vendor_synthesis": f"failed: {err}"}
    metrics = parse_hls_report(report or {}, cfg.clock_period_ns)
    metrics["vendor_synthesis"] = f"done with {tool}"
    metrics["vendor_synthesis_s"] = round(time.perf_counter() - t0, 1)
    return metrics


def parse_hls_report(report: dict[str, Any], clock_period_ns: float) -> dict[str, Any]:
    """Map an hls4ml ``build()``/``parse_vivado_report`` dict to the shared metric names.

    Uses the C-synthesis estimate (``CSynthesisReport``) and, when present, the Vivado
    synthesis report for LUT/FF/DSP. Latency in ns is worst-case cycles x target clock.
    """
    out: dict[str, Any] = {}
    csynth = report.get("CSynthesisReport") or {}

    def num(v: Any) -> float | None:
        try:
            return float(str(v).strip().split()[0])
        except (ValueError, IndexError, AttributeError):
            return None

    for key, name in (("LUT", "luts"), ("FF", "ffs"), ("DSP", "dsps")):
        if num(csynth.get(key)) is not None:
            out[name] = int(num(csynth.get(key)))  # type: ignore[arg-type]
    vsynth = report.get("VivadoSynthReport") or {}
    for key, name in (("LUT", "luts"), ("FF", "ffs"), ("DSP48E", "dsps")):
        if num(vsynth.get(key)) is not None:
            out[name] = int(num(vsynth.get(key)))  # type: ignore[arg-type]
    cycles = num(csynth.get("WorstLatency"))
    if cycles is not None:
        period = num(csynth.get("TargetClockPeriod")) or clock_period_ns
        out["latency_cycles"] = int(cycles)
        out["latency_ns"] = float(cycles * period)
    if num(csynth.get("EstimatedClockPeriod")) is not None:
        out["estimated_clock_ns"] = num(csynth.get("EstimatedClockPeriod"))
    return out


def tar_project(out_dir: str | os.PathLike[str], tar_path: str | os.PathLike[str]) -> Path:
    """Pack a project directory into a ``.tar.gz`` (atomically), e.g. as a workflow artefact."""
    src = Path(out_dir)
    if not src.is_dir():
        raise InputError(str(src), "an existing project directory to archive")
    with atomic_path(tar_path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return Path(tar_path)


#: Name used in docs/ARCHITECTURE.md for the quantised conversion.
convert_and_check = convert_quantized
