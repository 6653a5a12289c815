# MLflow store and experiment, created once before any job logs (SQLite creation races).


localrules:
    init_tracking,


rule init_tracking:
    output:
        marker=out(P.TRACKING_MARKER),
    log:
        logfile("init_tracking"),
    benchmark:
        benchfile("init_tracking")
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
