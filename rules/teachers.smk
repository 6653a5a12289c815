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
    wildcard_constraints:
        teacher=plan.wildcard_choice(plan.member_teachers(config)),
    priority: 10  # as train_teacher: the students wait for the soft targets
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        **plan.soft_target_params(config),  # none unless distillation.views.k > 0
    script:
        "../workflow/scripts/compute_soft_targets.py"


# Specialists (Hinton et al. 2015, section 5): teacher NAME_spec = the generalist NAME combined
# with one specialist per class group it confuses; the specialists train in parallel.
rule choose_specialist_groups:
    input:
        soft_targets=soft_targets("{teacher}"),
        val=lambda w: at(P.VIEW_SPLIT, view=generalist_view(w.teacher), split="val"),
    output:
        groups=out(P.SPECIALIST_GROUPS),
    log:
        logfile("choose_specialist_groups", "{teacher}"),
    benchmark:
        benchfile("choose_specialist_groups", "{teacher}")
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        groups=lambda w: plan.specialist_group_settings(config, w.teacher),
    script:
        "../workflow/scripts/choose_specialist_groups.py"


rule train_specialist:
    input:
        unpack(specialist_inputs),
    output:
        model=out(P.SPECIALIST_DIR, P.MODEL),
        metrics=out(P.SPECIALIST_DIR, P.METRICS),
        history=out(P.SPECIALIST_DIR, P.HISTORY),
    log:
        logfile("train_specialist", P.stem(P.SPECIALIST_DIR)),
    benchmark:
        benchfile("train_specialist", P.stem(P.SPECIALIST_DIR))
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        specialist=lambda w: plan.specialist_train_settings(config, w.teacher),
    script:
        "../workflow/scripts/train_specialist.py"


rule combine_specialists:
    input:
        unpack(combine_inputs),
    output:
        soft_targets=out(P.SOFT_TARGETS),
        metrics=out(P.SOFT_TARGET_METRICS),
    log:
        logfile("combine_specialists", "{teacher}"),
    benchmark:
        benchfile("combine_specialists", "{teacher}")
    wildcard_constraints:
        teacher=plan.wildcard_choice(plan.specialist_teachers(config)),
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        combine=lambda w: plan.specialist_combine_settings(
            config, plan.specialist_teachers(config)[w.teacher]
        ),
    script:
        "../workflow/scripts/combine_specialists.py"


# The teacher's logits on the students' unlabelled transfer jets (distillation.unlabelled),
# in a file of their own: the labelled soft targets and every job reading them stay as they are.
rule compute_unlabelled_soft_targets:
    input:
        unpack(unlabelled_soft_target_inputs),
    output:
        soft_targets=out(P.UNLABELLED_SOFT_TARGETS),
    log:
        logfile("compute_unlabelled_soft_targets", "{teacher}_x{mult}"),
    benchmark:
        benchfile("compute_unlabelled_soft_targets", "{teacher}_x{mult}")
    priority: 10
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    script:
        "../workflow/scripts/compute_unlabelled_soft_targets.py"
