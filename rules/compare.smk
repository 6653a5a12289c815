# Comparison (KD vs solo), compression frontier and the run summary.


rule compare_students:
    input:
        teachers=all_soft_target_metrics(),
        solo=all_solo_metrics(),
        kd=all_kd_metrics(),
        tracking=tracking_marker(),
    output:
        table=f"{R}/comparison/kd_vs_solo.csv",
        reference=f"{R}/comparison/reference.csv",
        markdown=f"{R}/comparison/kd_vs_solo.md",
        html=report(
            f"{R}/comparison/kd_vs_solo.html",
            category="Distillation",
            subcategory="Tables",
            caption="../report/kd_vs_solo.rst",
        ),
        acc_vs_T=report(
            f"{R}/comparison/accuracy_vs_temperature.png",
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_temperature.rst",
        ),
        acc_vs_alpha=report(
            f"{R}/comparison/accuracy_vs_alpha.png",
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_alpha.rst",
        ),
        agreement=report(
            f"{R}/comparison/agreement_vs_accuracy.png",
            category="Distillation",
            subcategory="Plots",
            caption="../report/agreement_vs_accuracy.rst",
        ),
        roc=report(
            f"{R}/comparison/roc_teacher_solo_kd.png",
            category="Distillation",
            subcategory="Plots",
            caption="../report/roc.rst",
        ),
    log:
        f"{R}/logs/compare_students.log",
    benchmark:
        f"{R}/benchmarks/compare_students.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        baselines=config["baselines"],
        omitted=config["data"]["splits"]["exclude_from_transfer"],
        tracking=tracking_params(),
    script:
        "../workflow/scripts/compare_students.py"


rule plot_frontier:
    input:
        qat=all_qat_metrics(),
        solo=all_solo_metrics(),
        kd=all_kd_metrics(),
        fpga=all_fpga_metrics(),
        tracking=tracking_marker(),
    output:
        table=f"{R}/compression/frontier.csv",
        markdown=f"{R}/compression/frontier.md",
        html=report(
            f"{R}/compression/frontier.html",
            category="Compression",
            subcategory="Tables",
            caption="../report/frontier_table.rst",
        ),
        plot=report(
            f"{R}/compression/frontier.png",
            category="Compression",
            subcategory="Plots",
            caption="../report/frontier.rst",
        ),
    log:
        f"{R}/logs/plot_frontier.log",
    benchmark:
        f"{R}/benchmarks/plot_frontier.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        tracking=tracking_params(),
    script:
        "../workflow/scripts/plot_frontier.py"


rule summarize:
    input:
        metrics=all_model_metrics(),
        tracking=tracking_marker(),
    output:
        csv=f"{R}/summary.csv",
        markdown=f"{R}/summary.md",
        html=report(
            f"{R}/summary.html",
            category="Summary",
            subcategory="Tables",
            caption="../report/summary.rst",
        ),
    log:
        f"{R}/logs/summarize.log",
    benchmark:
        f"{R}/benchmarks/summarize.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        tracking=tracking_params(),
    script:
        "../workflow/scripts/summarize.py"
