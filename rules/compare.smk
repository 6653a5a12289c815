# Comparison (KD vs solo), compression frontier and the run summary.


rule compare_students:
    input:
        unpack(comparison_inputs),
    output:
        table=out(P.COMPARISON_DIR, "kd_vs_solo.csv"),
        reference=out(P.COMPARISON_DIR, "reference.csv"),
        markdown=out(P.COMPARISON_DIR, "kd_vs_solo.md"),
        html=report(
            out(P.COMPARISON_DIR, "kd_vs_solo.html"),
            category="Distillation",
            subcategory="Tables",
            caption="../report/kd_vs_solo.rst",
        ),
        acc_vs_T=report(
            out(P.COMPARISON_DIR, "accuracy_vs_temperature.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_temperature.rst",
        ),
        acc_vs_alpha=report(
            out(P.COMPARISON_DIR, "accuracy_vs_alpha.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_alpha.rst",
        ),
        agreement=report(
            out(P.COMPARISON_DIR, "agreement_vs_accuracy.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/agreement_vs_accuracy.rst",
        ),
        roc=report(
            out(P.COMPARISON_DIR, "roc_teacher_solo_kd.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/roc.rst",
        ),
    log:
        logfile("compare_students"),
    benchmark:
        benchfile("compare_students")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        baselines=plan.baselines(config),
        omitted=config["data"]["splits"]["exclude_from_transfer"],
        roc_student=config["students"][0],
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
        table=out(P.COMPRESSION_DIR, "frontier.csv"),
        markdown=out(P.COMPRESSION_DIR, "frontier.md"),
        html=report(
            out(P.COMPRESSION_DIR, "frontier.html"),
            category="Compression",
            subcategory="Tables",
            caption="../report/frontier_table.rst",
        ),
        plot=report(
            out(P.COMPRESSION_DIR, "frontier.png"),
            category="Compression",
            subcategory="Plots",
            caption="../report/frontier.rst",
        ),
    log:
        logfile("plot_frontier"),
    benchmark:
        benchfile("plot_frontier")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        kd_reference=plan.frontier_kd_reference(config),
    script:
        "../workflow/scripts/plot_frontier.py"


rule summarize:
    input:
        metrics=all_model_metrics(),
        tracking=tracking_marker(),
    output:
        csv=out(P.SUMMARY_CSV),
        markdown=out(P.SUMMARY_MD),
        html=report(
            out(P.SUMMARY_HTML),
            category="Summary",
            subcategory="Tables",
            caption="../report/summary.rst",
        ),
    log:
        logfile("summarize"),
    benchmark:
        benchfile("summarize")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../workflow/scripts/summarize.py"
