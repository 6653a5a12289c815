"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.train_student."""

from jetdistill.jobs import JobContext, train_student

train_student(JobContext.from_snakemake(snakemake))  # noqa: F821
