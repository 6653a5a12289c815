"""hls4ml conversion: bit-exact C simulation of a Brevitas MLP, float conversion, config checks.

Real hls4ml compiles (g++ C simulation, ~5-15 s each); no vendor tools are needed.
"""

from __future__ import annotations

import re
import tarfile

import numpy as np
import pytest
import torch
from conftest_quant import INPUT_SHAPE, quant_mlp, sample_inputs
from torch import nn

from jetdistill.errors import InputError
from jetdistill.fpga import hls


def test_quantized_csim_is_bit_exact(tmp_path):
    model = quant_mlp()
    x = sample_inputs()
    m = hls.convert_quantized(model, INPUT_SHAPE, x, tmp_path / "q", hls.HLSConfig(vendor="auto"))
    assert m["hls_exact_fraction"] == 1.0
    assert m["hls_argmax_agreement"] == 1.0
    assert m["hls_max_abs_diff"] == 0.0
    assert m["hls_n_samples"] == len(x)
    assert m["vendor_synthesis"].startswith("skipped:") or "luts" in m
    # the project and the cleaned QONNX graph are on disk, and the input port is 8 bits wide
    defines = (tmp_path / "q" / "hls4ml_prj" / "firmware" / "defines.h").read_text()
    assert re.search(r"typedef ap_fixed<8,\d,AP_RND_CONV,AP_SAT,0> input_t;", defines)
    assert (tmp_path / "q" / "model.qonnx.onnx").stat().st_size > 0
    # the caller's model is left in eval mode (the exporter toggles train())
    assert not any(mod.training for mod in model.modules())

    tar = hls.tar_project(tmp_path / "q", tmp_path / "prj.tar.gz")
    with tarfile.open(tar) as tf:
        assert any(
            n.endswith(("firmware/myproject.cpp", "firmware/jetdistill.cpp")) for n in tf.getnames()
        )


def test_float_conversion_agrees_and_low_precision_is_rejected(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5)).eval()
    x = sample_inputs(1000)
    m = hls.convert_float(model, INPUT_SHAPE, x, tmp_path / "f", hls.HLSConfig(vendor="never"))
    assert m["hls_argmax_agreement"] >= 0.99
    assert 0.0 < m["hls_max_abs_diff"] < 0.1  # fixed point: close, but not exact
    assert m["vendor_synthesis"] == "skipped: fpga.vendor is 'never'"
    with pytest.raises(hls.HLSAgreementError, match="argmax agreement"):
        hls.convert_float(
            model,
            INPUT_SHAPE,
            x,
            tmp_path / "f2",
            hls.HLSConfig(vendor="never"),
            precision="ap_fixed<3,1>",
        )


def test_config_validation_and_from_dict():
    cfg = hls.HLSConfig.from_dict(
        {"backend": "Vivado", "reuse_factor": 2, "targets": [], "rtl": True}
    )
    assert cfg.backend == "Vivado" and cfg.reuse_factor == 2
    with pytest.raises(InputError, match="fpga.backend"):
        hls.HLSConfig(backend="Quartus")
    with pytest.raises(InputError, match="fpga.vendor"):
        hls.HLSConfig(vendor="sometimes")
    with pytest.raises(InputError, match="x_test"):
        hls.convert_quantized(None, INPUT_SHAPE, np.zeros((3, 12), np.float32), "/nonexistent")


def test_vendor_synthesis_skips_or_fails_clearly(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    skipped = hls.vendor_synthesis(None, hls.HLSConfig(vendor="auto"))
    assert skipped == {"vendor_synthesis": "skipped: vitis-run not on PATH (backend Vitis)"}
    with pytest.raises(hls.VendorToolError, match="vivado_hls"):
        hls.vendor_synthesis(None, hls.HLSConfig(backend="Vivado", vendor="always"))


def test_parse_hls_report_maps_metric_names():
    report = {
        "CSynthesisReport": {
            "TargetClockPeriod": "5.00", "EstimatedClockPeriod": "4.123", "BestLatency": "7",
            "WorstLatency": "9", "LUT": "12345", "FF": "2345", "DSP": "3",
        },
        "VivadoSynthReport": {"LUT": "11000", "FF": "2000", "DSP48E": "1"},
    }  # fmt: skip
    m = hls.parse_hls_report(report, clock_period_ns=4.0)
    assert m == {
        "luts": 11000,
        "ffs": 2000,
        "dsps": 1,
        "latency_cycles": 9,
        "latency_ns": 45.0,
        "estimated_clock_ns": 4.123,
    }
    assert hls.parse_hls_report({}, 5.0) == {}


@pytest.mark.parametrize(
    ("mask", "ops"),
    [(True, ["Equal", "Not", "ReduceSum", "Unsqueeze"]), (False, ["ReduceSum", "Unsqueeze"])],
)
def test_set_student_graph_is_refused_before_hls4ml_naming_its_ops(mask, ops, tmp_path):
    """hls4ml 1.3.0's ONNX reader has no Reduce*/Unsqueeze/Equal/Not/Cast handler: the set
    twin is refused up front with every missing op, the model and the RTL path."""
    from jetdistill.compress.quant import build_quant_model, calibrate
    from jetdistill.fpga.qonnx import UnsupportedGraphError

    spec = {"type": "set", "phi_hidden": [4], "context_widths": [4], "rho_hidden": [4],
            "pooling": "sum", "context_pooling": "sum", "mask_padding": mask}  # fmt: skip
    torch.manual_seed(0)
    q = calibrate(build_quant_model(spec, (4, 3), 5, 5, 8), torch.randn(64, 4, 3))
    with pytest.raises(UnsupportedGraphError) as err:
        hls.convert_quantized(q, (4, 3), np.zeros((4, 4, 3), np.float32), tmp_path / "q")
    msg = str(err.value)
    assert msg.startswith("QuantSetStudent: hls4ml") and "da4ml RTL path" in msg
    assert all(op in msg.split(" of its")[0] for op in ops), msg
    assert "MatMul" not in msg.split(" of its")[0]  # only the missing ones are listed first
