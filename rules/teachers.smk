# Teachers (single models or ensembles of members with their own seeds) and their cached soft targets.


rule train_teacher:
    input:
        unpack(teacher_member_inputs),
    output:
        model=out(P.TEACHER_DIR, P.MODEL),
        metrics=out(P.TEACHER_DIR, P.METRICS),
        history=out(P.TEACHER_DIR, P.HISTORY),
    log:
        logfile("train_teacher", P.stem(P.TEACHER_DIR)),
    benchmark:
        benchfile("train_teacher", P.stem(P.TEACHER_DIR))
    priority: 10  # every student waits for it; learning-curve fractions do not
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        model=lambda w: model_params(plan.member(config, w.teacher, w.member).model),
        seed=lambda w: plan.member(config, w.teacher, w.member).seed,
        train=train_params("teacher"),
    script:
        "../workflow/scripts/train_teacher.py"


rule compute_soft_targets:
    input:
        unpack(soft_target_inputs),
    output:
        soft_targets=out(P.SOFT_TARGETS),
        metrics=out(P.SOFT_TARGET_METRICS),
    log:
        logfile("compute_soft_targets", "{teacher}"),
    benchmark:
        benchfile("compute_soft_targets", "{teacher}")
    priority: 10  # as train_teacher: the students wait for the soft targets
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    script:
        "../workflow/scripts/compute_soft_targets.py"


# The teacher's logits on the students' unlabelled transfer jets (distillation.unlabelled),
# in a file of their own: the labelled soft targets and every job reading them stay as they are.
rule compute_unlabelled_soft_targets:
    input:
        unpack(unlabelled_soft_target_inputs),
    output:
        soft_targets=out(P.UNLABELLED_SOFT_TARGETS),
    log:
        logfile("compute_unlabelled_soft_targets", "{teacher}"),
    benchmark:
        benchfile("compute_unlabelled_soft_targets", "{teacher}")
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    script:
        "../workflow/scripts/compute_unlabelled_soft_targets.py"
