"""Snakemake entry point: reads the `snakemake` object and calls jetdistill.jobs.compare_students."""

from jetdistill.jobs import JobContext, compare_students

compare_students(JobContext.from_snakemake(snakemake))  # noqa: F821
