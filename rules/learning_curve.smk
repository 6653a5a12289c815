# Learning curve: teacher, baselines and one student (solo and KD) on nested fractions of their
# training split; the full-data points are the main run's jobs.


# The fraction rules are the main rules with other paths and a `fraction` param (the jobs
# subsample their training split by it): `use rule ... with:` keeps one definition of each.
use rule train_teacher as train_teacher_fraction with:
    output:
        model=out(P.LC_TEACHER_DIR, P.MODEL),
        metrics=out(P.LC_TEACHER_DIR, P.METRICS),
        history=out(P.LC_TEACHER_DIR, P.HISTORY),
    log:
        logfile("train_teacher_fraction", P.stem(P.LC_TEACHER_DIR)),
    benchmark:
        benchfile("train_teacher_fraction", P.stem(P.LC_TEACHER_DIR))
    priority: 0  # the students wait for the full teachers, not for these
    params:
        fraction=lambda w: float(w.fraction),


use rule train_student_solo as train_student_solo_fraction with:
    output:
        model=out(P.LC_SOLO_DIR, P.MODEL),
        metrics=out(P.LC_SOLO_DIR, P.METRICS),
        history=out(P.LC_SOLO_DIR, P.HISTORY),
        logits=out(P.LC_SOLO_DIR, P.TEST_LOGITS),
    log:
        logfile("train_student_solo_fraction", P.stem(P.LC_SOLO_DIR)),
    benchmark:
        benchfile("train_student_solo_fraction", P.stem(P.LC_SOLO_DIR))
    params:
        fraction=lambda w: float(w.fraction),


use rule distill_student as distill_student_fraction with:
    output:
        model=out(P.LC_KD_DIR, P.MODEL),
        metrics=out(P.LC_KD_DIR, P.METRICS),
        history=out(P.LC_KD_DIR, P.HISTORY),
        logits=out(P.LC_KD_DIR, P.TEST_LOGITS),
    log:
        logfile("distill_student_fraction", P.stem(P.LC_KD_DIR)),
    benchmark:
        benchfile("distill_student_fraction", P.stem(P.LC_KD_DIR))
    params:
        fraction=lambda w: float(w.fraction),


rule plot_learning_curve:
    input:
        unpack(learning_curve_inputs),
        tracking=tracking_marker(),
    output:
        table=report_out(P.LC_DIR, "learning_curve.csv"),
        markdown=report_out(P.LC_DIR, "learning_curve.md"),
        html=report(
            report_out(P.LC_DIR, "learning_curve.html"),
            category="Learning curve",
            subcategory="Tables",
            caption="../report/learning_curve.rst",
        ),
        plot=report(
            report_out(P.LC_DIR, "learning_curve.png"),
            category="Learning curve",
            subcategory="Plots",
            caption="../report/learning_curve.rst",
        ),
    log:
        report_log("plot_learning_curve")[0],
    benchmark:
        report_log("plot_learning_curve")[1]
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
