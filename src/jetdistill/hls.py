"""hls4ml conversion of the students, bit-exactness checks and (optional) vendor synthesis.

Quantised (Brevitas) students reach hls4ml only through QONNX: Brevitas exports the graph
with explicit ``Quant`` nodes, qonnx cleans it and hls4ml turns every ``Quant`` into a
fixed-point type. With power-of-two scales and FLOOR activation rounding every quantiser
is an exact ``ap_fixed`` cast, so the hls4ml C simulation must reproduce Brevitas *bit for
bit*; ``hls_exact_fraction`` measures exactly that and anything below 1.0 is a bug in the
conversion, not a rounding nuisance. Float students go through hls4ml's PyTorch frontend
at a fixed precision, where only argmax agreement is meaningful.

Vendor synthesis (Vivado/Vitis HLS) runs only where those tools are installed; the
open-source estimate of the same integer model lives in :mod:`jetdistill.rtl`.
"""

from __future__ import annotations

import contextlib
import copy
import io as _stdio
import logging
import math
import os
import re
import shutil
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, JetDistillError
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
SHAPE_OPS = ("Reshape", "Flatten", "Transpose", "Identity", "Squeeze", "Unsqueeze")
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


class UnsupportedGraphError(JetDistillError):
    """The exported QONNX graph uses something the fixed-point flow cannot represent exactly."""


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


# --------------------------------------------------------------------------- QONNX helpers


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


def _initializer(mw: Any, name: str) -> np.ndarray:
    arr = mw.get_initializer(name)
    if arr is None:
        raise UnsupportedGraphError(f"QONNX tensor {name!r} is not a constant initializer")
    return np.asarray(arr)


def _node_attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def quant_node_format(mw: Any, node: Any) -> FixedFormat:
    """Read a QONNX ``Quant`` node as a fixed-point format; reject what is not one.

    Why strict: a non power-of-two scale or a zero point would make the hls4ml types
    only an approximation, and the exactness checks would fail for reasons no one can fix
    downstream. Raising here names the node instead.
    """
    scale = _initializer(mw, node.input[1]).astype(np.float64)
    zeropt = _initializer(mw, node.input[2]).astype(np.float64)
    bits = _initializer(mw, node.input[3]).astype(np.float64)
    attrs = _node_attrs(node)
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


def _check_x(x_test: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
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
    x = _check_x(x_test, input_shape)
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
    x = _check_x(x_test, input_shape)
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
