# The per-weight-precision frontier (compression.per_weight): HGQ twins of the chip students,
# KD and solo, and the peer recipe, one design per EBOPs weight; their circuits through da4ml,
# Verilator and (the Pareto set) Yosys; the frontier table. Grid and settings:
# jetdistill.plan.frontier.


def hgq_inputs(w):
    """The jets a design trains on (as QAT: the compression arm's), the teacher's or float
    student's targets in mode kd, and the float student it starts from (not the peer).
    """
    cfg = compression_config()
    inputs = student_inputs(w, cfg)
    if w.mode == "kd":
        teacher = plan.compression_teacher(config)
        inputs["soft_targets"] = soft_targets(teacher)
        if plan.unlabelled_on(cfg):
            jets, logits = unlabelled_files_of(cfg, w.student, teacher)
            inputs.update(unlabelled=jets, unlabelled_soft_targets=logits)
    if plan.on_peer_recipe(config, plan.HGQJob.from_wildcards(w)):
        return inputs  # from scratch: no float student
    if w.mode == "kd":
        ref = plan.kd_reference(config, w.student, int(w.seed))
    else:
        ref = plan.solo_reference(config, w.student, int(w.seed))
    inputs["float_model"] = ref.path(R, P.MODEL)
    return inputs


def hgq_rtl_inputs(w):
    return {
        "model": plan.HGQJob.from_wildcards(w).path(R, P.KERAS_MODEL),
        "transfer": at(P.VIEW_SPLIT, view=view_of(w.student), split="transfer"),
        "test": at(P.VIEW_SPLIT, view=view_of(w.student), split="test"),
        "tracking": tracking_marker(),
    }


def hgq_params(w):
    return plan.hgq_job_settings(config, plan.HGQJob.from_wildcards(w))


def all_hgq_metrics():
    return [j.path(R, P.METRICS) for j in plan.hgq_jobs(config)]


def all_hgq_rtl_metrics():
    return [j.path(R, P.METRICS, directory=j.RTL_DIR) for j in plan.hgq_jobs(config)]


def all_hgq_projects():
    return [
        j.path(R, P.VERILOG_PROJECT, directory=j.RTL_DIR) for j in plan.hgq_jobs(config)
    ]


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
