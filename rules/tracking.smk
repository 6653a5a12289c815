# The tracking marker every job waits for. The store itself is probed and set up once per
# invocation by the onstart hook (start_invocation in common.smk, before any job: SQLite
# creation races, and the parent run needs the experiment); this rule only records the
# experiment that onstart set up (jetdistill.jobs.invocation.init_tracking, no MLflow call).


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
