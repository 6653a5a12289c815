# Data stage: generated shards (or given files) -> disjoint splits -> per-view normalised arrays.


rule generate_jets:
    output:
        shard=out(P.RAW_SHARD),
    log:
        logfile("generate_jets", "{cls}_{shard}"),
    benchmark:
        benchfile("generate_jets", "{cls}_{shard}")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        generate=plan.shard_settings(config),
    script:
        "../workflow/scripts/generate_jets.py"


rule split_data:
    input:
        files=plan.source_files(config, R),
    output:
        splits=out(P.SPLITS),
    log:
        logfile("split_data"),
    benchmark:
        benchfile("split_data")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        data=plan.data_settings(config),
    script:
        "../workflow/scripts/split_data.py"


rule prepare_view:
    input:
        splits=out(P.SPLITS),
        files=plan.source_files(config, R),  # read again, through splits.h5's file list
    output:
        teacher_train=out(P.VIEW_DIR, "teacher_train.h5"),
        transfer=out(P.VIEW_DIR, "transfer.h5"),
        val=out(P.VIEW_DIR, "val.h5"),
        test=out(P.VIEW_DIR, "test.h5"),
        norm=out(P.VIEW_NORM),
    log:
        logfile("prepare_view", "{view}"),
    benchmark:
        benchfile("prepare_view", "{view}")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        view=view_params,
        view_name=lambda w: w.view,
        data=plan.data_settings(config),
    script:
        "../workflow/scripts/prepare_view.py"


rule augment_view:
    input:
        splits=out(P.SPLITS),
        files=plan.source_files(config, R),  # the raw constituents are transformed
        split=out(P.VIEW_SPLIT),
        norm=out(P.VIEW_NORM),
    output:
        augmented=out(P.VIEW_AUG),
    log:
        logfile("augment_view", "{view}_{split}"),
    benchmark:
        benchfile("augment_view", "{view}_{split}")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        view=view_params,
        data=plan.data_settings(config),
        views=plan.views_settings(config),
    script:
        "../workflow/scripts/augment_view.py"


# The students' unlabelled transfer jets (distillation.unlabelled): shards of their own seed
# stream with the labelled shards' settings, so the labelled data and its splits never change.
use rule generate_jets as generate_unlabelled_jets with:
    output:
        shard=out(P.RAW_UNLABELLED_SHARD),
    log:
        logfile("generate_unlabelled_jets", "{cls}_{shard}"),
    benchmark:
        benchfile("generate_unlabelled_jets", "{cls}_{shard}")
    params:
        stream=plan.UNLABELLED_STREAM,


rule prepare_unlabelled_view:
    input:
        splits=out(P.SPLITS),
        norm=out(P.VIEW_NORM),  # the labelled view's normalisation, never refitted
        files=lambda w: plan.unlabelled_files(config, R, float(w.mult)),
    output:
        unlabelled=out(P.VIEW_UNLABELLED),
    log:
        logfile("prepare_unlabelled_view", "{view}_x{mult}"),
    benchmark:
        benchfile("prepare_unlabelled_view", "{view}_x{mult}")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        view=view_params,
        view_name=lambda w: w.view,
        data=plan.data_settings(config),
        unlabelled=lambda w: plan.unlabelled_settings(config, float(w.mult)),
    script:
        "../workflow/scripts/prepare_unlabelled_view.py"
