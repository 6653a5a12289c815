"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.summarize."""

from jetdistill.jobs import JobContext, summarize

summarize(JobContext.from_snakemake(snakemake))  # noqa: F821
