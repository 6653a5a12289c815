# Data stage: generated shards (or given files) -> disjoint splits -> per-view normalised arrays.


rule generate_jets:
    output:
        shard=f"{R}/data/raw/{{cls}}_{{shard}}.h5",
    log:
        f"{R}/logs/generate_jets/{{cls}}_{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/generate_jets/{{cls}}_{{shard}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        generate=config["data"]["generate"],
    script:
        "../workflow/scripts/generate_jets.py"


rule split_data:
    input:
        files=plan.source_files(config, R),
    output:
        splits=f"{R}/data/splits.h5",
    log:
        f"{R}/logs/split_data.log",
    benchmark:
        f"{R}/benchmarks/split_data.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        data=config["data"],
    script:
        "../workflow/scripts/split_data.py"


rule prepare_view:
    input:
        splits=f"{R}/data/splits.h5",
    output:
        teacher_train=f"{R}/data/views/{{view}}/teacher_train.h5",
        transfer=f"{R}/data/views/{{view}}/transfer.h5",
        val=f"{R}/data/views/{{view}}/val.h5",
        test=f"{R}/data/views/{{view}}/test.h5",
        norm=f"{R}/data/views/{{view}}/norm.json",
    log:
        f"{R}/logs/prepare_view/{{view}}.log",
    benchmark:
        f"{R}/benchmarks/prepare_view/{{view}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        view=lambda w: config["views"][w.view],
        view_name=lambda w: w.view,
        data=config["data"],
    script:
        "../workflow/scripts/prepare_view.py"
