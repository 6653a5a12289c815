# Comparison (KD vs solo), compression frontier and the run summary.


rule compare_students:
    input:
        unpack(comparison_inputs),
    output:
        table=report_out(P.COMPARISON_DIR, "kd_vs_solo.csv"),
        reference=report_out(P.COMPARISON_DIR, "reference.csv"),
        markdown=report_out(P.COMPARISON_DIR, "kd_vs_solo.md"),
        html=report(
            report_out(P.COMPARISON_DIR, "kd_vs_solo.html"),
            category="Distillation",
            subcategory="Tables",
            caption="../report/kd_vs_solo.rst",
        ),
        acc_vs_T=report(
            report_out(P.COMPARISON_DIR, "accuracy_vs_temperature.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_temperature.rst",
        ),
        acc_vs_alpha=report(
            report_out(P.COMPARISON_DIR, "accuracy_vs_alpha.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/accuracy_vs_alpha.rst",
        ),
        agreement=report(
            report_out(P.COMPARISON_DIR, "agreement_vs_accuracy.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/agreement_vs_accuracy.rst",
        ),
        roc=report(
            report_out(P.COMPARISON_DIR, "roc_teacher_solo_kd.png"),
            category="Distillation",
            subcategory="Plots",
            caption="../report/roc.rst",
        ),
    log:
        report_log("compare_students")[0],
    benchmark:
        report_log("compare_students")[1]
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
        table=report_out(P.COMPRESSION_DIR, "frontier.csv"),
        markdown=report_out(P.COMPRESSION_DIR, "frontier.md"),
        html=report(
            report_out(P.COMPRESSION_DIR, "frontier.html"),
            category="Compression",
            subcategory="Tables",
            caption="../report/frontier_table.rst",
        ),
        plot=report(
            report_out(P.COMPRESSION_DIR, "frontier.png"),
            category="Compression",
            subcategory="Plots",
            caption="../report/frontier.rst",
        ),
    log:
        report_log("plot_frontier")[0],
    benchmark:
        report_log("plot_frontier")[1]
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
        csv=report_out(P.SUMMARY_CSV),
        markdown=report_out(P.SUMMARY_MD),
        html=report(
            report_out(P.SUMMARY_HTML),
            category="Summary",
            subcategory="Tables",
            caption="../report/summary.rst",
        ),
    log:
        report_log("summarize")[0],
    benchmark:
        report_log("summarize")[1]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../workflow/scripts/summarize.py"
