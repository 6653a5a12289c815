"""Snakemake entry point: validate the sources and write splits.h5 via jetdistill.data.splits.split_data."""

from jetdistill.runtime import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from jetdistill.data.splits import split_data

split_data(
    list(snakemake.input.files),  # noqa: F821
    snakemake.output.splits,  # noqa: F821
    dict(snakemake.params.data),  # noqa: F821
)
