# hls4ml conversion with bit-exact C simulation, open-source RTL estimates, vendor synthesis when present.


rule convert_hls:
    input:
        unpack(fpga_inputs),
    output:
        metrics=f"{R}/fpga/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/hls/metrics.json",
        project=f"{R}/fpga/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/hls/project.tar.gz",
    log:
        f"{R}/logs/convert_hls/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/convert_hls/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.tsv"
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        compression=config["compression"],
        fpga=config["fpga"],
        tracking=tracking_params(),
    script:
        "../workflow/scripts/convert_hls.py"


rule estimate_rtl:
    input:
        unpack(fpga_inputs),
    output:
        metrics=f"{R}/fpga/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/rtl/metrics.json",
    log:
        f"{R}/logs/estimate_rtl/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/estimate_rtl/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.tsv"
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        compression=config["compression"],
        fpga=config["fpga"],
        tracking=tracking_params(),
    script:
        "../workflow/scripts/estimate_rtl.py"


rule convert_hls_float:
    input:
        model=f"{R}/students/solo/{{student}}/seed{{seed}}/model.pt",
        test=lambda w: f"{R}/data/views/{view_of(w.student)}/test.h5",
        tracking=tracking_marker(),
    output:
        metrics=f"{R}/fpga/float/{{student}}/seed{{seed}}/metrics.json",
        project=f"{R}/fpga/float/{{student}}/seed{{seed}}/project.tar.gz",
    log:
        f"{R}/logs/convert_hls_float/{{student}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/convert_hls_float/{{student}}_seed{{seed}}.tsv"
    conda:
        "../envs/fpga.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda w: model_params(w.student),
        fpga=config["fpga"],
        tracking=tracking_params(),
    script:
        "../workflow/scripts/convert_hls_float.py"
