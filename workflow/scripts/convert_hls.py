"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.fpga.convert_hls."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.fpga import convert_hls

convert_hls(JobContext.from_snakemake(snakemake))  # noqa: F821
