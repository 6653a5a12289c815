"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.estimate_rtl."""

from jetdistill.jobs import JobContext, estimate_rtl

estimate_rtl(JobContext.from_snakemake(snakemake))  # noqa: F821
