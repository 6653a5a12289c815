# Shared helpers: config validation, the job grid, and output paths.
# Everything computed here comes from jetdistill.plan so that a sweep is a config change.

import os

from snakemake.utils import validate

from jetdistill import paths as P
from jetdistill import plan
from jetdistill.plan.checks_data import check_data_files

# Parse time: the config is completed and checked and the job environment set in one call,
# the only state the rule files change (jetdistill.plan.prepare_config says what and why).
plan.prepare_config(
    config,
    workflow.config_settings.overwrite_config,
    lambda cfg: validate(cfg, "../workflow/schemas/config.schema.yaml"),
    cli_cfg=workflow.config_settings.config,
    schema_path=os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"),
)
# The user's data files too, before Snakemake removes any output (jetdistill.plan.checks_data).
check_data_files(config, config["results"])

R = config["results"]
SPLITS = plan.SPLITS
#: a study's tables go to results/studies/<study>/ (schema key ``study``): its jobs share the
#: results folder they run in, its reports never overwrite another config's
STUDY = config.get("study") or ""


wildcard_constraints:
    cls=r"gluon|light_quark|W|Z|top",
    shard=r"\d+",
    member=r"\d+",
    seed=r"\d+",
    bits=r"\d+",
    T=r"[0-9.e+-]+",
    alpha=r"[0-9.e+-]+",
    sparsity=r"[0-9.e+-]+",
    cost=r"[0-9.e+-]+",
    mode=r"solo|kd|peer",
    group=r"\d+",
    fraction=r"[0-9.e+-]+",
    arm=r"[a-z][a-z0-9-]*",
    mult=r"[0-9.e+-]+",


def start_invocation():
    """Probe the tracking store, set it up and open the invocation's parent run: once per
    invocation, in the main process, before any job (jetdistill.jobs.invocation)."""
    from jetdistill.jobs import invocation

    invocation.start_invocation(config["tracking"], config)


def print_estimate():
    """Remaining time from recorded per-rule costs (jetdistill.run_costs); never fails a run."""
    from jetdistill import run_costs

    print(run_costs.remaining_message(workflow, R))


def end_invocation(success):
    if not os.environ.get("JETDISTILL_PARENT_RUN_ID"):
        return  # onstart failed before the parent run existed: nothing to close
    from jetdistill.jobs import invocation

    invocation.end_invocation(config["tracking"], success=success)
    if success:
        try:
            print(invocation.runs_hint(config["tracking"]))
        except Exception as exc:  # a hint must never fail a finished run
            print(f"(no MLflow link: {exc})")


# ----------------------------------------------------------------- paths (jetdistill.paths)
def out(*parts):
    """A rule's input/output path under results/, wildcards left in."""
    return P.template(R, *parts)


def report_out(*parts):
    """An aggregation's output: under studies/<study>/ for a study, else the run's own."""
    return out(*(("studies", STUDY) if STUDY else ()), *parts)


def report_log(rule):
    """An aggregation's log (a study's own, so that it never overwrites the run's)."""
    return logfile(rule, STUDY or None), benchfile(rule, STUDY or None)


def at(*parts, **wildcards):
    """The concrete path of one job's file."""
    return P.fill(R, *parts, **wildcards)


def logfile(rule, stem=None):
    return P.log(R, rule, stem)


def benchfile(rule, stem=None):
    return P.benchmark(R, rule, stem)


def tracking_marker():
    """The tracking store exists (jobs wait for it); ancient: a re-created store (new
    experiment) does not make finished jobs stale."""
    return ancient(out(P.TRACKING_MARKER))


def view_of(model):
    return config["models"][model]["view"]


def view_files(view, splits=SPLITS):
    files = {s: at(P.VIEW_SPLIT, view=view, split=s) for s in splits}
    files["norm"] = at(P.VIEW_NORM, view=view)
    return files


def teacher_member_inputs(w):
    m = plan.member(config, w.teacher, w.member)
    return {**view_files(view_of(m.model)), "tracking": tracking_marker()}


def teacher_member_models(teacher):
    n = len(config["teachers"][teacher]["members"])
    return [at(P.TEACHER_DIR, P.MODEL, teacher=teacher, member=i) for i in range(n)]


def soft_target_inputs(w):
    members = config["teachers"][w.teacher]["members"]
    views = sorted({view_of(m["model"]) for m in members})
    files = {}
    for v in views:
        # every split a student may learn from is cached (plan.transfer_splits): choosing
        # another transfer set reruns the students, not this job
        for s in (*plan.STUDENT_SPLITS, "val", "test"):
            files[f"{v}__{s}"] = at(P.VIEW_SPLIT, view=v, split=s)
    if plan.views_settings(config) is not None:  # augmented views from the raw jets
        files.update(splits=out(P.SPLITS), raw=plan.source_files(config, R))
        files.update({f"{v}__norm": at(P.VIEW_NORM, view=v) for v in views})
    return {
        **files,
        "models": teacher_member_models(w.teacher),
        "tracking": tracking_marker(),
    }


def soft_targets(teacher):
    return at(P.SOFT_TARGETS, teacher=teacher)


def generalist_view(teacher):
    """The view of a generalist's member 0, the model its specialists copy."""
    return view_of(config["teachers"][teacher]["members"][0]["model"])


def specialist_inputs(w):
    return {
        **view_files(generalist_view(w.teacher), ("teacher_train", "val", "test")),
        "generalist": at(P.TEACHER_DIR, P.MODEL, teacher=w.teacher, member=0),
        "groups": at(P.SPECIALIST_GROUPS, teacher=w.teacher),
        "tracking": tracking_marker(),
    }


def combine_inputs(w):
    generalist = plan.specialist_teachers(config)[w.teacher]
    n = plan.specialist_groups_count(config, generalist)
    return {
        **view_files(generalist_view(generalist), ("transfer", "val", "test")),
        "soft_targets": soft_targets(generalist),
        "specialists": [
            at(P.SPECIALIST_DIR, P.MODEL, teacher=generalist, group=k) for k in range(n)
        ],
        "tracking": tracking_marker(),
    }


def augmented_input(w):
    """The student's augmented transfer jets, when it reads them (distillation.views)."""
    return {"augmented": at(P.VIEW_AUG, view=view_of(w.student), split="transfer")}


def arm_of(w):
    """The arm of a student job (distillation.arms); jobs without the wildcard (learning
    curves) are the default arm's."""
    return dict(w.items()).get("arm", plan.DEFAULT_ARM)


def arm_config(w):
    """The config as the student job of these wildcards reads it (its arm's settings)."""
    return plan.arm_config(config, arm_of(w))


def unlabelled_files_of(cfg, student, teacher):
    """A student's unlabelled jets and ``teacher``'s logits on them, at ``cfg``'s multiple."""
    mult = plan.multiple_text(plan.unlabelled_multiple(cfg))
    return (
        at(P.VIEW_UNLABELLED, view=view_of(student), mult=mult),
        at(P.UNLABELLED_SOFT_TARGETS, teacher=teacher, mult=mult),
    )


def student_inputs(w, cfg=None):
    cfg = cfg or arm_config(w)
    splits = (*plan.transfer_splits(cfg), "val", "test")
    files = view_files(view_of(w.student), splits)
    if plan.solo_views(cfg, w.student):
        files.update(augmented_input(w))
    return {
        **files,
        "fidelity": soft_targets(
            plan.fidelity_teacher(config)
        ),  # one reference, all arms
        "tracking": tracking_marker(),
    }


def kd_inputs(w):
    cfg = arm_config(w)
    views = augmented_input(w) if plan.views_settings(cfg) is not None else {}
    files = {**student_inputs(w, cfg), **views, "soft_targets": soft_targets(w.teacher)}
    if plan.unlabelled_on(cfg):  # distillation.unlabelled: teacher term only on these
        jets, logits = unlabelled_files_of(cfg, w.student, w.teacher)
        files.update(unlabelled=jets, unlabelled_soft_targets=logits)
    return files


def solo_all_inputs(w):
    """The solo-on-all reference: the solo student's inputs plus the unlabelled jets (with
    their labels) and the fidelity teacher's logits on them."""
    cfg = arm_config(w)
    jets, logits = unlabelled_files_of(cfg, w.student, plan.fidelity_teacher(config))
    return {**student_inputs(w, cfg), "unlabelled": jets, "unlabelled_fidelity": logits}


def unlabelled_soft_target_inputs(w):
    members = config["teachers"][w.teacher]["members"]
    views = sorted({view_of(m["model"]) for m in members})
    return {
        **{v: at(P.VIEW_UNLABELLED, view=v, mult=w.mult) for v in views},
        "models": teacher_member_models(w.teacher),
        "tracking": tracking_marker(),
    }


def compression_config():
    """The config as the compression stage reads it: its arm's (compression.arm)."""
    return plan.arm_config(config, plan.compression_arm(config))


def qat_inputs(w):
    cfg = compression_config()
    inputs = student_inputs(w, cfg)
    if w.mode == "kd":
        teacher = plan.compression_teacher(config)
        inputs["soft_targets"] = soft_targets(teacher)
        # KD stays on in QAT, on the same unlabelled jets as the float KD student
        if plan.unlabelled_on(cfg):
            jets, logits = unlabelled_files_of(cfg, w.student, teacher)
            inputs.update(unlabelled=jets, unlabelled_soft_targets=logits)
    if config["compression"]["init"] == "finetune":
        if w.mode == "kd":
            ref = plan.kd_reference(config, w.student, int(w.seed))
        else:
            ref = plan.solo_reference(config, w.student, int(w.seed))
        inputs["float_model"] = ref.path(R, P.MODEL)
    return inputs


def fpga_inputs(w):
    return {
        "model": plan.QATJob.from_wildcards(w).path(R, P.MODEL),
        "test": at(P.VIEW_SPLIT, view=view_of(w.student), split="test"),
        "tracking": tracking_marker(),
    }


def float_fpga_inputs(w):
    return {
        "model": plan.SoloJob.from_wildcards(w).path(R, P.MODEL),
        "test": at(P.VIEW_SPLIT, view=view_of(w.student), split="test"),
        "tracking": tracking_marker(),
    }


def lc_metrics(p):
    """metrics.json of a learning-curve point (jetdistill.identity.CurvePoint)."""
    return p.path(R, P.METRICS)


def learning_curve_inputs(w):
    return {"points": [lc_metrics(p) for p in plan.learning_curve_points(config)]}


def learning_curve_labels(w):
    return plan.job_settings(
        {lc_metrics(p): p.curve for p in plan.learning_curve_points(config)}
    )


def comparison_inputs(w):
    """Metrics of teachers and students, plus what the ROC plot reads: the first student's
    test view, the students' test logits and the teachers' soft targets."""
    solo, kd = plan.solo_jobs(config), plan.kd_jobs(config)
    return {
        "teachers": all_soft_target_metrics(),
        "solo": [j.path(R, P.METRICS) for j in solo],
        "kd": [j.path(R, P.METRICS) for j in kd],
        "solo_all": all_solo_all_metrics(),
        "logits": [j.path(R, P.TEST_LOGITS) for j in [*solo, *kd]],
        "soft_targets": [soft_targets(t) for t in plan.distill_teachers(config)],
        "roc_test": at(P.VIEW_SPLIT, view=view_of(config["students"][0]), split="test"),
        "tracking": tracking_marker(),
    }


# ----------------------------------------------------------------- params (leaf settings)
# A job's params are exactly the settings that change its result (jetdistill.plan builds
# them); Snakemake reruns a job when they change, and only then.
# Every dict param goes through plan.job_settings: Snakemake compares its canonical repr, so a
# config written back in another key order or with 1 for 1.0 reruns nothing.
def model_params(model):
    return plan.job_settings({"name": model, **config["models"][model]})


def train_params(kind):
    return plan.job_settings(config["training"][kind])


def student_train_params(kind):
    """A student job's training settings: training.<kind> with training.per_student on top,
    as its arm gives them."""
    return lambda w: plan.job_settings(
        plan.student_training(arm_config(w), kind, w.student)
    )


def view_params(w):
    return plan.job_settings(config["views"][w.view])


def tracking_params():
    return plan.job_settings(config["tracking"])


def transfer_split_params():
    """The splits a float student trains on (plan.transfer_splits, its arm's): a param, so
    changing them reruns the students only."""
    return lambda w: plan.transfer_splits(arm_config(w))


def kd_params(w):
    """The KD loss of one distillation job: its identity plus its method's own settings."""
    return plan.kd_job_settings(arm_config(w), plan.KDJob.from_wildcards(w))


def solo_arm_param(w):
    """The arm whose solo jobs are this KD student's twins (recorded for the comparison)."""
    return plan.solo_arm(config, arm_of(w), w.student)


def qat_params(w):
    return plan.qat_job_settings(config, plan.QATJob.from_wildcards(w))


# ----------------------------------------------------------------- aggregate targets
def all_teacher_metrics():
    return [m.path(R, P.METRICS) for m in plan.teacher_members(config)]


def all_soft_target_metrics():
    return [at(P.SOFT_TARGET_METRICS, teacher=t) for t in plan.used_teachers(config)]


def all_solo_metrics():
    return [j.path(R, P.METRICS) for j in plan.solo_jobs(config)]


def all_kd_metrics():
    return [j.path(R, P.METRICS) for j in plan.kd_jobs(config)]


def all_solo_all_metrics():
    return [j.path(R, P.METRICS) for j in plan.solo_all_jobs(config)]


def all_qat_metrics():
    return [j.path(R, P.METRICS) for j in plan.qat_jobs(config)]


def all_fpga_metrics():
    """The conversions of fpga.targets (the backends each type reaches: registry `chip`
    flags, fpga.rtl), the frontier's RTL estimates (fpga.frontier_seeds) and float students.
    """
    out = [j.path(R, P.METRICS, directory=j.HLS_DIR) for j in plan.hls_jobs(config)]
    out += [j.path(R, P.METRICS, directory=j.RTL_DIR) for j in plan.rtl_jobs(config)]
    out += [j.path(R, P.METRICS) for j in plan.float_fpga_jobs(config)]
    return out


def all_model_metrics():
    return (
        all_teacher_metrics()
        + all_soft_target_metrics()
        + all_solo_metrics()
        + all_kd_metrics()
        + all_solo_all_metrics()
        + all_qat_metrics()
        + all_fpga_metrics()
    )


def final_outputs():
    outs = [report_out(P.SUMMARY_CSV), report_out(P.SUMMARY_MD)]
    if plan.kd_jobs(config):
        outs.append(report_out(P.COMPARISON_DIR, "kd_vs_solo.csv"))
    if plan.qat_jobs(config):
        outs.append(report_out(P.COMPRESSION_DIR, "frontier.csv"))
    if plan.learning_curve_points(config):
        outs.append(report_out(P.LC_DIR, "learning_curve.csv"))
    if plan.hgq_jobs(config):
        outs.append(report_out(P.COMPRESSION_DIR, "chip_frontier.csv"))
    return outs


# ----------------------------------------------------------------- the chip frontier (rules/frontier.smk)
def hgq_inputs(w):
    """The jets a design trains on (as QAT: the compression arm's), the teacher's or float
    student's targets in mode kd, and the float student it starts from (not the peer).
    """
    cfg = compression_config()
    inputs = student_inputs(w, cfg)
    if w.mode == "kd":
        teacher = plan.compression_teacher(config)
        inputs["soft_targets"] = soft_targets(teacher)
        if plan.unlabelled_on(cfg):
            jets, logits = unlabelled_files_of(cfg, w.student, teacher)
            inputs.update(unlabelled=jets, unlabelled_soft_targets=logits)
    if plan.on_peer_recipe(config, plan.HGQJob.from_wildcards(w)):
        return inputs  # from scratch: no float student
    if w.mode == "kd":
        ref = plan.kd_reference(config, w.student, int(w.seed))
    else:
        ref = plan.solo_reference(config, w.student, int(w.seed))
    inputs["float_model"] = ref.path(R, P.MODEL)
    return inputs


def hgq_rtl_inputs(w):
    return {
        "model": plan.HGQJob.from_wildcards(w).path(R, P.KERAS_MODEL),
        "transfer": at(P.VIEW_SPLIT, view=view_of(w.student), split="transfer"),
        "test": at(P.VIEW_SPLIT, view=view_of(w.student), split="test"),
        "tracking": tracking_marker(),
    }


def hgq_params(w):
    return plan.hgq_job_settings(config, plan.HGQJob.from_wildcards(w))


def all_hgq_metrics():
    return [j.path(R, P.METRICS) for j in plan.hgq_jobs(config)]


def all_hgq_rtl_metrics():
    return [j.path(R, P.METRICS, directory=j.RTL_DIR) for j in plan.hgq_jobs(config)]


def all_hgq_projects():
    return [
        j.path(R, P.VERILOG_PROJECT, directory=j.RTL_DIR) for j in plan.hgq_jobs(config)
    ]


def chip_rtl_metrics():
    """The one-width (Brevitas) designs with a circuit, for the chip frontier's table."""
    return [j.path(R, P.METRICS, directory=j.RTL_DIR) for j in plan.rtl_jobs(config)]


def chip_qat_metrics():
    """The QAT runs of those designs (their test accuracy)."""
    return [j.path(R, P.METRICS) for j in plan.rtl_jobs(config)]
