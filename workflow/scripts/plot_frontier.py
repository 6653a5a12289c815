"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.plot_frontier."""

from jetdistill.jobs import JobContext, plot_frontier

plot_frontier(JobContext.from_snakemake(snakemake))  # noqa: F821
