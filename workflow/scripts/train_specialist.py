"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.teachers.train_specialist."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.teachers import train_specialist

train_specialist(JobContext.from_snakemake(snakemake))  # noqa: F821
