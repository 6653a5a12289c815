"""``compression.kd_targets``: what a QAT + KD job learns from (the teacher, or the float KD
student it fine-tunes from). The settings, the config check and the target function; the
real job on the tiny run is in ``tests/test_sweeps.py``."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.compress import quant
from jetdistill.errors import InputError
from jetdistill.learn import kd_data as C
from jetdistill.learn.models import build_model
from jetdistill.learn.training import predict_logits

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_cfg() -> dict:
    """The default config with the three QAT settings at their schema defaults (the default
    run sets all three; a config without them must keep the settings jobs had before)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key in ("kd_targets", "input_scaling", "activation_bits"):
        cfg["compression"].pop(key)
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return cfg


def test_default_targets_are_the_teachers_and_leave_the_job_settings_unchanged(default_cfg):
    assert default_cfg["compression"]["kd_targets"] == "teacher"
    kd = plan.qat_settings(default_cfg, "kd", 0.87)
    assert "kd_targets" not in kd and "kd" in kd  # jobs of earlier runs keep their settings


def test_float_student_targets_change_only_the_kd_jobs_settings(default_cfg):
    cfg = copy.deepcopy(default_cfg)
    cfg["compression"]["kd_targets"] = "float_student"
    plan.check_config(cfg)
    assert plan.qat_settings(cfg, "kd", 0.87)["kd_targets"] == "float_student"
    assert plan.qat_settings(cfg, "kd", 0.87) != plan.qat_settings(default_cfg, "kd", 0.87)
    assert plan.qat_settings(cfg, "solo", 0.87) == plan.qat_settings(default_cfg, "solo", 0.87)


def test_input_scaling_and_activation_bits_are_settings_only_when_set(default_cfg):
    cfg = copy.deepcopy(default_cfg)
    assert cfg["compression"]["input_scaling"] == "tensor"
    assert cfg["compression"]["activation_bits"] is None
    base = plan.qat_settings(default_cfg, "solo", 0.87)
    assert "input_scaling" not in base and "activation_bits" not in base
    cfg["compression"].update(input_scaling="per_input", activation_bits=5)
    plan.check_config(cfg)
    for mode in ("solo", "kd"):
        s = plan.qat_settings(cfg, mode, 0.87)
        assert (s["input_scaling"], s["activation_bits"]) == ("per_input", 5)


def test_float_student_targets_need_the_finetuned_float_student(default_cfg):
    cfg = copy.deepcopy(default_cfg)
    cfg["compression"].update(kd_targets="float_student", init="scratch")
    with pytest.raises(InputError, match=r"compression\.kd_targets.*init: scratch"):
        plan.check_config(cfg)


def _split(n: int, seed: int) -> C.Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 3)).astype(np.float32)
    return C.Split(x, rng.integers(0, 5, n), np.arange(n), {"class_names": list("abcde")})


def test_float_student_targets_are_the_float_students_logits_on_each_split():
    torch.manual_seed(0)
    model = build_model({"type": "mlp", "hidden": [8]}, (4, 3), 5)
    model.train()  # the targets are eval-mode logits whatever mode the model is left in
    train, val = _split(64, 1), _split(16, 2)
    t_train, t_val = C.float_student_targets(model, train, val)
    assert t_train.shape == (64, 5) and t_val.shape == (16, 5)
    np.testing.assert_allclose(t_val, predict_logits(model.eval(), val.X), rtol=0, atol=0)
    assert not np.allclose(t_train[:16], t_val)  # each split its own jets
    # agreement of a model with its own logits is 1; with negated logits, the argmin class
    assert C.float_agreement(model, val, t_val) == 1.0
    assert C.float_agreement(model, val, -t_val) < 0.5


def test_float_student_targets_without_a_float_student_name_the_setting():
    with pytest.raises(InputError, match=r"train_qat.*kd_targets: float_student.*init: finetune"):
        C.float_student_targets(None, _split(4, 0), where="rule train_qat")


# --------------------------------------------------------------------------- input_scaling
def test_input_gains_are_powers_of_two_that_even_out_the_input_ranges():
    rng = np.random.default_rng(0)
    # 3 constituents x 2 features: ranges 16, 0.9, 0.3 / 1.8, 1.8, always zero
    scale = np.array([[16.0, 1.8], [0.9, 1.8], [0.3, 0.0]])
    x = (rng.uniform(-1, 1, size=(20000, 3, 2)) * scale).astype(np.float32)
    g = quant.fit_input_gain(x, per_feature=False)
    assert g.shape == (3, 2) and g.dtype == np.float32
    np.testing.assert_array_equal(np.log2(g), np.round(np.log2(g)))  # powers of two
    assert g[0, 0] == 1.0 and g[2, 1] == 1.0  # the widest input and the always-zero one
    assert g[1, 0] == 16.0 and g[2, 0] == 32.0 and g[0, 1] == 8.0
    a = np.percentile(np.abs(x * g), quant.GAIN_PERCENTILE, axis=0)[scale > 0]
    assert a.max() / a.min() < 2.0  # every input now spans (a_max/2, a_max]
    # a set model: one gain per feature, shared by every constituent
    gf = quant.fit_input_gain(x, per_feature=True)
    assert gf.shape == (1, 2) and gf[0, 0] == 1.0 and gf[0, 1] == 8.0


def test_a_twin_behind_input_gains_starts_as_the_float_students_function():
    """At wide quantisers the twin loaded with ``input_gain`` on ``x * gain`` computes what
    the float student computes on ``x`` (the first layer's columns divided by the gain)."""
    torch.manual_seed(0)
    spec = {"type": "mlp", "hidden": [8]}
    fmodel = build_model(spec, (4, 3), 5).eval()
    x = (np.random.default_rng(1).normal(size=(256, 4, 3)) * [1.0, 8.0, 0.2]).astype(np.float32)
    g = quant.fit_input_gain(x, per_feature=False)
    assert g.max() > 1.0
    split = C.with_gain(_split(1, 0), g)  # the helper the job uses
    assert split.X.dtype == np.float32
    xs = C.with_gain(C.Split(x, np.zeros(256, int), np.arange(256), {}), g).X
    twin = quant.build_quant_model(spec, (4, 3), 5, 16, 16, bias_bits=32)
    quant.load_float_weights(twin, fmodel, calib_x=torch.as_tensor(xs), input_gain=g)
    ref = predict_logits(fmodel, x)
    np.testing.assert_allclose(predict_logits(twin.eval(), xs), ref, atol=0.02 * np.abs(ref).max())
    with pytest.raises(InputError, match="input_gain"):
        quant.load_float_weights(twin, fmodel, input_gain=np.ones(5, np.float32))
    meta = quant.checkpoint_meta(spec, (4, 3), 5, bits=16, input_bits=16, bias_bits=32,
                                 sparsity=0.0, input_gain=g)  # fmt: skip
    np.testing.assert_array_equal(quant.chip_inputs(x, meta), xs)
    assert quant.chip_inputs(x, {}) is x  # a checkpoint without gains: inputs as they are
