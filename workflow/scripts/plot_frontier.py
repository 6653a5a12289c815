"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.reports.plot_frontier."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.reports import plot_frontier

plot_frontier(JobContext.from_snakemake(snakemake))  # noqa: F821
