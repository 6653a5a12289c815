"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.convert_hls."""

from jetdistill.jobs import JobContext, convert_hls

convert_hls(JobContext.from_snakemake(snakemake))  # noqa: F821
