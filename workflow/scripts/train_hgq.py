"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.hgq.train_hgq."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.hgq import train_hgq

train_hgq(JobContext.from_snakemake(snakemake))  # noqa: F821
