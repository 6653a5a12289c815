"""One job identity per family (jetdistill.identity): wildcards, paths, log stems, MLflow
names and records all come from it, and it parses back from wildcards and records."""

from __future__ import annotations

import copy
import json
import os

import pytest

from jetdistill import identity as I
from jetdistill import paths, plan
from jetdistill.tracking import uris

KD = I.KDJob("mlp", "jedi", "hinton", 4.0, "0.10", 1)
QAT = I.QATJob("mlp", "kd", 6, 0.5, 0)
SOLO = I.SoloJob("mlp", 1)


def test_swept_numbers_have_one_spelling():
    assert (KD.T, KD.alpha, QAT.sparsity) == ("4", "0.1", "0.5")
    assert I.KDJob("mlp", "jedi", "hinton", "4", 0.1, 1) == KD


@pytest.mark.parametrize("job", [KD, QAT, SOLO, I.FloatFPGAJob("mlp", 0)])
def test_wildcards_round_trip_through_text(job):
    """Snakemake hands a job its wildcards as text (plus ``fraction`` for curve points)."""
    text = {k: str(v) for k, v in job.wildcards().items()}
    assert type(job).from_wildcards({**text, "fraction": "0.5"}) == job
    assert I.of_wildcards(text) == job or isinstance(job, I.FloatFPGAJob)


def test_paths_and_log_stems_come_from_the_path_template():
    assert KD.path("R", paths.METRICS) == (
        "R/students/kd/mlp/jedi/hinton/T4_a0.1/default/seed1/metrics.json"
    )
    assert QAT.path("R", paths.METRICS, directory=QAT.HLS_DIR) == (
        "R/fpga/mlp/kd/b6_s0.5_c0/default/seed0/hls/metrics.json"
    )
    assert I.KDJob.stem() == "{student}_{teacher}_{method}_T{T}_a{alpha}_{arm}_seed{seed}"
    assert paths.stem(paths.LC_SOLO_DIR) == "{student}_f{fraction}_seed{seed}"
    assert paths.stem(paths.TEACHER_DIR) == "{teacher}_member{member}"


def test_records_name_fields_once_and_parse_back():
    rec = KD.record()
    assert rec == {"model": "mlp", "student": "mlp", "teacher": "jedi", "kd_method": "hinton",
                   "temperature": 4.0, "alpha": 0.1, "seed": 1, "arm": "default"}  # fmt: skip
    assert I.KDJob.from_record(rec) == KD
    assert I.QATJob.from_record(QAT.record()) == QAT
    assert I.KDJob.record_keys() == (
        "student", "teacher", "kd_method", "temperature", "alpha", "arm",
    )  # fmt: skip
    # a record from before arms (no arm) is the default arm's
    assert I.KDJob.from_record({k: v for k, v in rec.items() if k != "arm"}) == KD
    assert I.QATJob.record_keys() == (
        "student", "qat_mode", "bits", "sparsity", "cost_penalty", "arm",
    )  # fmt: skip
    assert QAT.key_values() == {"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5,
                                "cost": 0.0, "arm": "default"}  # fmt: skip
    # a record from before the cost penalty (no cost_penalty) is a point without penalty
    old = {k: v for k, v in QAT.record().items() if k != "cost_penalty"}
    assert I.QATJob.from_record(old) == QAT and QAT.cost == "0"
    penalised = I.QATJob("mlp", "kd", 6, 0.5, 0, 0.010)
    assert I.QATJob.from_record(penalised.record()) == penalised and penalised.cost == "0.01"
    # a solo record has the KD columns, empty: the comparison reads both alike; the arm is
    # the solo job's own
    kd_only = [k for k in I.KDJob.record_keys()[1:] if k != "arm"]
    assert {k: SOLO.record()[k] for k in kd_only} == dict.fromkeys(kd_only)
    assert SOLO.record()["arm"] == "default"


def test_mlflow_names_are_the_ones_the_jobs_logged_before():
    assert KD.run_name() == "kd-mlp-s1-jedi-hinton-T4-a0.1"
    assert SOLO.run_name() == "solo-mlp-s1"
    assert QAT.run_name() == "qat-kd-mlp-b6-s0.5-seed0"
    assert QAT.fpga_run_name("hls") == "hls-kd-mlp-b6-s0.5"
    assert I.FloatFPGAJob("mlp", 0).run_name() == "hls-float-mlp-s0"
    assert QAT.fpga_tags() == {"model": "mlp", "student": "mlp", "qat_mode": "kd", "bits": "6",
                               "sparsity": "0.5", "seed": "0", "cost_penalty": "0", "arm": "default"}  # fmt: skip
    # a penalised point adds its strength to the names; without one they are unchanged
    penalised = I.QATJob("mlp", "kd", 6, 0.5, 0, 0.01)
    assert penalised.run_name() == "qat-kd-mlp-b6-s0.5-c0.01-seed0"
    assert penalised.fpga_run_name("rtl") == "rtl-kd-mlp-b6-s0.5-c0.01"
    assert KD.tags(0.5)["kd_method"] == "hinton" and SOLO.tags()["teacher"] == ""


def test_the_grid_is_made_of_identities():
    import yaml
    from test_plan import REPO, load

    cfg = load("config.yaml", yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    assert all(isinstance(j, I.KDJob) for j in plan.kd_jobs(cfg))
    assert all(isinstance(j, I.QATJob) for j in plan.qat_jobs(cfg) + plan.fpga_jobs(cfg))
    point = next(p for p in plan.learning_curve_points(cfg) if p.kind == "kd" and p.fraction != "1")
    assert point.path("R", paths.METRICS).startswith(
        "R/learning_curve/kd/mlp/jedi/hinton/T4_a0.1/f"
    )


def test_prepare_config_is_the_one_parse_time_step(monkeypatch: pytest.MonkeyPatch):
    """Replace, validate, check, mask the tracking URI, set the job environment; an
    invocation id already in the environment (a SLURM job re-parsing) is kept."""
    import yaml
    from snakemake.utils import validate
    from test_plan import REPO, SCHEMA

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    monkeypatch.setenv(plan.ENV_INVOCATION, "inv-kept")
    monkeypatch.delenv(uris.ENV_TRACKING, raising=False)
    monkeypatch.delenv(uris.ENV_SECRET_URI, raising=False)
    bad = copy.deepcopy(cfg)  # a secret in tracking.uri is refused while parsing, masked
    bad.setdefault("tracking", {})["uri"] = "postgresql://me:secret@db:5432/mlflow"
    with pytest.raises(plan.InputError, match=r"config: tracking\.uri") as info:
        plan.prepare_config(bad, {}, lambda c: validate(c, str(SCHEMA)))
    assert "secret" not in str(info.value)
    cfg.setdefault("tracking", {})["uri"] = "postgresql://me@db:5432/mlflow"
    env = plan.prepare_config(cfg, {}, lambda c: validate(c, str(SCHEMA)))
    assert json.loads(os.environ[uris.ENV_TRACKING]) == cfg["tracking"]
    assert env[plan.ENV_INVOCATION] == "inv-kept"
