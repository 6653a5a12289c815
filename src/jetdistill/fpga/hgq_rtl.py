"""Any HGQ2 Keras model to a bit-exact, measured circuit: da4ml trace, Verilog, Verilator, Yosys.

The per-weight-precision twins (HGQ2, Keras 3 on the PyTorch backend) take a different road
to the chip than the Brevitas students of :mod:`jetdistill.fpga.rtl`: da4ml traces the Keras
model itself (``da4ml.converter.trace_model``), so there is no QONNX graph. The rest is the
same open-source flow with the same metric names, so both kinds of design share one table:

1. :func:`trace_design`: ``hgq.utils.trace_minmax`` on calibration jets fixes the integer bits
   of the wrapping activation quantisers (an HGQ2 model is not fully defined before it), then
   da4ml's tracer gives a ``CombLogic`` whose cost is da4ml's LUT estimate;
2. :func:`check_emulation`: da4ml's integer emulation against Keras, bit for bit;
3. :func:`write_verilog`: pipelined Verilog (``latency_cutoff`` adder levels per stage);
4. :func:`verilator_check`: a cycle-accurate simulation of that Verilog on a few jets;
5. :func:`synthesize`: Yosys ``synth_xilinx`` LUT/FF/DSP/CARRY counts.

Each step is a function of its own so the workflow can run them as separate jobs: Yosys is
the expensive one and runs only for the designs on the accuracy-cost Pareto front
(:func:`pareto_front`), in one later job, from a project moved there with
:func:`pack_project`/:func:`unpack_project`. :func:`convert_hgq` composes them.

keras/hgq/da4ml are imported inside the functions: the rest of the project imports this
module eagerly and need not pay for (or have) Keras.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import resource
import shutil
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetdistill.errors import InputError, first_few
from jetdistill.fpga.eda import PROJECT, build_verilator_sim, require_tool, run_yosys
from jetdistill.fpga.qonnx import agreement_metrics
from jetdistill.fpga.rtl import RTLMismatchError
from jetdistill.io import write_json

log = logging.getLogger(__name__)

#: the record in every project folder: settings, stage count and the metrics measured so far.
#: Its presence also marks a folder as ours, which :func:`write_verilog` may wipe and rewrite.
RECORD = "hgq_rtl.json"


@dataclasses.dataclass
class RTLSettings:
    """How a design is built and checked (defaults: the project's rtl defaults).

    ``test_samples``: how many test jets the emulation check uses (0: all of them);
    ``verilator_samples``: how many of those the Verilator simulation replays (it costs a
    C++ build plus ~ms per jet); ``strict``: raise :class:`RTLMismatchError` when a check is
    not bit-exact (see :func:`check_emulation`).
    """

    clock_period_ns: float = 5.0
    latency_cutoff: float = 5.0
    verilator_samples: int = 200
    test_samples: int = 0
    part_name: str = "xcvu13p-flga2577-2-e"
    strict: bool = True
    timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        if not self.clock_period_ns > 0:
            raise InputError("rtl.clock_period_ns", "a positive number", repr(self.clock_period_ns))
        if not self.latency_cutoff > 0:
            raise InputError("rtl.latency_cutoff", "a positive number", repr(self.latency_cutoff))
        for name in ("verilator_samples", "test_samples"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"rtl.{name}", "an integer >= 0", repr(getattr(self, name)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> RTLSettings:
        """Settings from a config mapping; an unknown key is an error (a typo would otherwise
        silently leave a default in place)."""
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError("rtl settings", f"keys among {sorted(known)}", first_few(unknown))
        return cls(**d)


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (Verilator, g++, Yosys)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim < 2 or len(x) == 0:
        raise InputError("jets", "a non-empty array of shape (N, ...)", str(x.shape))
    return x.reshape(len(x), -1)


def keras_outputs(kmodel: Any, x: np.ndarray) -> np.ndarray:
    """The Keras model's outputs as (N, K) float64: the reference every check compares to."""
    y = kmodel.predict(np.asarray(x, dtype=np.float32), batch_size=4096, verbose=0)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def trace_design(kmodel: Any, x_calib: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """``trace_minmax`` on ``x_calib``, then da4ml's HGQ2 tracer: (``CombLogic``, metrics).

    ``trace_minmax`` resets and sets the integer bits of every WRAP activation quantiser from
    the calibration jets' range, which changes the model: run it on the jets the model saw in
    training, before any accuracy is measured. Metrics: ``ebops_traced`` (EBOPs after it),
    ``da4ml_cost_luts`` (da4ml's LUT estimate), ``rtl_trace_s``.
    """
    from da4ml.converter import trace_model
    from da4ml.trace import HWConfig, comb_trace
    from hgq.utils import trace_minmax

    t0 = time.perf_counter()
    ebops = int(trace_minmax(kmodel, np.asarray(x_calib, dtype=np.float32), batch_size=4096))
    log.info("trace_minmax on %d jets: %d EBOPs", len(x_calib), ebops)
    inp, out = trace_model(kmodel, hwconf=HWConfig(1, -1, -1))
    comb = comb_trace(inp, out)
    metrics = {"ebops_traced": ebops, "da4ml_cost_luts": float(comb.cost),
               "rtl_trace_s": round(time.perf_counter() - t0, 3)}  # fmt: skip
    log.info("da4ml trace: %.0f LUTs estimated, %s", comb.cost, comb.shape)
    return comb, metrics


#: how far Keras may be from da4ml's exact integer emulation and still compute the same
#: function: Keras runs in float32, whose sums of fixed-point products round once the widths
#: pass float32's 24-bit mantissa (measured: 4.8e-7 on a logit of 8.5 for an mlp32 twin),
#: while a logic difference is at least one LSB of the output format (2^-16 or coarser)
F32_RTOL = 2.0**-21


def _mismatch(
    ref: np.ndarray, cand: np.ndarray, what: str, strict: bool, rtol: float = 0.0
) -> None:
    tol = rtol * np.maximum(np.abs(cand), 1.0)
    bad = np.flatnonzero(~np.all(np.abs(ref - cand) <= tol, axis=1))
    if len(bad) == 0:
        return
    ref_name = "Keras" if rtol else "da4ml's emulation"
    msg = (f"{what} does not compute the design on {len(bad)} of {len(ref)} jets; first jet "
           f"{bad[0]}: {ref_name} {ref[bad[0]].tolist()}, {what} {cand[bad[0]].tolist()}")  # fmt: skip
    if strict:
        raise RTLMismatchError(msg)
    log.warning(msg)


def check_emulation(
    kmodel: Any, comb: Any, x: np.ndarray, y: np.ndarray, *, strict: bool = True
) -> dict[str, Any]:
    """da4ml's integer emulation of ``comb`` against Keras on every jet of ``x``.

    da4ml's emulation is the design's exact fixed-point function; Keras computes it in float32,
    exact until the fixed-point widths of a sum pass float32's mantissa. So Keras must agree
    within :data:`F32_RTOL` (``rtl_emulation_f32_agreement``), and the exact fraction is
    reported beside it; the circuit itself is checked bit for bit against the emulation
    (:func:`verilator_check`). Raises :class:`RTLMismatchError` (naming the first mismatching jet) unless ``strict`` is
    False, like the Brevitas path: a design that is not bit-exact has no accuracy of its own
    (the Keras accuracy would be reported for a circuit that computes something else), so the
    workflow must stop rather than tabulate it. ``strict=False`` is for diagnosis (how many
    jets differ), and then only logs. Metrics: ``rtl_emulation_exact_fraction`` (1.0),
    ``rtl_emulation_argmax_agreement``, ``rtl_emulation_max_abs_diff``, ``rtl_keras_accuracy``
    (Keras), ``rtl_emulation_accuracy``, ``rtl_n_samples``, ``rtl_emulation_s``.
    """
    t0 = time.perf_counter()
    ref = keras_outputs(kmodel, x)
    emu = np.asarray(comb.predict(_flat(x), n_threads=1), dtype=np.float64).reshape(ref.shape)
    y = np.asarray(y).reshape(-1)
    m: dict[str, Any] = agreement_metrics(ref, emu, "rtl_emulation")
    close = np.abs(ref - emu) <= F32_RTOL * np.maximum(np.abs(emu), 1.0)
    m["rtl_emulation_f32_agreement"] = float(np.mean(np.all(close, axis=1)))
    m.update(rtl_keras_accuracy=float(np.mean(ref.argmax(1) == y)),
             rtl_emulation_accuracy=float(np.mean(emu.argmax(1) == y)), rtl_n_samples=len(ref),
             rtl_emulation_s=round(time.perf_counter() - t0, 3))  # fmt: skip
    log.info("emulation: exact %.4f on %d jets, accuracy Keras %.4f, da4ml %.4f",
             m["rtl_emulation_exact_fraction"], len(ref), m["rtl_keras_accuracy"],
             m["rtl_emulation_accuracy"])  # fmt: skip
    _mismatch(ref, emu, "da4ml emulation", strict, rtol=F32_RTOL)
    return m


def _read_record(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / RECORD
    return json.loads(path.read_text()) if path.is_file() else {}


def _update_record(out_dir: Path, **parts: Any) -> None:
    rec = _read_record(out_dir)
    for k, v in parts.items():
        rec[k] = {**rec.get(k, {}), **v} if isinstance(v, dict) else v
    write_json(Path(out_dir) / RECORD, rec)


def write_verilog(comb: Any, out_dir: Path, settings: RTLSettings) -> tuple[Any, dict[str, Any]]:
    """da4ml's pipelined Verilog project in ``out_dir`` (``src/jdnet.v`` + one file per stage).

    ``out_dir`` is wiped first if it holds an earlier project of ours (a stale stage file
    would be synthesised with the new ones); any other non-empty folder is refused.
    Latency counts the pipeline stages plus da4ml's input register, as
    :func:`jetdistill.fpga.rtl.estimate_rtl` does. Metrics: ``latency_cycles``,
    ``latency_ns``, ``rtl_stages``, ``rtl_latency_cutoff``, ``da4ml_reg_bits``,
    ``verilog_path``, ``rtl_codegen_s``.
    """
    from da4ml.codegen import VerilogModel

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / RECORD).is_file():
            raise InputError(str(out_dir), f"an empty folder or an earlier project with {RECORD}")
        shutil.rmtree(out_dir)
    t0 = time.perf_counter()
    vm = VerilogModel(comb, PROJECT, out_dir, latency_cutoff=settings.latency_cutoff,
                      clock_period=settings.clock_period_ns, part_name=settings.part_name)  # fmt: skip
    vm.write()
    pipe = vm._pipe
    n = len(pipe.solutions) if pipe is not None else 0
    cycles = n + 1 if n else 0
    m = {"latency_cycles": cycles, "latency_ns": float(cycles * settings.clock_period_ns),
         "rtl_stages": n, "rtl_latency_cutoff": float(settings.latency_cutoff),
         "da4ml_reg_bits": int(pipe.reg_bits) if pipe is not None else 0,
         "verilog_path": str((out_dir / "src" / f"{PROJECT}.v").resolve()),
         "rtl_codegen_s": round(time.perf_counter() - t0, 3)}  # fmt: skip
    _update_record(out_dir, n_stages=n, settings=dataclasses.asdict(settings))
    log.info("Verilog in %s: %d stages, %d cycles = %.1f ns", out_dir, n, cycles, m["latency_ns"])
    return vm, m


def verilator_check(
    vm: Any, out_dir: Path, x: np.ndarray, y_ref: np.ndarray, n: int, *, strict: bool = True,
    timeout_s: float = 1800.0,
) -> dict[str, Any]:  # fmt: skip
    """Verilate the project and replay the first ``n`` jets of ``x`` against ``y_ref`` (da4ml's
    integer emulation: the circuit must equal it bit for bit). Raises :class:`RTLMismatchError` on a difference unless ``strict`` is
    False (see :func:`check_emulation`). Metrics: ``rtl_exact_fraction``,
    ``rtl_argmax_agreement``, ``rtl_max_abs_diff``, ``rtl_verilator_samples``, ``rtl_verilator_s``.
    """
    t0 = time.perf_counter()
    k = min(int(n), len(x))
    if k <= 0:
        raise InputError("verilator samples", "at least one jet", str(k))
    build_verilator_sim(vm, Path(out_dir), jobs=max(1, min(2, os.cpu_count() or 1)),
                        timeout_s=timeout_s)  # fmt: skip
    ref = np.asarray(y_ref, dtype=np.float64).reshape(len(y_ref), -1)[:k]
    sim = np.asarray(vm.predict(_flat(x[:k]), n_threads=1), dtype=np.float64).reshape(ref.shape)
    m: dict[str, Any] = agreement_metrics(ref, sim, "rtl")
    m.update(rtl_verilator_samples=k, rtl_verilator_s=round(time.perf_counter() - t0, 3))
    log.info("Verilator: exact %.4f on %d jets", m["rtl_exact_fraction"], k)
    _mismatch(ref, sim, f"Verilator simulation of {out_dir}", strict)
    return m


def synthesize(
    out_dir: Path, n_stages: int | None = None, *, timeout_s: float = 1800.0
) -> dict[str, Any]:
    """Yosys ``synth_xilinx`` of the project in ``out_dir`` (written here or unpacked).

    ``n_stages`` defaults to the one :func:`write_verilog` recorded in the project, so a job
    that only has the unpacked folder needs nothing else. Metrics: ``luts``, ``ffs``,
    ``dsps``, ``carry``, ``rtl_resource_source``, ``rtl_yosys_s``; the cell counts go to
    ``yosys_cells.json``, the metrics also into the project's record.
    """
    require_tool("yosys")
    out_dir = Path(out_dir)
    if n_stages is None:
        rec = _read_record(out_dir)
        if "n_stages" not in rec:
            raise InputError(str(out_dir / RECORD), "a project written by write_verilog")
        n_stages = int(rec["n_stages"])
    res = run_yosys(out_dir, n_stages, timeout_s=timeout_s)
    write_json(out_dir / "yosys_cells.json", res.pop("cells"))
    m = {"luts": res["luts"], "ffs": res["ffs"], "dsps": res["dsps"], "carry": res["carry"],
         "rtl_resource_source": "yosys synth_xilinx", "rtl_yosys_s": res["yosys_s"]}  # fmt: skip
    _update_record(out_dir, metrics=m)
    log.info("Yosys: %d LUT, %d FF, %d DSP, %d carry", m["luts"], m["ffs"], m["dsps"], m["carry"])
    return m


def convert_hgq(
    kmodel: Any, x_calib: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, out_dir: Path,
    settings: RTLSettings | None = None, *, verilator: bool = True, yosys: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """The whole flow: trace, emulation check, Verilog, Verilator check, Yosys.

    Without ``yosys``, ``luts``/``ffs``/``dsps``/``carry`` are da4ml's estimate (its LUT cost
    and register bits) and ``rtl_resource_source`` says so, as in
    :func:`~jetdistill.fpga.rtl.estimate_rtl`; without ``verilator``, ``rtl_exact_fraction``
    is the emulation's. ``<stage>_cpu_s`` (``rtl_trace``, ``rtl_emulation``,
    ``rtl_codegen``, ``rtl_verilator``, ``rtl_yosys``) and ``rtl_cpu_s`` are CPU seconds
    of this process plus its children. The metrics so far are written to the project's
    record after each stage, so a killed job leaves what it measured.
    """
    s = settings or RTLSettings()
    out_dir = Path(out_dir)
    if s.test_samples:
        x_test, y_test = x_test[: s.test_samples], y_test[: s.test_samples]
    m: dict[str, Any] = {}
    c0 = c_stage = _cpu_s()

    def stage(name: str, part: dict[str, Any]) -> None:
        nonlocal c_stage
        now = _cpu_s()
        m.update(part)
        m[f"{name}_cpu_s"], m["rtl_cpu_s"] = round(now - c_stage, 2), round(now - c0, 2)
        c_stage = now
        if (out_dir / RECORD).is_file():
            _update_record(out_dir, metrics=m)

    comb, part = trace_design(kmodel, x_calib)
    stage("rtl_trace", part)
    stage("rtl_emulation", check_emulation(kmodel, comb, x_test, y_test, strict=s.strict))
    vm, part = write_verilog(comb, out_dir, s)
    stage("rtl_codegen", part)
    if verilator and s.verilator_samples > 0:
        require_tool("verilator")
        # the circuit against da4ml's integer emulation, bit for bit (Keras is float32)
        k = min(s.verilator_samples, len(x_test))
        ref = np.asarray(comb.predict(_flat(x_test[:k]), n_threads=1), dtype=np.float64)
        part = verilator_check(vm, out_dir, x_test, ref, s.verilator_samples, strict=s.strict,
                               timeout_s=s.timeout_s)  # fmt: skip
        stage("rtl_verilator", part)
    else:
        stage("rtl_verilator", {"rtl_exact_fraction": m["rtl_emulation_exact_fraction"],
                                "rtl_verilator_samples": 0})  # fmt: skip
    if yosys:
        stage("rtl_yosys", synthesize(out_dir, m["rtl_stages"], timeout_s=s.timeout_s))
    else:
        stage("rtl_yosys", {"luts": round(m["da4ml_cost_luts"]), "ffs": m["da4ml_reg_bits"],
                            "dsps": 0, "carry": 0, "rtl_resource_source": "da4ml estimate"})  # fmt: skip
    log.info("HGQ RTL: exact %.4f (emulation %.4f), %d LUT, %d FF, %d cycles, %.1f CPU s",
             m["rtl_exact_fraction"], m["rtl_emulation_exact_fraction"], m["luts"], m["ffs"],
             m["latency_cycles"], m["rtl_cpu_s"])  # fmt: skip
    return m


def _packable(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out the Verilator build (a host-specific shared library; rebuilt on demand)."""
    parts = Path(info.name).parts  # "./sim/x.so" -> ("sim", "x.so")
    if "obj_dir" in parts or (parts[:1] == ("sim",) and info.name.endswith(".so")):
        return None
    return info


def pack_project(out_dir: Path, tar_path: Path) -> Path:
    """The project folder as a ``.tar.gz`` (paths relative to it): a later job, on another
    node, can unpack and synthesise it. Yosys' own scripts are rewritten with absolute paths
    on every run, so nothing in the archive points back to ``out_dir``."""
    out_dir, tar_path = Path(out_dir), Path(tar_path)
    if not (out_dir / RECORD).is_file():
        raise InputError(str(out_dir), f"a project written by write_verilog (with {RECORD})")
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tar_path.with_name(tar_path.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(out_dir, arcname=".", filter=_packable)
    tmp.replace(tar_path)
    return tar_path


def unpack_project(tar_path: Path, out_dir: Path) -> Path:
    """Unpack :func:`pack_project`'s archive into ``out_dir`` (created; must be empty).
    Uses tarfile's ``data`` filter: no absolute paths, links out or device files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(str(out_dir), "an empty or new folder to unpack a project into")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "r:gz") as tar:
        tar.extractall(out_dir, filter="data")
    if not (out_dir / RECORD).is_file():
        raise InputError(str(tar_path), f"an archive of a project with {RECORD}")
    return out_dir


def pareto_front(
    points: Sequence[Mapping[str, Any]], *, cost_key: str, score_key: str
) -> list[int]:
    """Indices of the points that no other point beats: none has lower-or-equal cost and
    higher-or-equal score with one of them strictly better.

    Points with equal cost and score are one design point: only the first (lowest index) is
    kept, so the answer does not depend on which duplicate a caller meant. A point with a
    missing or non-finite cost or score is never on the front and beats nothing. Returned by
    increasing cost (then index), the order a frontier is drawn in.
    """

    def ok(p: Mapping[str, Any]) -> bool:
        try:
            return math.isfinite(float(p[cost_key])) and math.isfinite(float(p[score_key]))
        except (KeyError, TypeError, ValueError):
            return False

    pts = [(float(p[cost_key]), float(p[score_key]), i) for i, p in enumerate(points) if ok(p)]
    front = []
    for c, s, i in pts:
        beaten = any(
            (c2 <= c and s2 >= s and (c2 < c or s2 > s)) or (c2 == c and s2 == s and j < i)
            for c2, s2, j in pts
        )
        if not beaten:
            front.append((c, i))
    return [i for _, i in sorted(front)]
