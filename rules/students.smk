# Students: trained alone (solo) and distilled (KD) from cached soft targets, over seeds and sweeps.


rule train_student_solo:
    input:
        unpack(student_inputs),
    output:
        model=out(P.SOLO_DIR, P.MODEL),
        metrics=out(P.SOLO_DIR, P.METRICS),
        history=out(P.SOLO_DIR, P.HISTORY),
        logits=out(P.SOLO_DIR, P.TEST_LOGITS),
    log:
        logfile("train_student_solo", P.stem(P.SOLO_DIR)),
    benchmark:
        benchfile("train_student_solo", P.stem(P.SOLO_DIR))
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        **plan.solo_params(config),  # distillation.views when the solo twin sees them
        model=lambda w: model_params(w.student),
        train=student_train_params("student"),
        transfer_splits=transfer_split_params(),
    script:
        "../workflow/scripts/train_student.py"


rule distill_student:
    input:
        unpack(kd_inputs),
    output:
        model=out(P.KD_DIR, P.MODEL),
        metrics=out(P.KD_DIR, P.METRICS),
        history=out(P.KD_DIR, P.HISTORY),
        logits=out(P.KD_DIR, P.TEST_LOGITS),
    log:
        logfile("distill_student", P.stem(P.KD_DIR)),
    benchmark:
        benchfile("distill_student", P.stem(P.KD_DIR))
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        train=student_train_params("distill"),
        transfer_splits=transfer_split_params(),
        kd=kd_params,
        solo_arm=solo_arm_param,
    script:
        "../workflow/scripts/train_student.py"


# The upper reference of unlabelled transfer jets: solo on transfer + unlabelled, with labels.
use rule train_student_solo as train_student_solo_all with:
    input:
        unpack(solo_all_inputs),
    output:
        model=out(P.SOLO_ALL_DIR, P.MODEL),
        metrics=out(P.SOLO_ALL_DIR, P.METRICS),
        history=out(P.SOLO_ALL_DIR, P.HISTORY),
        logits=out(P.SOLO_ALL_DIR, P.TEST_LOGITS),
    log:
        logfile("train_student_solo_all", P.stem(P.SOLO_ALL_DIR)),
    benchmark:
        benchfile("train_student_solo_all", P.stem(P.SOLO_ALL_DIR))
