# The per-weight-precision frontier (compression.per_weight): HGQ twins of the chip students,
# KD and solo, and the peer recipe, one design per EBOPs weight; their circuits through da4ml,
# Verilator and (the Pareto set) Yosys; the frontier table. Grid and settings:
# jetdistill.plan.frontier.


rule train_hgq:
    input:
        unpack(hgq_inputs),
    output:
        model=out(P.HGQ_DIR, P.KERAS_MODEL),
        metrics=out(P.HGQ_DIR, P.METRICS),
        history=out(P.HGQ_DIR, P.HISTORY),
    log:
        logfile("train_hgq", P.stem(P.HGQ_DIR)),
    benchmark:
        benchfile("train_hgq", P.stem(P.HGQ_DIR))
    conda:
        "../envs/compress.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        hgq=hgq_params,
    script:
        "../workflow/scripts/train_hgq.py"


rule estimate_hgq_rtl:
    input:
        unpack(hgq_rtl_inputs),
    output:
        metrics=out(P.HGQ_RTL_DIR, P.METRICS),
        project=out(P.HGQ_RTL_DIR, P.VERILOG_PROJECT),
    log:
        logfile("estimate_hgq_rtl", P.stem(P.HGQ_RTL_DIR)),
    benchmark:
        benchfile("estimate_hgq_rtl", P.stem(P.HGQ_RTL_DIR))
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        rtl=plan.hgq_rtl_settings(config),
        yosys=plan.synthesize_mode(config) == "all",
    script:
        "../workflow/scripts/estimate_hgq_rtl.py"


rule synthesize_frontier:
    input:
        rtl=all_hgq_rtl_metrics(),
        projects=all_hgq_projects(),
        metrics=all_hgq_metrics(),
        tracking=tracking_marker(),
    output:
        synth=report_out(P.COMPRESSION_DIR, "frontier_synth.json"),
    log:
        report_log("synthesize_frontier")[0],
    benchmark:
        report_log("synthesize_frontier")[1]
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        synthesize=plan.synthesize_mode(config),
    script:
        "../workflow/scripts/synthesize_frontier.py"


rule report_chip_frontier:
    input:
        metrics=all_hgq_metrics(),
        rtl=all_hgq_rtl_metrics(),
        synth=report_out(P.COMPRESSION_DIR, "frontier_synth.json"),
        qat=chip_qat_metrics(),
        qat_rtl=chip_rtl_metrics(),
        tracking=tracking_marker(),
    output:
        table=report_out(P.COMPRESSION_DIR, "chip_frontier.csv"),
        markdown=report_out(P.COMPRESSION_DIR, "chip_frontier.md"),
        plot=report(
            report_out(P.COMPRESSION_DIR, "chip_frontier.png"),
            category="Compression",
            subcategory="Plots",
            caption="../report/chip_frontier.rst",
        ),
    log:
        report_log("report_chip_frontier")[0],
    benchmark:
        report_log("report_chip_frontier")[1]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        peer=plan.peer_model(config),
    script:
        "../workflow/scripts/report_chip_frontier.py"
