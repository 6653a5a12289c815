"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.reports.compare_students."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.reports import compare_students

compare_students(JobContext.from_snakemake(snakemake))  # noqa: F821
