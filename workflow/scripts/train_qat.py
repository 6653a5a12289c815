"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.compression.train_qat."""

from jetdistill.jobs.compression import train_qat
from jetdistill.jobs.context import JobContext

train_qat(JobContext.from_snakemake(snakemake))  # noqa: F821
