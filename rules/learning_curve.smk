# Learning curve: teacher, baselines and one student (solo and KD) on nested fractions of their
# training split; the full-data points are the main run's jobs.


rule train_teacher_fraction:
    input:
        unpack(teacher_member_inputs),
    output:
        model=f"{R}/learning_curve/teacher/{{teacher}}/member{{member}}/f{{fraction}}/model.pt",
        metrics=f"{R}/learning_curve/teacher/{{teacher}}/member{{member}}/f{{fraction}}/metrics.json",
        history=f"{R}/learning_curve/teacher/{{teacher}}/member{{member}}/f{{fraction}}/history.csv",
    log:
        f"{R}/logs/train_teacher_fraction/{{teacher}}_member{{member}}_f{{fraction}}.log",
    benchmark:
        f"{R}/benchmarks/train_teacher_fraction/{{teacher}}_member{{member}}_f{{fraction}}.tsv"
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
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_teacher.py"


rule train_student_solo_fraction:
    input:
        unpack(student_inputs),
    output:
        model=f"{R}/learning_curve/solo/{{student}}/f{{fraction}}/seed{{seed}}/model.pt",
        metrics=f"{R}/learning_curve/solo/{{student}}/f{{fraction}}/seed{{seed}}/metrics.json",
        history=f"{R}/learning_curve/solo/{{student}}/f{{fraction}}/seed{{seed}}/history.csv",
        logits=f"{R}/learning_curve/solo/{{student}}/f{{fraction}}/seed{{seed}}/test_logits.npy",
    log:
        f"{R}/logs/train_student_solo_fraction/{{student}}_f{{fraction}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_student_solo_fraction/{{student}}_f{{fraction}}_seed{{seed}}.tsv"
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
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_student.py"


rule distill_student_fraction:
    input:
        unpack(kd_inputs),
    output:
        model=f"{R}/learning_curve/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/f{{fraction}}/seed{{seed}}/model.pt",
        metrics=f"{R}/learning_curve/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/f{{fraction}}/seed{{seed}}/metrics.json",
        history=f"{R}/learning_curve/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/f{{fraction}}/seed{{seed}}/history.csv",
        logits=f"{R}/learning_curve/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/f{{fraction}}/seed{{seed}}/test_logits.npy",
    log:
        f"{R}/logs/distill_student_fraction/{{student}}_{{teacher}}_{{method}}_T{{T}}_a{{alpha}}_f{{fraction}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/distill_student_fraction/{{student}}_{{teacher}}_{{method}}_T{{T}}_a{{alpha}}_f{{fraction}}_seed{{seed}}.tsv"
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
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_student.py"


rule plot_learning_curve:
    input:
        unpack(learning_curve_inputs),
        tracking=tracking_marker(),
    output:
        table=f"{R}/learning_curve/learning_curve.csv",
        markdown=f"{R}/learning_curve/learning_curve.md",
        html=report(
            f"{R}/learning_curve/learning_curve.html",
            category="Learning curve",
            subcategory="Tables",
            caption="../report/learning_curve.rst",
        ),
        plot=report(
            f"{R}/learning_curve/learning_curve.png",
            category="Learning curve",
            subcategory="Plots",
            caption="../report/learning_curve.rst",
        ),
    log:
        f"{R}/logs/plot_learning_curve.log",
    benchmark:
        f"{R}/benchmarks/plot_learning_curve.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        curves=learning_curve_labels,
        tracking=tracking_params(),
    script:
        "../workflow/scripts/plot_learning_curve.py"
