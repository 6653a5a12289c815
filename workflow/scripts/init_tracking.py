"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.invocation.init_tracking."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.invocation import init_tracking

init_tracking(JobContext.from_snakemake(snakemake))  # noqa: F821
