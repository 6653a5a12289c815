"""Pythia8 + FastJet generation: layout, reproducibility and physics on small samples.

One shard of 120 jets per class is generated once for the module (~20-30 s on
one core); the physics checks use medians so they are robust at that size.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from jetdistill.errors import InputError
from jetdistill.generate import GenerateConfig, generate_shard, shard_seed
from jetdistill.layout import CLASS_NAMES, JET_FEATURES, LABEL_COLUMNS, PARTICLE_FEATURE_NAMES
from jetdistill.sources import open_source

N_JETS = 120
COL = {n: i for i, n in enumerate(JET_FEATURES)}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("raw")
    cfg = GenerateConfig(jets_per_shard=N_JETS, chunk_size=50, seed=1)
    out = {}
    for cls in CLASS_NAMES:
        out[cls] = d / f"{cls}_0.h5"
        stats = generate_shard(out[cls], cls, 0, cfg)
        assert stats["jets"] == N_JETS and stats["jets_per_s"] > 0
    return out


def _jets(path: Path) -> np.ndarray:
    with h5py.File(path) as f:
        return f["jets"][...]


def test_layout(shards: dict[str, Path]) -> None:
    for k, cls in enumerate(CLASS_NAMES):
        with h5py.File(shards[cls]) as f:
            cons, jets = f["jetConstituentList"], f["jets"]
            assert cons.shape == (N_JETS, 150, 16) and cons.dtype == np.float32
            assert jets.shape == (N_JETS, 59) and jets.dtype == np.float32
            assert [n.decode() for n in f["particleFeatureNames"][...]] == list(
                PARTICLE_FEATURE_NAMES
            )
            assert [n.decode() for n in f["jetFeatureNames"][...]] == list(JET_FEATURES)
            c, j = cons[...], jets[...]
        onehot = j[:, [COL[n] for n in (*LABEL_COLUMNS, "j_undef")]]
        np.testing.assert_array_equal(onehot, np.eye(6)[np.full(N_JETS, k)])
        assert np.all((j[:, COL["j_pt"]] >= 900) & (j[:, COL["j_pt"]] <= 1100))
        assert np.all(np.abs(j[:, COL["j_eta"]]) < 2.5)
        for name in ("j_pt", "j_eta", "j_mass", "j_mass_mmdt", "j_multiplicity", "j_ptfrac"):
            assert np.all(np.isfinite(j[:, COL[name]])), name
        assert np.all(np.isnan(j[:, COL["j_tau1_b1"]]))  # substructure off: NaN
        # constituents: pT-ordered, zero padded, count = min(multiplicity, 150)
        real = np.any(c != 0, axis=-1)
        np.testing.assert_array_equal(real.sum(1), np.minimum(j[:, COL["j_multiplicity"]], 150))
        pt = c[..., 5]
        assert np.all(np.diff(pt, axis=1) <= 1e-3)
        # ptrel of the stored constituents sums to ~1 (up to the 150 cap and angular spread)
        assert np.median(c[..., 6].sum(1)) == pytest.approx(1.0, abs=0.05)
        dr = c[..., 13][real]  # anti-kT clusters in (y, phi); deltaR uses eta, so a few exceed R
        assert np.mean(dr < 0.8) > 0.97


def test_groomed_mass_peaks(shards: dict[str, Path]) -> None:
    def peak(cls: str, lo: float, hi: float) -> float:
        m = _jets(shards[cls])[:, COL["j_mass_mmdt"]]
        inside = m[(m > lo) & (m < hi)]
        assert len(inside) > 0.4 * N_JETS, cls
        return float(np.median(inside))

    assert peak("W", 50, 120) == pytest.approx(80.4, abs=6)
    assert peak("Z", 60, 130) == pytest.approx(91.2, abs=6)
    assert peak("top", 120, 230) == pytest.approx(173, abs=12)


def test_gluon_jets_have_more_constituents_than_quark_jets(shards: dict[str, Path]) -> None:
    g = _jets(shards["gluon"])[:, COL["j_multiplicity"]].mean()
    q = _jets(shards["light_quark"])[:, COL["j_multiplicity"]].mean()
    assert g > 1.2 * q


def test_shards_are_a_valid_source(shards: dict[str, Path]) -> None:
    src = open_source("generate", [str(shards[c]) for c in CLASS_NAMES], {"chunk_size": 100})
    np.testing.assert_array_equal(np.bincount(src.labels()), [N_JETS] * 5)
    src.check_values()


def test_reproducible_and_independent(tmp_path: Path) -> None:
    cfg = GenerateConfig(jets_per_shard=10, chunk_size=4, seed=3)
    a, b, c = (tmp_path / f"{n}.h5" for n in "abc")
    generate_shard(a, "W", 0, cfg)
    generate_shard(b, "W", 0, cfg)
    generate_shard(c, "W", 1, cfg)
    ca, cb, cc = (h5py.File(p)["jetConstituentList"][...] for p in (a, b, c))
    np.testing.assert_array_equal(ca, cb)
    assert not np.array_equal(ca, cc)
    seeds = {shard_seed(7, cls, s) for cls in CLASS_NAMES for s in range(50)}
    assert len(seeds) == 250 and all(1 <= s <= 900_000_000 for s in seeds)


def test_substructure_columns(tmp_path: Path) -> None:
    cfg = GenerateConfig(jets_per_shard=15, chunk_size=15, seed=4, substructure=True)
    generate_shard(tmp_path / "t.h5", "top", 0, cfg)
    j = _jets(tmp_path / "t.h5")
    for name in ("j_tau1_b1", "j_tau3_b2", "j_c2_b1", "j_d2_b1", "j_n2_b1", "j_m2_b2", "j_zlogz",
                 "j_mass_trim", "j_mass_sdb2", "j_mass_sdm1", "j_tau1_b1_mmdt", "j_c1_b0"):  # fmt: skip
        assert np.all(np.isfinite(j[:, COL[name]])), name
    # N-subjettiness is ordered and 3-prong tops have small tau32
    assert np.all(j[:, COL["j_tau2_b1"]] <= j[:, COL["j_tau1_b1"]] + 1e-3)
    assert np.median(j[:, COL["j_tau32_b1"]]) < 0.8
    assert np.all(j[:, COL["j_mass_mmdt"]] <= j[:, COL["j_mass"]] + 1e-2)


def test_config_errors() -> None:
    with pytest.raises(InputError, match="data.generate"):
        GenerateConfig.from_dict({"jets_per_shard": 10, "pt_minimum": 5})
    with pytest.raises(InputError, match="pt_min"):
        GenerateConfig.from_dict({"pt_min": 1200.0, "pt_max": 1100.0})
    with pytest.raises(InputError, match="classes"):
        GenerateConfig.from_dict({"classes": ["gluon", "higgs"]})
    with pytest.raises(InputError, match="class"):
        generate_shard("/tmp/never.h5", "higgs", 0, GenerateConfig())
