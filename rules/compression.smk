# Quantisation-aware training (Brevitas) solo and with KD, with iterative magnitude/OBD pruning.


rule train_qat:
    input:
        unpack(qat_inputs),
    output:
        model=f"{R}/qat/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/model.pt",
        metrics=f"{R}/qat/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/metrics.json",
        history=f"{R}/qat/{{student}}/{{mode}}/b{{bits}}_s{{sparsity}}/seed{{seed}}/history.csv",
    log:
        f"{R}/logs/train_qat/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_qat/{{student}}_{{mode}}_b{{bits}}_s{{sparsity}}_seed{{seed}}.tsv"
    conda:
        "../envs/compress.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        train=train_params("qat"),
        compression=config["compression"],
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_qat.py"
