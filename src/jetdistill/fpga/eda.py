"""The open-source EDA tools of the RTL estimate: Verilator (simulation) and Yosys (synthesis).

Kept apart from the tracer (:mod:`jetdistill.fpga.rtl_ops`) and the public path
(:mod:`jetdistill.fpga.rtl`): these functions only run external programs on a da4ml Verilog
project directory and read their logs, so they are what changes with a tool version
(Debian's Verilator 5.006 lacks what da4ml's own build expects) and what the benchmarks
reuse on designs the project did not trace itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from jetdistill.errors import JetDistillError

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


class ToolFailedError(JetDistillError):
    """yosys/verilator/g++ failed or timed out; the message points to the log file."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(f"{name} not found on PATH: {INSTALL_HINT}")
    return path


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
