"""The per-weight-precision frontier: its grid and checks (jetdistill.plan.frontier) and its
tables (jetdistill.report.chip_frontier), on hand-made records whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config_with

from jetdistill import plan
from jetdistill.errors import InputError
from jetdistill.identity import HGQJob
from jetdistill.report import chip_frontier as F

PEER_MODEL = {"type": "jedi_linear", "view": "c4", "width": 8, "head": [8]}


# --------------------------------------------------------------------------- plan
def _pw(**kw) -> dict:
    pw = {"enabled": True, "students": ["mlp"], "modes": ["kd", "solo"], "betas": [1e-5, 3e-5],
          "seeds": None, "epochs": 2, "lr": 0.003, "batch_size": 64, "init_bits": 8,
          "ramp_fraction": 0.5, "synthesize": "pareto", "verilator_samples": 50,
          "peer": {"model": "", "betas": [], "epochs": None, "lr": 0.003, "init_bits": 7}}  # fmt: skip
    pw.update(kw)
    return pw


def test_grid_is_students_modes_betas_seeds_then_the_peer() -> None:
    cfg = tiny_config_with({"compression": {"per_weight": _pw()}})
    jobs = plan.hgq_jobs(cfg)
    assert len(jobs) == 1 * 2 * 2 * len(cfg["compression"]["seeds"])
    assert jobs[0] == HGQJob("mlp", "kd", "1e-05", cfg["compression"]["seeds"][0], "default")
    assert jobs[0].path("r", "model.keras") == "r/hgq/mlp/kd/beta1e-05/default/seed0/model.keras"
    cfg["models"]["jl"] = PEER_MODEL
    cfg["compression"]["per_weight"]["peer"]["model"] = "jl"
    cfg["compression"]["per_weight"]["seeds"] = [0, 1, 2]
    peer = [j for j in plan.hgq_jobs(cfg) if j.mode == plan.PEER_MODE]
    assert [(j.student, j.beta, j.seed) for j in peer][:2] == [
        ("jl", "1e-05", 0),
        ("jl", "1e-05", 1),
    ]
    assert len(peer) == 2 * 3  # the peer sweeps per_weight.betas when it has none of its own


def test_extending_the_beta_list_only_adds_jobs() -> None:
    small = plan.hgq_jobs(tiny_config_with({"compression": {"per_weight": _pw(betas=[1e-5])}}))
    big = plan.hgq_jobs(tiny_config_with({"compression": {"per_weight": _pw(betas=[1e-5, 1e-4])}}))
    assert set(small) < set(big) and len(big) == 2 * len(small)


def test_settings_kd_carries_the_compression_kd_loss_the_peer_its_own_schedule() -> None:
    cfg = tiny_config_with({"compression": {"per_weight": _pw(peer={"model": "jl", "betas": [],
                                                                     "epochs": 7, "lr": 0.01,
                                                                     "init_bits": 6})}})  # fmt: skip
    kd = plan.hgq_job_settings(cfg, HGQJob("mlp", "kd", "1e-05", 0))
    assert kd["kd"]["temperature"] == cfg["compression"]["kd"]["temperature"]
    assert kd["init"] == "finetune" and kd["epochs"] == 2
    solo = plan.hgq_job_settings(cfg, HGQJob("mlp", "solo", "1e-05", 0))
    assert "kd" not in solo
    peer = plan.hgq_job_settings(cfg, HGQJob("jl", "peer", "1e-05", 0))
    assert (peer["init"], peer["epochs"], peer["lr"], peer["init_bits"]) == ("scratch", 7, 0.01, 6)


def test_the_peer_with_kd_runs_its_recipe_from_scratch_on_the_teacher() -> None:
    pw = _pw(students=["mlp"], modes=["kd"], betas=[1e-5], seeds=[0],
             peer={"model": "jl", "modes": ["peer", "kd"], "betas": [], "epochs": 5, "lr": 0.01,
                   "init_bits": 4, "batch_size": 32})  # fmt: skip
    cfg = tiny_config_with({"compression": {"per_weight": pw, "kd_targets": "float_student"}})
    cfg["models"]["jl"] = PEER_MODEL
    jobs = plan.hgq_jobs(cfg)
    assert [(j.student, j.mode) for j in jobs] == [("mlp", "kd"), ("jl", "peer"), ("jl", "kd")]
    ours, peer_kd = plan.hgq_job_settings(cfg, jobs[0]), plan.hgq_job_settings(cfg, jobs[2])
    assert ours["init"] == "finetune" and ours["kd_targets"] == "float_student"
    assert (peer_kd["init"], peer_kd["kd_targets"], peer_kd["lr"], peer_kd["batch_size"]) == (
        "scratch",
        "teacher",
        0.01,
        32,
    )
    assert peer_kd["kd"]["method"] == "hinton" and plan.on_peer_recipe(cfg, jobs[2])
    assert not plan.on_peer_recipe(cfg, jobs[0])


def test_the_peer_with_kd_is_paired_with_the_peer() -> None:
    d = _table()
    extra = d[d["hgq_mode"] == "peer"].copy()
    extra["hgq_mode"], extra["test_accuracy"] = "kd", extra["test_accuracy"] + 0.01
    t = F.kd_vs_solo_table(pd.concat([d, extra], ignore_index=True))
    row = t[t["student"] == "jl"].iloc[0]
    assert np.isclose(row["delta"], 0.01) and row["n_pairs"] == 3
    assert F.family_label("kd", "jl", "jl") == "peer's recipe + our KD"


def test_kd_and_its_twin_take_the_same_optimizer_steps() -> None:
    """With 3x unlabelled jets a KD epoch is 4x longer: solo gets 4x the epochs, and the peer's
    model with KD a quarter of the peer's (rounded up)."""
    pw = _pw(betas=[1e-5], seeds=[0], epochs=5,
             peer={"model": "jl", "modes": ["peer", "kd"], "betas": [], "epochs": 6, "lr": 0.01,
                   "init_bits": 4, "batch_size": 32})  # fmt: skip
    cfg = tiny_config_with({"compression": {"per_weight": pw},
                            "distillation": {"unlabelled": {"multiple": 3}}})  # fmt: skip
    cfg["models"]["jl"] = PEER_MODEL
    epochs = {
        (j.student, j.mode): plan.hgq_job_settings(cfg, j)["epochs"] for j in plan.hgq_jobs(cfg)
    }
    assert epochs == {("mlp", "kd"): 5, ("mlp", "solo"): 20, ("jl", "peer"): 6, ("jl", "kd"): 2}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"students": ["teacher_model"]}, "compression.per_weight.students"),
        ({"students": ["nope"]}, "compression.per_weight.students"),
    ],
)
def test_a_student_the_quantiser_cannot_express_is_refused_naming_the_key(change, key) -> None:
    cfg = tiny_config_with({"compression": {"per_weight": _pw(**change)}})
    cfg["models"]["teacher_model"] = cfg["models"]["jedinet"]
    with pytest.raises(InputError) as e:
        plan.check_per_weight(cfg)
    assert key in str(e.value)
    if change["students"] == ["teacher_model"]:
        assert "interaction_network" in str(e.value) and "mlp" in str(e.value)


# --------------------------------------------------------------------------- tables
def _designs() -> pd.DataFrame:
    rows = []
    # two KD points, two solo points (KD +2 pts at the same LUTs), one peer point
    for mode, beta, acc, luts in (("kd", 1e-5, 0.62, 14_000), ("kd", 1e-4, 0.58, 6_000),
                                  ("solo", 1e-5, 0.60, 14_500), ("solo", 1e-4, 0.56, 6_200),
                                  ("peer", 1e-5, 0.59, 13_000)):  # fmt: skip
        for seed, jitter in ((0, 0.0), (1, 0.004), (2, -0.002)):
            rows.append({"hgq_mode": mode, "student": "jl" if mode == "peer" else "mlp32",
                         "ebops_beta": beta, "arm": "default", "seed": seed,
                         "test_accuracy": acc + jitter + (0.001 * seed if mode == "kd" else 0),
                         "ebops": 1e4, "da4ml_cost_luts": luts, "latency_cycles": 6,
                         "latency_ns": 30.0, "rtl_exact_fraction": 1.0,
                         "rtl_emulation_exact_fraction": 1.0,
                         "path": f"r/{mode}/{beta}/{seed}/metrics.json"})  # fmt: skip
    return pd.DataFrame(rows)


def test_design_table_takes_yosys_where_synthesized_else_da4ml() -> None:
    d = _designs()
    synth = [{"rtl": "r/kd/1e-05/0/metrics.json", "luts": 13_100, "ffs": 2_000}]
    t = F.design_table(d.drop(columns=["da4ml_cost_luts", "latency_cycles", "latency_ns",
                                       "rtl_exact_fraction", "rtl_emulation_exact_fraction", "path"]),
                       d, synth)  # fmt: skip
    row = t[(t["hgq_mode"] == "kd") & (t["ebops_beta"] == 1e-5) & (t["seed"] == 0)].iloc[0]
    assert row["luts"] == 13_100 and row["lut_source"] == "yosys"
    other = t[(t["hgq_mode"] == "kd") & (t["ebops_beta"] == 1e-5) & (t["seed"] == 1)].iloc[0]
    assert other["luts"] == 14_000 and other["lut_source"] == "da4ml"
    assert t["bit_exact"].all()


def _table() -> pd.DataFrame:
    d = _designs()
    return F.design_table(d.drop(columns=["da4ml_cost_luts", "latency_cycles", "latency_ns",
                                          "rtl_exact_fraction", "rtl_emulation_exact_fraction",
                                          "path"]), d, [])  # fmt: skip


def test_points_pareto_and_kd_vs_solo_paired_by_seed() -> None:
    designs = _table()
    points = F.points_table(designs)
    assert len(points) == 5 and points["n_seeds"].eq(3).all()
    assert points[points["hgq_mode"] != "peer"]["pareto"].all()  # both points of each family
    kvs = F.kd_vs_solo_table(designs)
    hi = kvs[kvs["ebops_beta"] == 1e-5].iloc[0]
    # per seed: KD - solo = 0.02 + 0.001 * seed -> mean 0.021, std 0.001, SE 0.001 / sqrt(3)
    assert np.isclose(hi["delta"], 0.021)
    assert np.isclose(hi["delta_se"], 0.001 / np.sqrt(3))
    assert hi["n_pairs"] == 3


def test_budget_table_compares_our_best_kd_with_the_peer_within_each_budget() -> None:
    points = F.points_table(_table())
    b = F.budget_table(points, budgets=(7_000, 15_000))
    low, high = b.iloc[0], b.iloc[1]
    assert np.isnan(low["peer_accuracy"]) and np.isclose(low["kd_luts"], 6_000)
    assert np.isclose(high["kd_accuracy"], 0.62 + (0.004 - 0.002) / 3 + 0.001)
    assert np.isclose(high["kd_minus_peer"], high["kd_accuracy"] - high["peer_accuracy"])


def test_pareto_mask_keeps_ties_and_drops_the_dominated() -> None:
    assert F.pareto_mask([1, 2, 2, 3], [0.5, 0.6, 0.6, 0.55]) == [True, True, True, False]


def test_readable_tables_and_plot(tmp_path) -> None:
    designs = _table()
    points = F.points_table(designs)
    text = F.readable_points(points).to_string()
    assert "0.6217" in text and "ours, KD" in text
    F.plot_chip_frontier(points, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_yosys_goes_to_one_design_per_pareto_point_its_lowest_seed() -> None:
    from jetdistill.jobs.hgq import pareto_designs

    d = [{"point": ("kd", "m", 1e-5), "family": "kd", "seed": s, "accuracy": 0.6 + 0.01 * s,
          "lut_da4ml": 100.0} for s in (1, 0, 2)]  # fmt: skip
    d += [
        {
            "point": ("kd", "m", 3e-5),
            "family": "kd",
            "seed": 0,
            "accuracy": 0.55,
            "lut_da4ml": 200.0,
        }
    ]
    d += [
        {
            "point": ("peer", "p", 1e-5),
            "family": "peer",
            "seed": 0,
            "accuracy": 0.5,
            "lut_da4ml": 50.0,
        }
    ]
    # the kd point at 3e-5 is dominated (more LUTs, less accuracy); seed 0 of the other is index 1
    assert pareto_designs(d) == [1, 4]


def test_the_one_width_designs_join_the_table_with_their_qat_accuracy() -> None:
    qat = pd.DataFrame([{"student": "mlp32", "qat_mode": "kd", "bits": 6, "sparsity": 0.3,
                         "cost_penalty": 0.003, "arm": "default", "seed": 0, "test_accuracy": 0.608}])  # fmt: skip
    rtl = pd.DataFrame([{"student": "mlp32", "qat_mode": "kd", "bits": "6", "sparsity": "0.3",
                         "cost_penalty": "0.003", "arm": "default", "seed": "0", "luts": 14_020,
                         "ffs": 2_965, "da4ml_cost_luts": 13_520, "latency_cycles": 6,
                         "latency_ns": 30.0, "rtl_exact_fraction": 1.0,
                         "rtl_emulation_exact_fraction": 1.0,
                         "rtl_yosys_s": 60.0}])  # fmt: skip
    b = F.brevitas_designs(qat, rtl)
    assert len(b) == 1 and b.iloc[0]["luts"] == 14_020 and b.iloc[0]["lut_source"] == "yosys"
    points = F.points_table(pd.concat([_table().query("hgq_mode != 'kd'"), b], ignore_index=True))
    best = F.budget_table(points, budgets=(15_000,)).iloc[0]
    assert np.isclose(best["kd_accuracy"], 0.608) and "one width per tensor" in best["kd_point"]
