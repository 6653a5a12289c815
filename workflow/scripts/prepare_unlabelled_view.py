"""Snakemake entry point: the students' unlabelled jets in one view via jetdistill.data.prepare.prepare_unlabelled_view."""

from jetdistill.runtime import set_threads, setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821

from jetdistill.data.prepare import prepare_unlabelled_view

prepare_unlabelled_view(
    snakemake.input.splits,  # noqa: F821
    list(snakemake.input.files),  # noqa: F821
    dict(snakemake.params.view),  # noqa: F821
    snakemake.input.norm,  # noqa: F821
    snakemake.output.unlabelled,  # noqa: F821
    dict(snakemake.params.data),  # noqa: F821
    multiple=float(snakemake.params.unlabelled["multiple"]),  # noqa: F821
    view_name=snakemake.params.view_name,  # noqa: F821
    seed=int(snakemake.params.unlabelled["seed"]),  # noqa: F821
)
