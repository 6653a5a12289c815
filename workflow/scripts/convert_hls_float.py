"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.fpga.convert_hls_float."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.fpga import convert_hls_float

convert_hls_float(JobContext.from_snakemake(snakemake))  # noqa: F821
