"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.teachers.choose_specialist_groups."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.teachers import choose_specialist_groups

choose_specialist_groups(JobContext.from_snakemake(snakemake))  # noqa: F821
