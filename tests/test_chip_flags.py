"""The model registry's chip flags against the real converters.

``register_model(chip=..., chip_limits=...)`` is what ``plan.check_config`` refuses chip
targets by (docs/bad_inputs.md C44-C49), so each flag is checked here by doing the thing:
every type with a quantised twin is built small, calibrated, exported to the cleaned QONNX
graph and traced with da4ml; it must trace exactly when it declares ``rtl`` and its
``chip_limits`` find no problem, and its ops must all be known to hls4ml's ONNX reader
exactly when it declares ``hls4ml``. A stale flag fails here, not in a user's run.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from jetdistill.compress.quant import build_quant_model, calibrate, quant_model_types
from jetdistill.fpga import hls, qonnx, rtl
from jetdistill.learn.models import CHIP_BACKENDS, MODEL_REGISTRY, resolve_spec

#: pools that exist in a spec are set to each of these (the registry's pooling choices)
VARIANTS = ["default", "sum", "max", "mean"]
SHAPES = [(4, 3), (3, 3)]  # a power-of-two count (a mean is a shift) and not


def small_spec(mtype: str, variant: str) -> dict:
    """The type's spec with every width list [8] (generic over the spec table's kinds)."""
    table = MODEL_REGISTRY[mtype].spec
    spec = {"type": mtype} | {k: [8] for k, (kind, _) in table.items() if kind.startswith("widths")}
    if variant != "default":
        spec |= {k: variant for k, (kind, _) in table.items() if kind == "pooling"}
    return spec


def _twin_graph(spec: dict, shape: tuple[int, int], tmp_path):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    q = build_quant_model(spec, shape, 5, 5, 8)
    calibrate(q, 1.5 * torch.randn(512, *shape, generator=g))
    return qonnx.export_clean_qonnx(q, shape, tmp_path / "twin.onnx")


def test_every_chip_type_has_a_twin_and_known_backends():
    for name, m in MODEL_REGISTRY.items():
        assert set(m.chip) <= set(CHIP_BACKENDS), name
        assert not m.chip or m.quant_twin, name
    assert MODEL_REGISTRY["interaction_network"].chip == ()


CASES = [
    (t, v, s)
    for t, v, s in itertools.product(quant_model_types(), VARIANTS, SHAPES)
    if v == "default" or any(kind == "pooling" for kind, _ in MODEL_REGISTRY[t].spec.values())
]


@pytest.mark.parametrize(
    ("mtype", "variant", "shape"), CASES, ids=[f"{t}-{v}-{s[0]}" for t, v, s in CASES]
)
def test_chip_flags_match_the_converters(mtype, variant, shape, tmp_path):
    entry = MODEL_REGISTRY[mtype]
    spec = small_spec(mtype, variant)
    problem = entry.chip_limits(resolve_spec(spec), shape[0]) if entry.chip_limits else None
    mw = _twin_graph(spec, shape, tmp_path)
    try:
        rtl.trace_qonnx(mw)
        traced, why = True, ""
    except qonnx.UnsupportedGraphError as err:
        traced, why = False, str(err)
    assert traced == ("rtl" in entry.chip and problem is None), (spec, problem, why)
    ops = {n.op_type for n in mw.graph.node}
    assert (ops <= set(hls.hls4ml_onnx_ops())) == ("hls4ml" in entry.chip), sorted(ops)
