# MLflow store and experiment, created once before any job logs (SQLite creation races).


localrules:
    init_tracking,


rule init_tracking:
    output:
        marker=f"{R}/tracking/experiment.json",
    params:
        tracking=tracking_params(),
    log:
        f"{R}/logs/init_tracking.log",
    benchmark:
        f"{R}/benchmarks/init_tracking.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/init_tracking.py"
