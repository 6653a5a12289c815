"""Rules ``convert_hls``, ``estimate_rtl`` and ``convert_hls_float``.

The QAT checkpoint describes its own model (spec, bit widths), so these jobs receive only
their hls4ml/RTL settings as params."""

from __future__ import annotations

import tempfile
from pathlib import Path

from jetdistill.identity import FloatFPGAJob, QATJob
from jetdistill.io import write_json
from jetdistill.jobs import context as C
from jetdistill.jobs.context import JobContext
from jetdistill.learn.kd_data import load_split


def _quant_setup(ctx: JobContext, settings: dict):
    from jetdistill.compress.quant import chip_inputs, load_quant_model

    qmodel, meta = load_quant_model(ctx.input["model"])
    test = load_split(ctx.input["test"])
    n = min(int(settings["test_samples"]), len(test.y))
    job = QATJob.from_wildcards(ctx.wildcards)
    # the inputs as the chip receives them (per-input formats of compression.input_scaling)
    return qmodel, tuple(meta["input_shape"]), chip_inputs(test.X[:n], meta), job


def convert_hls(ctx: JobContext) -> None:
    """hls4ml project of a QAT student, C simulation checked bit for bit against Brevitas."""
    from jetdistill.fpga import hls

    settings = ctx.params["hls"]
    qmodel, shape, x, job = _quant_setup(ctx, settings)
    tags = job.fpga_tags()
    with C.job_run(ctx, name=job.fpga_run_name("hls"), role="student", method="hls",
                   tags=tags) as run, \
            tempfile.TemporaryDirectory() as d:  # fmt: skip
        run.log_params({"fpga": settings})
        metrics = hls.convert_quantized(qmodel, shape, x, Path(d) / "hls_project",
                                        hls.HLSConfig.from_dict(settings))  # fmt: skip
        numeric = C.numeric(metrics, with_bools=True)
        info = {k: str(v) for k, v in metrics.items() if k not in numeric}
        run.log_metrics(numeric)
        run.log_dict(info, "hls/info.json")
        hls.tar_project(Path(d) / "hls_project", ctx.output["project"])
        run.log_artifact(ctx.output["project"], "hls")
        record = C.result_record(ctx, run, role="student", method="hls", metrics=numeric,
                                 extra={**tags, "info": info})  # fmt: skip
        write_json(ctx.output["metrics"], record)


def estimate_rtl(ctx: JobContext) -> None:
    """da4ml Verilog of a QAT student, Verilator-checked, Yosys LUT/FF counts."""
    from jetdistill.fpga import rtl

    settings = ctx.params["rtl"]
    qmodel, shape, x, job = _quant_setup(ctx, settings)
    tags = job.fpga_tags()
    with C.job_run(ctx, name=job.fpga_run_name("rtl"), role="student", method="rtl",
                   tags=tags) as run, \
            tempfile.TemporaryDirectory() as d:  # fmt: skip
        run.log_params({"fpga": settings})
        res = rtl.estimate_rtl(qmodel, shape, x[:500], Path(d), clock_period_ns=settings["clock_period_ns"],
                               yosys=settings["yosys"], part=settings["part"])  # fmt: skip
        numeric = C.numeric(res)
        run.log_metrics(numeric)
        vpath = res.get("verilog_path")
        if vpath and Path(vpath).exists():
            p = Path(vpath)
            (run.log_artifacts if p.is_dir() else run.log_artifact)(str(p), "rtl")
        record = C.result_record(
            ctx, run, role="student", method="rtl", metrics=numeric, extra=tags
        )
        write_json(ctx.output["metrics"], record)


def convert_hls_float(ctx: JobContext) -> None:
    """hls4ml project of a float student at one fixed-point precision (no QAT)."""
    from jetdistill.fpga import hls
    from jetdistill.learn.models import load_model

    settings, job = ctx.params["hls"], FloatFPGAJob.from_wildcards(ctx.wildcards)
    model, meta = load_model(ctx.input["model"])
    test = load_split(ctx.input["test"])
    n = min(int(settings["test_samples"]), len(test.y))
    tags = job.fpga_tags()
    with C.job_run(ctx, name=job.run_name(), role="student", method="hls_float",
                   tags=tags) as run, tempfile.TemporaryDirectory() as d:  # fmt: skip
        metrics = hls.convert_float(model, tuple(meta["input_shape"]), test.X[:n], Path(d) / "hls_project",
                                    hls.HLSConfig.from_dict(settings), precision=settings["float_precision"])  # fmt: skip
        numeric = C.numeric(metrics, with_bools=True)
        run.log_metrics(numeric)
        hls.tar_project(Path(d) / "hls_project", ctx.output["project"])
        run.log_artifact(ctx.output["project"], "hls")
        record = C.result_record(ctx, run, role="student", method="hls_float", metrics=numeric,
                                 extra=tags)  # fmt: skip
        write_json(ctx.output["metrics"], record)
