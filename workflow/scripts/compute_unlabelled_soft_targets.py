"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.teachers.compute_unlabelled_soft_targets."""

from jetdistill.jobs.context import JobContext
from jetdistill.jobs.teachers import compute_unlabelled_soft_targets

compute_unlabelled_soft_targets(JobContext.from_snakemake(snakemake))  # noqa: F821
