# Teachers (single models or ensembles of members with their own seeds) and their cached soft targets.


rule train_teacher:
    input:
        unpack(teacher_member_inputs),
    output:
        model=f"{R}/teachers/{{teacher}}/member{{member}}/model.pt",
        metrics=f"{R}/teachers/{{teacher}}/member{{member}}/metrics.json",
        history=f"{R}/teachers/{{teacher}}/member{{member}}/history.csv",
    log:
        f"{R}/logs/train_teacher/{{teacher}}_member{{member}}.log",
    benchmark:
        f"{R}/benchmarks/train_teacher/{{teacher}}_member{{member}}.tsv"
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
        tracking=tracking_params(),
    script:
        "../workflow/scripts/train_teacher.py"


rule compute_soft_targets:
    input:
        unpack(soft_target_inputs),
    output:
        soft_targets=f"{R}/soft_targets/{{teacher}}.h5",
        metrics=f"{R}/soft_targets/{{teacher}}.metrics.json",
    log:
        f"{R}/logs/compute_soft_targets/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/compute_soft_targets/{{teacher}}.tsv"
    priority: 10  # as train_teacher: the students wait for the soft targets
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        members=lambda w: [
            {**model_params(m["model"]), "seed": m.get("seed", i)}
            for i, m in enumerate(config["teachers"][w.teacher]["members"])
        ],
        train=train_params("teacher"),
        tracking=tracking_params(),
    script:
        "../workflow/scripts/compute_soft_targets.py"
