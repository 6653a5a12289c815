"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.train_teacher."""

from jetdistill.jobs import JobContext, train_teacher

train_teacher(JobContext.from_snakemake(snakemake))  # noqa: F821
