# Quantisation-aware training (Brevitas) solo and with KD, with iterative magnitude/OBD pruning.


rule train_qat:
    input:
        unpack(qat_inputs),
    output:
        model=out(P.QAT_DIR, P.MODEL),
        metrics=out(P.QAT_DIR, P.METRICS),
        history=out(P.QAT_DIR, P.HISTORY),
    log:
        logfile("train_qat", P.stem(P.QAT_DIR)),
    benchmark:
        benchfile("train_qat", P.stem(P.QAT_DIR))
    conda:
        "../envs/compress.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        train=train_params("qat"),
        qat=qat_params,
    script:
        "../workflow/scripts/train_qat.py"
