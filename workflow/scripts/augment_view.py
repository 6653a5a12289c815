"""Snakemake entry point: augmented copies of a view's split via jetdistill.data.augment.augment_view_file."""

from jetdistill.runtime import set_threads, setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821

from jetdistill.data.augment import augment_view_file

augment_view_file(
    snakemake.input.splits,  # noqa: F821
    dict(snakemake.params.view),  # noqa: F821
    snakemake.input.norm,  # noqa: F821
    snakemake.input.split,  # noqa: F821
    snakemake.output.augmented,  # noqa: F821
    dict(snakemake.params.views),  # noqa: F821
    split=snakemake.wildcards.split,  # noqa: F821
    data_cfg=dict(snakemake.params.data),  # noqa: F821
    view_name=snakemake.wildcards.view,  # noqa: F821
)
