"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.reports.report_chip_frontier."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.reports import report_chip_frontier

report_chip_frontier(JobContext.from_snakemake(snakemake))  # noqa: F821
