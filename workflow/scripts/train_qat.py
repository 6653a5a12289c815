"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.train_qat."""

from jetdistill.jobs import JobContext, train_qat

train_qat(JobContext.from_snakemake(snakemake))  # noqa: F821
