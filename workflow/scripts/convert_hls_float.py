"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.convert_hls_float."""

from jetdistill.jobs import JobContext, convert_hls_float

convert_hls_float(JobContext.from_snakemake(snakemake))  # noqa: F821
