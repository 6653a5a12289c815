# MLflow store and experiment, created once before any job logs (SQLite creation races).


localrules:
    init_tracking,


rule init_tracking:
    output:
        marker=f"{R}/tracking/experiment.json",
    log:
        f"{R}/logs/init_tracking.log",
    benchmark:
        f"{R}/benchmarks/init_tracking.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tracking=tracking_params(),
    script:
        "../workflow/scripts/init_tracking.py"
