"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.compute_soft_targets."""

from jetdistill.jobs import JobContext, compute_soft_targets

compute_soft_targets(JobContext.from_snakemake(snakemake))  # noqa: F821
