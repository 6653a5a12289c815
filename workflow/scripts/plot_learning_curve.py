"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.plot_learning_curve."""

from jetdistill.jobs import JobContext, plot_learning_curve

plot_learning_curve(JobContext.from_snakemake(snakemake))  # noqa: F821
