"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.teachers.combine_specialists."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.teachers import combine_specialists

combine_specialists(JobContext.from_snakemake(snakemake))  # noqa: F821
