"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.teachers.train_teacher."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.teachers import train_teacher

train_teacher(JobContext.from_snakemake(snakemake))  # noqa: F821
