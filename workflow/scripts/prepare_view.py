"""Snakemake entry point: one normalised view of every split via jetdistill.data.prepare.prepare_view."""

from jetdistill.runtime import set_threads, setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821

from jetdistill.data.prepare import prepare_view

prepare_view(
    snakemake.input.splits,  # noqa: F821
    dict(snakemake.params.view),  # noqa: F821
    {s: getattr(snakemake.output, s) for s in ("teacher_train", "transfer", "val", "test")},  # noqa: F821
    snakemake.output.norm,  # noqa: F821
    dict(snakemake.params.data),  # noqa: F821
    view_name=snakemake.params.view_name,  # noqa: F821
)
