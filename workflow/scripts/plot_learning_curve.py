"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.reports.plot_learning_curve."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.reports import plot_learning_curve

plot_learning_curve(JobContext.from_snakemake(snakemake))  # noqa: F821
