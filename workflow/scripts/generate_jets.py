"""Snakemake entry point: one generated shard (class x shard) via jetdistill.data.generate.generate_shard."""

from jetdistill.runtime import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821

from jetdistill.data.generate import GenerateConfig, generate_shard

generate_shard(
    snakemake.output.shard,  # noqa: F821
    snakemake.wildcards.cls,  # noqa: F821
    int(snakemake.wildcards.shard),  # noqa: F821
    GenerateConfig.from_dict(snakemake.params.generate),  # noqa: F821
    stream=getattr(snakemake.params, "stream", ""),  # noqa: F821  (generate_unlabelled_jets)
)
