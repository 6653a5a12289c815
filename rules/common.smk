# Shared helpers: config validation, the job grid, and output paths.
# Everything computed here comes from jetdistill.plan so that a sweep is a config change.

import os
import uuid
from datetime import datetime, timezone

from snakemake.utils import validate

from jetdistill import plan, uris

# `replace: [models, teachers, ...]`: those sections come from the user's config alone
plan.apply_replace(config, workflow.config_settings.overwrite_config)
validate(config, "../workflow/schemas/config.schema.yaml")
plan.check_config(config)
# a password in tracking.uri stays in this process's environment; params, the config the
# jobs receive and Snakemake's metadata hold only the masked URI (user:***@host)
config["tracking"] = uris.protect(config["tracking"])

R = config["results"]
SPLITS = plan.SPLITS

# One id per `snakemake` invocation; jobs (local subprocesses or SLURM jobs, which inherit
# the environment) tag their MLflow runs with it. Never a param: it changes every run.
os.environ.setdefault(
    "JETDISTILL_INVOCATION_ID",
    datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:8],
)


wildcard_constraints:
    cls=r"gluon|light_quark|W|Z|top",
    shard=r"\d+",
    member=r"\d+",
    seed=r"\d+",
    bits=r"\d+",
    T=r"[0-9.e+-]+",
    alpha=r"[0-9.e+-]+",
    sparsity=r"[0-9.e+-]+",
    mode=r"solo|kd",
    fraction=r"[0-9.e+-]+",


def start_invocation():
    """Create the tracking store and the invocation's parent run once, in the main process."""
    from jetdistill import probe

    # bounded by tracking.timeout_s, and before MLflow is imported (seconds on a busy node)
    probe.check_tracking(config["tracking"])
    from jetdistill import jobs

    jobs.start_invocation(config["tracking"])


def end_invocation(success):
    if not os.environ.get("JETDISTILL_PARENT_RUN_ID"):
        return  # onstart failed before the parent run existed: nothing to close
    from jetdistill import jobs

    jobs.end_invocation(config["tracking"], success=success)
    if success:
        try:
            print(jobs.runs_hint(config["tracking"]))
        except Exception as exc:  # a hint must never fail a finished run
            print(f"(no MLflow link: {exc})")


def tracking_marker():
    return f"{R}/tracking/experiment.json"


def view_of(model):
    return config["models"][model]["view"]


def view_files(view, splits=SPLITS):
    return {s: f"{R}/data/views/{view}/{s}.h5" for s in splits}


def teacher_dir(w):
    return f"{R}/teachers/{w.teacher}/member{w.member}"


def teacher_member_inputs(w):
    m = plan.member(config, w.teacher, w.member)
    return {**view_files(view_of(m.model)), "tracking": tracking_marker()}


def teacher_member_models(teacher):
    n = len(config["teachers"][teacher]["members"])
    return [f"{R}/teachers/{teacher}/member{i}/model.pt" for i in range(n)]


def soft_target_inputs(w):
    members = config["teachers"][w.teacher]["members"]
    views = sorted({view_of(m["model"]) for m in members})
    files = {}
    for v in views:
        for s in ("transfer", "val", "test"):
            files[f"{v}__{s}"] = f"{R}/data/views/{v}/{s}.h5"
    return {
        **files,
        "models": teacher_member_models(w.teacher),
        "tracking": tracking_marker(),
    }


def soft_targets(teacher):
    return f"{R}/soft_targets/{teacher}.h5"


def student_inputs(w):
    files = view_files(view_of(w.student), ("transfer", "val", "test"))
    return {
        **files,
        "fidelity": soft_targets(plan.fidelity_teacher(config)),
        "tracking": tracking_marker(),
    }


def kd_inputs(w):
    return {**student_inputs(w), "soft_targets": soft_targets(w.teacher)}


def solo_dir(student, seed):
    return f"{R}/students/solo/{student}/seed{seed}"


def kd_dir(j):
    return f"{R}/students/kd/{j.student}/{j.teacher}/{j.method}/T{j.T}_a{j.alpha}/seed{j.seed}"


def qat_dir(student, mode, bits, sparsity, seed):
    return f"{R}/qat/{student}/{mode}/b{bits}_s{sparsity}/seed{seed}"


def qat_inputs(w):
    inputs = student_inputs(w)
    if w.mode == "kd":
        inputs["soft_targets"] = soft_targets(plan.compression_teacher(config))
    if config["compression"]["init"] == "finetune":
        if w.mode == "kd":
            ref = kd_dir(plan.kd_reference(config, w.student, int(w.seed)))
        else:
            ref = solo_dir(w.student, w.seed)
        inputs["float_model"] = f"{ref}/model.pt"
    return inputs


def fpga_inputs(w):
    return {
        "model": f"{qat_dir(w.student, w.mode, w.bits, w.sparsity, w.seed)}/model.pt",
        "test": f"{R}/data/views/{view_of(w.student)}/test.h5",
        "tracking": tracking_marker(),
    }


def lc_metrics(p):
    """metrics.json of a learning-curve point (jetdistill.plan.CurvePoint)."""
    j = p.job
    if p.kind == "teacher":
        base = f"{R}/teachers/{j.teacher}/member{j.member}"
        if p.fraction != "1":
            base = (
                f"{R}/learning_curve/teacher/{j.teacher}/member{j.member}/f{p.fraction}"
            )
        return f"{base}/metrics.json"
    if p.kind == "solo":
        if p.fraction == "1":
            return f"{solo_dir(j.student, j.seed)}/metrics.json"
        return f"{R}/learning_curve/solo/{j.student}/f{p.fraction}/seed{j.seed}/metrics.json"
    if p.fraction == "1":
        return f"{kd_dir(j)}/metrics.json"
    kd = f"{j.student}/{j.teacher}/{j.method}/T{j.T}_a{j.alpha}"
    return f"{R}/learning_curve/kd/{kd}/f{p.fraction}/seed{j.seed}/metrics.json"


def learning_curve_inputs(w):
    return {"points": [lc_metrics(p) for p in plan.learning_curve_points(config)]}


def learning_curve_labels(w):
    return {lc_metrics(p): p.curve for p in plan.learning_curve_points(config)}


# ----------------------------------------------------------------- params (config only)
def model_params(model):
    return {"name": model, **config["models"][model]}


def train_params(kind):
    return config["training"][kind]


def tracking_params():
    return config["tracking"]


def kd_params(w):
    """The KD loss settings of one distillation job: its wildcards plus the DKD constants."""
    return {
        "method": w.method,
        "temperature": float(w.T),
        "alpha": float(w.alpha),
        "dkd_alpha": config["distillation"]["dkd_alpha"],
        "dkd_beta": config["distillation"]["dkd_beta"],
    }


# ----------------------------------------------------------------- aggregate targets
def all_teacher_metrics():
    return [
        f"{R}/teachers/{m.teacher}/member{m.member}/metrics.json"
        for m in plan.teacher_members(config)
    ]


def all_soft_target_metrics():
    return [f"{R}/soft_targets/{t}.metrics.json" for t in plan.used_teachers(config)]


def all_solo_metrics():
    return [
        f"{solo_dir(j.student, j.seed)}/metrics.json" for j in plan.solo_jobs(config)
    ]


def all_kd_metrics():
    return [f"{kd_dir(j)}/metrics.json" for j in plan.kd_jobs(config)]


def all_qat_metrics():
    return [
        f"{qat_dir(j.student, j.mode, j.bits, j.sparsity, j.seed)}/metrics.json"
        for j in plan.qat_jobs(config)
    ]


def all_fpga_metrics():
    out = []
    for j in plan.fpga_jobs(config):
        d = f"{R}/fpga/{j.student}/{j.mode}/b{j.bits}_s{j.sparsity}/seed{j.seed}"
        out.append(f"{d}/hls/metrics.json")
        if config["fpga"]["rtl"]:
            out.append(f"{d}/rtl/metrics.json")
    for j in plan.float_fpga_jobs(config):
        out.append(f"{R}/fpga/float/{j.student}/seed{j.seed}/metrics.json")
    return out


def all_model_metrics():
    return (
        all_teacher_metrics()
        + all_soft_target_metrics()
        + all_solo_metrics()
        + all_kd_metrics()
        + all_qat_metrics()
        + all_fpga_metrics()
    )


def final_outputs():
    out = [f"{R}/summary.csv", f"{R}/summary.md"]
    if plan.kd_jobs(config):
        out.append(f"{R}/comparison/kd_vs_solo.csv")
    if plan.qat_jobs(config):
        out.append(f"{R}/compression/frontier.csv")
    if plan.learning_curve_points(config):
        out.append(f"{R}/learning_curve/learning_curve.csv")
    return out
