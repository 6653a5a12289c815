# hls4ml conversion with bit-exact C simulation, open-source RTL estimates, vendor synthesis when present.
# The QAT checkpoints describe themselves (model spec, bit widths): no compression settings here.


rule convert_hls:
    input:
        unpack(fpga_inputs),
    output:
        metrics=out(P.HLS_DIR, P.METRICS),
        project=out(P.HLS_DIR, P.HLS_PROJECT),
    log:
        logfile("convert_hls", P.stem(P.FPGA_DIR)),
    benchmark:
        benchfile("convert_hls", P.stem(P.FPGA_DIR))
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        hls=plan.hls_settings(config),
    script:
        "../workflow/scripts/convert_hls.py"


rule estimate_rtl:
    input:
        unpack(fpga_inputs),
    output:
        metrics=out(P.RTL_DIR, P.METRICS),
    log:
        logfile("estimate_rtl", P.stem(P.FPGA_DIR)),
    benchmark:
        benchfile("estimate_rtl", P.stem(P.FPGA_DIR))
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        rtl=plan.rtl_settings(config),
    script:
        "../workflow/scripts/estimate_rtl.py"


rule convert_hls_float:
    input:
        unpack(float_fpga_inputs),
    output:
        metrics=out(P.HLS_FLOAT_DIR, P.METRICS),
        project=out(P.HLS_FLOAT_DIR, P.HLS_PROJECT),
    log:
        logfile("convert_hls_float", P.stem(P.HLS_FLOAT_DIR)),
    benchmark:
        benchfile("convert_hls_float", P.stem(P.HLS_FLOAT_DIR))
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hls=plan.hls_settings(config, float_model=True),
    script:
        "../workflow/scripts/convert_hls_float.py"
