# Students: trained alone (solo) and distilled (KD) from cached soft targets, over seeds and sweeps.


rule train_student_solo:
    input:
        unpack(student_inputs),
    output:
        model=f"{R}/students/solo/{{student}}/seed{{seed}}/model.pt",
        metrics=f"{R}/students/solo/{{student}}/seed{{seed}}/metrics.json",
        history=f"{R}/students/solo/{{student}}/seed{{seed}}/history.csv",
        logits=f"{R}/students/solo/{{student}}/seed{{seed}}/test_logits.npy",
    log:
        f"{R}/logs/train_student_solo/{{student}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_student_solo/{{student}}_seed{{seed}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        train=train_params("student"),
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_student.py"


rule distill_student:
    input:
        unpack(kd_inputs),
    output:
        model=f"{R}/students/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/seed{{seed}}/model.pt",
        metrics=f"{R}/students/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/seed{{seed}}/metrics.json",
        history=f"{R}/students/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/seed{{seed}}/history.csv",
        logits=f"{R}/students/kd/{{student}}/{{teacher}}/{{method}}/T{{T}}_a{{alpha}}/seed{{seed}}/test_logits.npy",
    log:
        f"{R}/logs/distill_student/{{student}}_{{teacher}}_{{method}}_T{{T}}_a{{alpha}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/distill_student/{{student}}_{{teacher}}_{{method}}_T{{T}}_a{{alpha}}_seed{{seed}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        model=lambda w: model_params(w.student),
        train=train_params("distill"),
        kd=kd_params,
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_student.py"
