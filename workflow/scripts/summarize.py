"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.reports.summarize."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.reports import summarize

summarize(JobContext.from_snakemake(snakemake))  # noqa: F821
