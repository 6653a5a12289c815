"""The public hls4ml LHC jet HDF5 layout (Zenodo 3602260), as constants.

Generated samples are written in exactly this layout so that every later stage
reads generated and real data through one code path.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_CONSTITUENTS = 150

#: Columns of ``jetConstituentList`` (N, 150, 16), in file order.
PARTICLE_FEATURES: tuple[str, ...] = (
    "j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta",
    "j1_etarel", "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR",
    "j1_costheta", "j1_costhetarel",
)  # fmt: skip

#: Names ``particleFeatureNames`` lists after the columns without a column of their own.
COLUMNLESS_PARTICLE_NAMES: tuple[str, ...] = ("j1_pdgid",)

#: ``particleFeatureNames`` in the files: the 16 columns plus j1_pdgid, which has no column.
PARTICLE_FEATURE_NAMES: tuple[str, ...] = PARTICLE_FEATURES + COLUMNLESS_PARTICLE_NAMES

#: ``jetFeatureNames``: the 59 columns of ``jets`` (N, 59), in file order.
JET_FEATURES: tuple[str, ...] = (
    "j_ptfrac", "j_pt", "j_eta", "j_mass",
    "j_tau1_b1", "j_tau2_b1", "j_tau3_b1", "j_tau1_b2", "j_tau2_b2", "j_tau3_b2",
    "j_tau32_b1", "j_tau32_b2", "j_zlogz",
    "j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2",
    "j_d2_b1", "j_d2_b2", "j_d2_a1_b1", "j_d2_a1_b2", "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2",
    "j_tau1_b1_mmdt", "j_tau2_b1_mmdt", "j_tau3_b1_mmdt",
    "j_tau1_b2_mmdt", "j_tau2_b2_mmdt", "j_tau3_b2_mmdt",
    "j_tau32_b1_mmdt", "j_tau32_b2_mmdt",
    "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt", "j_n2_b2_mmdt",
    "j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1",
    "j_multiplicity",
    "j_g", "j_q", "j_w", "j_z", "j_t", "j_undef",
)  # fmt: skip

#: One-hot label columns of ``jets`` in file order (j_undef is never a training class).
LABEL_COLUMNS: tuple[str, ...] = ("j_g", "j_q", "j_w", "j_z", "j_t")

#: Class names used everywhere downstream, index-aligned with LABEL_COLUMNS.
CLASS_NAMES: tuple[str, ...] = ("gluon", "light_quark", "W", "Z", "top")

#: Dataset names in an hls4ml jet file.
DS_CONSTITUENTS = "jetConstituentList"
DS_PARTICLE_NAMES = "particleFeatureNames"
DS_JETS = "jets"
DS_JET_NAMES = "jetFeatureNames"


def column_names(names: Sequence[str]) -> list[str]:
    """The names of the columns of ``jetConstituentList``: ``particleFeatureNames`` without
    its trailing column-less names (j1_pdgid); name ``i`` names column ``i``."""
    out = list(names)
    while out and out[-1] in COLUMNLESS_PARTICLE_NAMES:
        out.pop()
    return out


def particle_layout_problems(names: Sequence[str], n_columns: int) -> list[str]:
    """What keeps ``particleFeatureNames`` and a ``jetConstituentList`` of ``n_columns``
    columns from being the layout; empty when they are.

    Why so strict: features are read by name, and name ``i`` of ``particleFeatureNames`` names
    column ``i``, so a file whose columns and names disagree would feed one feature under
    another's name (with j1_px dropped, every ``j1_ptrel`` was a ``j1_eta``) and the run would
    finish with rc 0. The 16 columns may come in any order.
    """
    named = column_names(names)
    problems = []
    if len(named) != n_columns:
        problems.append(
            f"{n_columns} columns for the {len(named)} column names of particleFeatureNames "
            "(a column dropped or added without its name)"
        )
    elif n_columns != len(PARTICLE_FEATURES):
        problems.append(f"{n_columns} columns (the layout has {len(PARTICLE_FEATURES)})")
    missing = [n for n in PARTICLE_FEATURES if n not in named]
    if missing:
        problems.append(f"missing names {missing}")
    extra = [n for n in dict.fromkeys(named) if n not in PARTICLE_FEATURES]
    if extra:
        problems.append(f"extra names {extra}")
    repeated = sorted({n for n in named if named.count(n) > 1})
    if repeated:
        problems.append(f"repeated names {repeated}")
    return problems


assert len(PARTICLE_FEATURES) == 16
assert len(JET_FEATURES) == 59
