"""Normalisation as a choice per view: robust, standard, minmax, none, and the zero-scale fallback.

A pixel that is blank in most images has zero inter-quartile range; dividing by it (or by a
~zero variance) would blow its few non-blank values up to |x| ~ 100 beside unit-scaled
features. The fallback leaves such a feature centred (scale 1), so it never spreads wider
than its raw values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest_data import generic_arrays, write_generic_file

from jetdistill.data.prepare import (
    ViewConfig,
    fit_scaling,
    load_norm,
    load_split,
    normalise,
    prepare_view,
    resolve_normalisation,
)
from jetdistill.data.splits import SPLITS, split_data
from jetdistill.errors import InputError

METHODS = ("robust", "standard", "minmax", "none")


def _pixels(n: int = 1000, seed: int = 0) -> np.ndarray:
    """Columns: a mostly-blank 0-255 pixel (zero IQR, 5% non-blank), the same pixel /255, a
    constant column (zero variance) and a well-spread feature."""
    rng = np.random.default_rng(seed)
    blank = np.where(rng.random(n) < 0.05, rng.integers(1, 256, n), 0).astype(np.float64)
    spread = rng.normal(3.0, 2.0, n)
    return np.stack([blank, blank / 255.0, np.full(n, 7.0), spread], axis=1)


@pytest.mark.parametrize("method", ["robust", "none"])
def test_zero_iqr_feature_never_exceeds_the_range_of_its_raw_values(method: str) -> None:
    raw = _pixels()
    assert np.all(np.subtract(*np.quantile(raw[:, :3], [0.75, 0.25], axis=0)) == 0)  # zero IQR
    center, scale, stats = fit_scaling(raw, method)
    x = normalise(raw, center, scale)
    for col in (0, 1):  # the zero-IQR pixel, raw and /255
        raw_range = np.ptp(raw[:, col])
        assert np.ptp(x[:, col]) <= raw_range * (1 + 1e-6)
        assert np.abs(x[:, col]).max() <= raw_range * (1 + 1e-6)
    if method == "robust":
        # zero IQR -> scale 1 (centred only) for the three degenerate columns, named in stats
        assert scale[:3].tolist() == [1.0, 1.0, 1.0] and stats["centred_only"] == [0, 1, 2]
        iqr = np.subtract(*np.quantile(x[:, 3], [0.75, 0.25]))
        assert iqr == pytest.approx(1.0, rel=1e-5)
        assert np.median(x[:, 3]) == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_zero_variance_feature_is_only_centred(method: str) -> None:
    raw = _pixels()
    center, scale, stats = fit_scaling(raw, method)
    x = normalise(raw, center, scale)
    # the constant column (zero IQR, zero variance, zero range) is centred: exactly 0
    assert np.all(x[:, 2] == (7.0 if method == "none" else 0.0))
    assert np.all(np.isfinite(x))
    if method != "none":
        assert scale[2] == 1.0 and 2 in stats["centred_only"]


def test_each_method_fits_its_own_statistics() -> None:
    raw = _pixels()
    x = normalise(raw, *fit_scaling(raw, "standard")[:2])
    np.testing.assert_allclose(x[:, [0, 1, 3]].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:, [0, 1, 3]].std(0), 1, rtol=1e-4)
    x = normalise(raw, *fit_scaling(raw, "minmax")[:2])
    np.testing.assert_allclose(x[:, [0, 1, 3]].min(0), 0, atol=1e-6)
    np.testing.assert_allclose(x[:, [0, 1, 3]].max(0), 1, rtol=1e-5)
    x = normalise(raw, *fit_scaling(raw, "none")[:2])
    np.testing.assert_array_equal(x, raw.astype(np.float32))


def test_a_scale_that_is_only_numerically_nonzero_counts_as_zero() -> None:
    # a feature ~1 with a spread of 1e-9 (float noise) would be blown up to ~1e9 / 1e9 = O(1)
    # noise: it is only centred instead
    v = 1.0 + np.tile([0.0, 1e-9], 50)[:, None]
    center, scale, stats = fit_scaling(v, "standard")
    assert scale[0] == 1.0 and stats["centred_only"] == [0]
    assert np.abs(normalise(v, center, scale)).max() < 1e-8


def test_auto_is_robust_for_jets_and_standard_for_generic_data() -> None:
    assert resolve_normalisation("auto", is_jet=True) == "robust"
    assert resolve_normalisation("auto", is_jet=False) == "standard"
    assert resolve_normalisation("minmax", is_jet=True) == "minmax"


def test_unknown_method_is_rejected_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"views\.v\.normalisation"):
        ViewConfig.from_dict({"normalisation": "zscore"}, "v")


@pytest.mark.parametrize("method", ["auto", "minmax", "none"])
def test_prepare_view_applies_and_stores_the_chosen_method(tmp_path: Path, method: str) -> None:
    x, y = generic_arrays(300, d=4, k=3)
    x[:, 0] = np.where(np.arange(300) % 10 == 0, 200.0, 0.0)  # zero IQR, mostly blank
    p = str(write_generic_file(tmp_path / "g.h5", x, y))
    data = {"source": "generic", "generic": {"file": p}, "splits": {"seed": 3}}
    split_data([p], tmp_path / "s.h5", data)
    outs = {s: tmp_path / "v" / f"{s}.h5" for s in SPLITS}
    prepare_view(tmp_path / "s.h5", {"normalisation": method}, outs, tmp_path / "v" / "norm.json",
                 data, view_name="v")  # fmt: skip
    norm = load_norm(tmp_path / "v" / "norm.json")
    raw = json.loads((tmp_path / "v" / "norm.json").read_text())
    expected = "standard" if method == "auto" else method
    assert norm["method"] == expected and raw["view"]["normalisation"] == method
    xt, _, index, _ = load_split(outs["teacher_train"])
    np.testing.assert_allclose(xt, normalise(x[index], norm["center"], norm["scale"]), rtol=1e-6)
    if expected == "minmax":
        assert xt.min() == pytest.approx(0.0, abs=1e-6) and xt.max() == pytest.approx(1.0, rel=1e-6)
    if expected == "standard":
        np.testing.assert_allclose(norm["mean"], x[index].mean(0), rtol=1e-5)
    # the mostly-blank column never spreads wider than its raw 0..200
    assert np.ptp(xt[:, 0]) <= 200.0 + 1e-3
