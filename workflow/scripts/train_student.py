"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.students.train_student."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.students import train_student

train_student(JobContext.from_snakemake(snakemake))  # noqa: F821
