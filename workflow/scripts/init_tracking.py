"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.init_tracking."""

from jetdistill.jobs import JobContext, init_tracking

init_tracking(JobContext.from_snakemake(snakemake))  # noqa: F821
