"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.fpga.estimate_rtl."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.fpga import estimate_rtl

estimate_rtl(JobContext.from_snakemake(snakemake))  # noqa: F821
