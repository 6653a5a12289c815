"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.hgq.synthesize_frontier."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.hgq import synthesize_frontier

synthesize_frontier(JobContext.from_snakemake(snakemake))  # noqa: F821
