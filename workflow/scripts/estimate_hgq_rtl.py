"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.hgq.estimate_hgq_rtl."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.hgq import estimate_hgq_rtl

estimate_hgq_rtl(JobContext.from_snakemake(snakemake))  # noqa: F821
