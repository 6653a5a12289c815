# Learning curve: teacher, baselines and one student (solo and KD) on nested fractions of their
# training split; the full-data points are the main run's jobs.


rule train_teacher_fraction:
    input:
        unpack(teacher_member_inputs),
    output:
        model=out(P.LC_TEACHER_DIR, P.MODEL),
        metrics=out(P.LC_TEACHER_DIR, P.METRICS),
        history=out(P.LC_TEACHER_DIR, P.HISTORY),
    log:
        logfile("train_teacher_fraction", P.stem(P.LC_TEACHER_DIR)),
    benchmark:
        benchfile("train_teacher_fraction", P.stem(P.LC_TEACHER_DIR))
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        model=lambda w: model_params(plan.member(config, w.teacher, w.member).model),
        seed=lambda w: plan.member(config, w.teacher, w.member).seed,
        fraction=lambda w: float(w.fraction),
        train=train_params("teacher"),
    script:
        "../workflow/scripts/train_teacher.py"


rule train_student_solo_fraction:
    input:
        unpack(student_inputs),
    output:
        model=out(P.LC_SOLO_DIR, P.MODEL),
        metrics=out(P.LC_SOLO_DIR, P.METRICS),
        history=out(P.LC_SOLO_DIR, P.HISTORY),
        logits=out(P.LC_SOLO_DIR, P.TEST_LOGITS),
    log:
        logfile("train_student_solo_fraction", P.stem(P.LC_SOLO_DIR)),
    benchmark:
        benchfile("train_student_solo_fraction", P.stem(P.LC_SOLO_DIR))
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        fraction=lambda w: float(w.fraction),
        train=train_params("student"),
    script:
        "../workflow/scripts/train_student.py"


rule distill_student_fraction:
    input:
        unpack(kd_inputs),
    output:
        model=out(P.LC_KD_DIR, P.MODEL),
        metrics=out(P.LC_KD_DIR, P.METRICS),
        history=out(P.LC_KD_DIR, P.HISTORY),
        logits=out(P.LC_KD_DIR, P.TEST_LOGITS),
    log:
        logfile(
            "distill_student_fraction",
            P.stem(P.LC_KD_DIR),
        ),
    benchmark:
        benchfile(
            "distill_student_fraction",
            P.stem(P.LC_KD_DIR),
        )
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        fraction=lambda w: float(w.fraction),
        train=train_params("distill"),
        kd=kd_params,
    script:
        "../workflow/scripts/train_student.py"


rule plot_learning_curve:
    input:
        unpack(learning_curve_inputs),
        tracking=tracking_marker(),
    output:
        table=out(P.LC_DIR, "learning_curve.csv"),
        markdown=out(P.LC_DIR, "learning_curve.md"),
        html=report(
            out(P.LC_DIR, "learning_curve.html"),
            category="Learning curve",
            subcategory="Tables",
            caption="../report/learning_curve.rst",
        ),
        plot=report(
            out(P.LC_DIR, "learning_curve.png"),
            category="Learning curve",
            subcategory="Plots",
            caption="../report/learning_curve.rst",
        ),
    log:
        logfile("plot_learning_curve"),
    benchmark:
        benchfile("plot_learning_curve")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        curves=learning_curve_labels,
    script:
        "../workflow/scripts/plot_learning_curve.py"
