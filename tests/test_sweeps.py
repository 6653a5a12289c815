"""A sweep is a config change: on the finished tiny run (config/test.yaml), extending sweep
lists plans only the new jobs plus the aggregations, and changing a setting reruns exactly
the jobs whose result it changes. Real Snakemake dry runs on the session's e2e run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import clone_run, run_snakemake

pytestmark = pytest.mark.slow

#: rules that summarise every job: they rerun whenever the grid grows, by design
AGGREGATIONS = {"compare_students", "plot_frontier", "summarize", "plot_learning_curve", "all"}

#: every sweep list of config/test.yaml, extended by one or more values
EXTENDED = {
    "models": {"mlp_b": {"type": "mlp", "view": "c4", "hidden": [6]}},
    "students": ["mlp", "mlp_b"],
    "seeds": [0, 1, 2],
    "teachers": {"jedi_b": {"members": [{"model": "jedinet", "seed": 5}]}},
    "distillation": {
        "teachers": ["jedi", "jedi_b"],
        "methods": ["hinton", "mse"],
        "temperatures": [1.0, 4.0, 8.0],
        "alphas": [0.1, 0.5],
    },
    "compression": {
        "students": ["mlp", "mlp_b"],
        "bits": [5, 6],
        "sparsities": [0.0, 0.5, 0.75],
        "seeds": [0, 1],
    },
    "fpga": {
        "targets": [
            {"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5, "seed": 0},
            {"student": "mlp", "mode": "solo", "bits": 5, "sparsity": 0.5, "seed": 0},
        ],
        "float_students": ["mlp", "mlp_b"],
        "frontier_seeds": [0],
    },
    "learning_curve": {"fractions": [0.25, 0.5]},
}


def planned_jobs(
    work: Path, *extra: str, config: dict | None = None, configfile: str = "config/test.yaml"
) -> list[dict]:
    """The jobs ``snakemake -n`` plans: rule, outputs and reason of each."""
    args = ["-n", "--configfile", configfile]
    if config is not None:
        (work / "extra.yaml").write_text(yaml.safe_dump(config))
        args.append("extra.yaml")
    proc = run_snakemake(work, *args, *extra)
    text = proc.stdout + proc.stderr
    jobs: list[dict] = []
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            jobs.append({"rule": m.group(1), "input": [], "output": [], "reason": ""})
        elif jobs and line.startswith("    input: "):
            jobs[-1]["input"] = line[len("    input: ") :].split(", ")
        elif jobs and line.startswith("    output: "):
            jobs[-1]["output"] = line[len("    output: ") :].split(", ")
        elif jobs and line.startswith("    reason: "):
            jobs[-1]["reason"] = line[len("    reason: ") :]
    return jobs


def test_a_finished_run_plans_nothing(e2e_workdir: Path):
    assert [j["rule"] for j in planned_jobs(e2e_workdir)] == []


def test_extending_every_sweep_list_plans_only_new_jobs(e2e_workdir: Path):
    jobs = planned_jobs(e2e_workdir, config=EXTENDED)
    rules = {j["rule"] for j in jobs}
    # the extension really reaches every stage
    assert {"train_teacher", "compute_soft_targets", "train_student_solo", "distill_student",
            "train_qat", "convert_hls", "estimate_rtl", "convert_hls_float",
            "train_student_solo_fraction"} <= rules  # fmt: skip
    rerun = [
        (j["rule"], j["output"][0], j["reason"])
        for j in jobs
        if j["rule"] not in AGGREGATIONS and any((e2e_workdir / o).exists() for o in j["output"])
    ]
    assert not rerun, f"existing jobs planned again: {rerun[:5]}"
    qat = [j for j in jobs if j["rule"] == "train_qat"]
    # 2 students x 2 modes x 2 bits x 3 sparsities x 2 seeds, minus the 4 that exist
    assert len(qat) == 2 * 2 * 2 * 3 * 2 - 4


def test_extending_compression_bits_plans_only_the_new_qat_jobs(e2e_workdir: Path):
    jobs = planned_jobs(e2e_workdir, config={"compression": {"bits": [5, 6]}})
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {"train_qat": 8, "plot_frontier": 1, "summarize": 1, "all": 1}


def test_extending_the_cost_penalties_plans_only_the_new_qat_jobs(e2e_workdir: Path):
    """``compression.cost_penalties: [0.0, 0.01]``: the 4 points at 0 exist (their paths end in
    ``_c0``), the 4 at 0.01 are new; the FPGA target stays at 0 (its ``cost_penalty`` default)."""
    jobs = planned_jobs(e2e_workdir, config={"compression": {"cost_penalties": [0.0, 0.01]}})
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {"train_qat": 8, "plot_frontier": 1, "summarize": 1, "all": 1}  # mlp and st
    assert all("_c0.01/" in j["output"][0] for j in jobs if j["rule"] == "train_qat")


def respelled(value):
    """``value`` with every mapping's keys in reverse order and every float that is an
    integer written as an int (4.0 -> 4): the same settings, spelled otherwise."""
    if isinstance(value, dict):
        return {k: respelled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [respelled(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.mark.parametrize("spelling", ["sorted", "reversed"])
def test_a_config_written_back_otherwise_plans_only_the_new_points(e2e_workdir: Path, spelling):
    """config/test.yaml written back with its keys sorted (as ``yaml.safe_dump`` does) or
    reversed and 4.0 as 4, ``compression.bits`` extended: only values decide a rerun
    (jetdistill.plan.JobSettings), so only the new QAT points and the aggregations run."""
    cfg = yaml.safe_load((e2e_workdir / "config" / "test.yaml").read_text())
    cfg["compression"]["bits"] = [5, 6]
    if spelling == "sorted":
        text = yaml.safe_dump(cfg)
    else:
        text = yaml.safe_dump(respelled(cfg), sort_keys=False)
    (e2e_workdir / f"{spelling}.yaml").write_text(text)
    jobs = planned_jobs(e2e_workdir, configfile=f"{spelling}.yaml")
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {"train_qat": 8, "plot_frontier": 1, "summarize": 1, "all": 1}, [
        (j["rule"], j["reason"][:300]) for j in jobs if j["rule"] not in AGGREGATIONS
    ][:3]
    assert all("/b5_" in j["output"][0] for j in jobs if j["rule"] == "train_qat")


def test_more_shards_leave_the_existing_shards_alone(e2e_workdir: Path):
    jobs = planned_jobs(e2e_workdir, config={"data": {"generate": {"shards": 2}}})
    shards = [j["output"][0] for j in jobs if j["rule"] == "generate_jets"]
    assert len(shards) == 5 and all(s.endswith("_1.h5") for s in shards), shards


def test_a_changed_setting_reruns_exactly_the_jobs_it_affects(e2e_workdir: Path):
    """training.qat.lr: every QAT job and what is built from its models, nothing upstream."""
    jobs = planned_jobs(e2e_workdir, config={"training": {"qat": {"lr": 0.0005}}})
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {"train_qat": 8, "convert_hls": 1, "estimate_rtl": 2, "plot_frontier": 1,
                      "summarize": 1, "all": 1}  # fmt: skip
    assert all("Params have changed" in j["reason"] for j in jobs if j["rule"] == "train_qat")


#: what a new transfer set may rerun: the students trained on it and what is built from them
STUDENT_AND_DOWNSTREAM = {
    "train_student_solo", "distill_student", "train_student_solo_fraction",
    "distill_student_fraction", "train_qat", "convert_hls", "estimate_rtl", "convert_hls_float",
} | AGGREGATIONS  # fmt: skip


def test_a_new_transfer_set_reruns_the_students_not_the_teacher(e2e_workdir: Path):
    """distillation.transfer_splits: every float student (KD and solo twin, baseline,
    learning-curve points) reruns; the data, the teacher and its soft-target cache (which
    already holds teacher_train) do not."""
    jobs = planned_jobs(
        e2e_workdir, config={"distillation": {"transfer_splits": ["transfer", "teacher_train"]}}
    )
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert set(counts) <= STUDENT_AND_DOWNSTREAM, counts
    assert counts["train_student_solo"] == 6  # mlp, st and hlf_mlp, seeds 0 and 1
    assert counts["distill_student"] == 8  # mlp and st, T 1 and 4, seeds 0 and 1
    assert all("Params have changed" in j["reason"] for j in jobs
               if j["rule"] in ("train_student_solo", "distill_student"))  # fmt: skip


def test_a_loss_hyperparameter_reruns_only_that_losses_jobs(e2e_workdir: Path):
    """distillation.loss_params.dkd: the config's KD runs use hinton, so nothing reruns."""
    jobs = planned_jobs(
        e2e_workdir, config={"distillation": {"loss_params": {"dkd": {"beta": 2.0}}}}
    )
    assert [j["rule"] for j in jobs] == []


def test_a_new_experiment_reruns_no_job(e2e_workdir: Path):
    """tracking.* says where jobs log, not what they compute: not a param of any job."""
    jobs = planned_jobs(e2e_workdir, config={"tracking": {"experiment": "elsewhere"}})
    assert {j["rule"] for j in jobs} <= {"init_tracking"}, [j["rule"] for j in jobs]


def test_unlabelled_jets_plan_their_data_the_kd_students_and_solo_all_only(e2e_workdir: Path):
    """distillation.unlabelled.multiple 0 -> 1: the unlabelled shards, their views and soft
    targets, the solo-on-all references (new), the KD students (their training set changed:
    the float ones, the learning-curve fraction, the QAT+KD points fine-tuned from them and
    their FPGA target) and the aggregations; the labelled shards, splits, views, teachers,
    soft targets, solo students and QAT solo points stay."""
    jobs = planned_jobs(e2e_workdir, config={"distillation": {"unlabelled": {"multiple": 1}}})
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {
        "generate_unlabelled_jets": 5, "prepare_unlabelled_view": 2,  # 5 classes; c4 + teacher
        "compute_unlabelled_soft_targets": 1, "train_student_solo_all": 4,  # mlp, st x 2 seeds
        "distill_student": 8, "distill_student_fraction": 1, "train_qat": 4, "convert_hls": 1,
        "estimate_rtl": 2, "compare_students": 1, "plot_frontier": 1, "plot_learning_curve": 1,
        "summarize": 1, "all": 1,
    }, counts  # fmt: skip
    assert all("/kd/" in j["output"][0] for j in jobs if j["rule"] == "train_qat")
    for j in jobs:  # KD stays on in QAT, on the same unlabelled jets as the float KD student
        if j["rule"] in ("train_qat", "distill_student"):
            assert any("unlabelled" in f for f in j["input"]), j
    shards = [j["output"][0] for j in jobs if j["rule"] == "generate_unlabelled_jets"]
    assert all("data/raw/unlabelled/" in s and s.endswith("_0.h5") for s in shards), shards


def test_qat_kd_learns_the_unlabelled_jets_too(e2e_workdir: Path, tmp_path: Path):
    """A real run, on a copy of the finished tiny run, of one QAT + KD point with
    distillation.unlabelled: the job appends the unlabelled jets (teacher term only) to its
    labelled transfer jets, as the float KD student it fine-tunes from did."""
    import json

    work = clone_run(e2e_workdir, tmp_path / "wf")
    config = {"distillation": {"unlabelled": {"multiple": 1}}}
    qat = next(j for j in planned_jobs(work, config=config) if j["rule"] == "train_qat")
    metrics = next(f for f in qat["output"] if f.endswith("metrics.json"))
    before = json.loads((work / metrics).read_text())
    # the target first: --configfile takes every word after it
    run_snakemake(work, metrics, "--cores", "2", "--configfile", "config/test.yaml", "extra.yaml",
                  timeout=900)  # fmt: skip
    after = json.loads((work / metrics).read_text())
    assert before["n_unlabelled"] == 0 and after["n_unlabelled"] > 0
    assert after["n_train"] == before["n_train"] + after["n_unlabelled"]


def test_qat_kd_on_the_float_students_logits_reruns_only_the_kd_qat_points(
    e2e_workdir: Path, tmp_path: Path
):
    """compression.kd_targets: float_student changes what the QAT + KD jobs learn from (the
    float KD student they fine-tune from, not the teacher): exactly those jobs rerun, with
    what is built from them; the solo QAT points and everything upstream stay. One of them,
    run for real on a copy of the tiny run, says how much of its float student it kept."""
    import json

    config = {"compression": {"kd_targets": "float_student"}}
    jobs = planned_jobs(e2e_workdir, config=config)
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert set(counts) <= {"train_qat", "convert_hls", "estimate_rtl"} | AGGREGATIONS, counts
    qat = [j for j in jobs if j["rule"] == "train_qat"]
    assert len(qat) == 4 and all("/kd/" in j["output"][0] for j in qat), counts  # mlp, st x 2
    assert all("Params have changed" in j["reason"] for j in qat)

    work = clone_run(e2e_workdir, tmp_path / "wf")
    job = next(j for j in planned_jobs(work, config=config) if j["rule"] == "train_qat")
    metrics = next(f for f in job["output"] if f.endswith("metrics.json"))
    before = json.loads((work / metrics).read_text())["metrics"]
    run_snakemake(work, metrics, "--cores", "2", "--configfile", "config/test.yaml", "extra.yaml",
                  timeout=900)  # fmt: skip
    after = json.loads((work / metrics).read_text())["metrics"]
    assert 0.0 < after["float_test_agreement"] <= 1.0
    # it learned other targets: its test metrics moved (the teacher-fidelity ones stay defined)
    assert [k for k in before if k.startswith("test_") and after.get(k) != before[k]]
    assert "train_agreement" in after and "test_kl_teacher" in after


def test_per_input_formats_rerun_every_qat_point_and_stay_bit_exact_on_the_chip(
    e2e_workdir: Path, tmp_path: Path
):
    """compression.input_scaling: per_input puts every QAT point behind per-input (set
    student: per-feature) power-of-two gains, and activation_bits 5 gives the 6-bit FPGA
    targets 5-bit activations: every QAT point reruns, with its FPGA jobs. Run for real on a
    copy of the tiny run: the checkpoints carry the gains and widths, and the FPGA jobs feed
    the chip the formatted inputs, so hls4ml's C simulation and da4ml's RTL (emulation and
    Verilator) still reproduce the Brevitas twin bit for bit, MLP and set student alike."""
    import json

    from jetdistill.learn.training import checkpoint_meta

    config = {"compression": {"input_scaling": "per_input", "activation_bits": 5}}
    jobs = planned_jobs(e2e_workdir, config=config)
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    assert counts == {"train_qat": 8, "convert_hls": 1, "estimate_rtl": 2, "plot_frontier": 1,
                      "summarize": 1, "all": 1}  # fmt: skip

    work = clone_run(e2e_workdir, tmp_path / "wf")
    fpga = [
        j for j in planned_jobs(work, config=config) if j["rule"] in ("convert_hls", "estimate_rtl")
    ]
    targets = [next(f for f in j["output"] if f.endswith("metrics.json")) for j in fpga]
    run_snakemake(work, *targets, "--cores", "2", "--configfile", "config/test.yaml", "extra.yaml",
                  timeout=1500)  # fmt: skip
    gains = []
    for j, target in zip(fpga, targets, strict=True):
        m = json.loads((work / target).read_text())["metrics"]
        model = next(f for f in j["input"] if f.endswith("model.pt"))
        meta = checkpoint_meta(work / model)
        assert (meta["bits"], meta["act_bits"]) == (6, 5)
        gain = np.asarray(meta["input_gain"])
        # the set student's gains are per feature (shared by its per-constituent layers)
        assert gain.shape == ((1, 3) if "/st/" in model else (4, 3)), (model, gain.shape)
        gains.append(gain)
        if j["rule"] == "convert_hls":
            assert m["hls_exact_fraction"] == 1.0, m
        else:
            assert m["rtl_emulation_exact_fraction"] == 1.0, m
            assert m["rtl_exact_fraction"] == 1.0, m
    assert any(g.max() > 1 for g in gains)  # the c4 view's inputs do differ in range
