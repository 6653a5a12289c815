"""View preparation: selection, robust normalisation, written split files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest_data import (
    generic_arrays,
    synthetic_jets,
    write_generic_file,
    write_hls4ml_file,
    write_hls4ml_files,
)

from jetdistill.data.kinematics import FEATURE_INDEX
from jetdistill.data.layout import CLASS_NAMES, PARTICLE_FEATURE_NAMES, PARTICLE_FEATURES
from jetdistill.data.prepare import (
    ViewConfig,
    denormalise,
    fit_robust,
    load_norm,
    load_split,
    log_feature,
    normalise,
    prepare_view,
    select_constituents,
)
from jetdistill.data.splits import SPLITS, read_splits, split_data
from jetdistill.errors import InputError

VIEW = {
    "n_constituents": 8,
    "features": ["j1_ptrel", "j1_etarel", "j1_phirel"],
    "order": "pt",
    "min_pt": 0.0,
}


def _outputs(d: Path) -> dict[str, Path]:
    return {s: d / f"{s}.h5" for s in SPLITS}


@pytest.fixture
def prepared(tmp_path: Path) -> dict:
    files = [str(p) for p in write_hls4ml_files(tmp_path / "raw", n_files=2, n_per_class=20)]
    data = {"source": "hls4ml", "splits": {"seed": 5}, "chunk_size": 17, "norm_fit_max_jets": 1000}
    split_data(files, tmp_path / "splits.h5", data)
    outs = _outputs(tmp_path / "views" / "c8")
    stats = prepare_view(
        tmp_path / "splits.h5",
        VIEW,
        outs,
        tmp_path / "views" / "c8" / "norm.json",
        data,
        view_name="c8",
    )
    return {"files": files, "data": data, "outs": outs, "stats": stats, "tmp": tmp_path}


def test_layout_of_written_files(prepared: dict) -> None:
    splits, labels, _ = read_splits(prepared["tmp"] / "splits.h5")
    for s, path in prepared["outs"].items():
        with h5py.File(path) as f:
            assert (
                f["X"].dtype == np.float32
                and f["y"].dtype == np.int64
                and f["index"].dtype == np.int64
            )
            assert json.loads(f.attrs["features"]) == VIEW["features"]
            assert json.loads(f.attrs["class_names"]) == list(CLASS_NAMES)
            assert json.loads(f.attrs["view"])["n_constituents"] == 8
        x, y, index, attrs = load_split(path)
        assert x.shape == (len(splits[s]), 8, 3)
        np.testing.assert_array_equal(index, splits[s])  # same order as splits.h5
        np.testing.assert_array_equal(y, labels[index])
        assert attrs["features"] == VIEW["features"]
    norm = json.loads((prepared["tmp"] / "views" / "c8" / "norm.json").read_text())
    assert norm["features"] == VIEW["features"] and norm["quantiles"] == [0.25, 0.75]
    assert len(norm["median"]) == len(norm["iqr"]) == 3


def test_norm_fitted_on_real_teacher_train_constituents_only(prepared: dict) -> None:
    splits, _, _ = read_splits(prepared["tmp"] / "splits.h5")
    raw = np.concatenate([h5py.File(p)["jetConstituentList"][...] for p in prepared["files"]])
    tt = raw[splits["teacher_train"], :8]
    real = np.any(tt != 0, axis=-1)
    cols = [FEATURE_INDEX[f] for f in VIEW["features"]]
    vals = tt[real][:, cols]
    norm = load_norm(prepared["tmp"] / "views" / "c8" / "norm.json")
    np.testing.assert_allclose(norm["median"], np.median(vals, axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        norm["iqr"], np.subtract(*np.quantile(vals, [0.75, 0.25], axis=0)), rtol=1e-5
    )
    assert norm["median"][0] > 0.01  # ptrel median of real constituents, not of zero padding


def test_padded_entries_stay_zero_and_round_trip(prepared: dict) -> None:
    raw = np.concatenate([h5py.File(p)["jetConstituentList"][...] for p in prepared["files"]])
    norm = load_norm(prepared["tmp"] / "views" / "c8" / "norm.json")
    x, _, index, _ = load_split(prepared["outs"]["test"])
    src = raw[index, :8]
    real = np.any(src != 0, axis=-1)
    assert (~real).any() and real.any()
    assert np.all(x[~real] == 0.0)
    back = denormalise(x, norm["median"], norm["iqr"], real)
    cols = [FEATURE_INDEX[f] for f in VIEW["features"]]
    np.testing.assert_allclose(back, src[..., cols], rtol=1e-5, atol=1e-6)


def test_normalise_round_trip_pure() -> None:
    rng = np.random.default_rng(0)
    v = rng.lognormal(size=(500, 3))
    med, iqr = fit_robust(v)
    z = normalise(v, med, iqr)
    np.testing.assert_allclose(np.median(z, axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.subtract(*np.quantile(z, [0.75, 0.25], axis=0)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(denormalise(z, med, iqr), v, rtol=1e-5)
    # a constant feature is centred, never divided by zero
    med, iqr = fit_robust(np.ones((10, 1)))
    assert iqr[0] == 1.0


def test_shuffled_order_is_a_permutation_of_pt_order() -> None:
    cons, _ = synthetic_jets(4, seed=2)
    cols = list(range(16))
    pt_col = FEATURE_INDEX["j1_pt"]
    rows = np.arange(len(cons)) + 1000
    xp, mp = select_constituents(cons, cols, 12, pt_column=pt_col)
    xs, ms = select_constituents(
        cons, cols, 12, pt_column=pt_col, order="shuffled", seed=3, global_rows=rows
    )
    xs2, _ = select_constituents(
        cons[5:9], cols, 12, pt_column=pt_col, order="shuffled", seed=3, global_rows=rows[5:9]
    )
    assert np.all(np.diff(np.where(mp, xp[..., pt_col], 0.0), axis=1) <= 0)  # decreasing pT
    np.testing.assert_array_equal(mp.sum(1), ms.sum(1))
    changed = 0
    for j in range(len(cons)):
        a, b = xp[j][mp[j]], xs[j][ms[j]]
        np.testing.assert_array_equal(a[np.lexsort(a.T)], b[np.lexsort(b.T)])  # same set
        changed += not np.array_equal(a, b)
        assert np.all(ms[j][: ms[j].sum()])  # padding stays at the end
    assert changed >= len(cons) // 2
    np.testing.assert_array_equal(xs2, xs[5:9])  # independent of chunking


def test_log_features_normalise_log_of_real_entries(prepared: dict, tmp_path: Path) -> None:
    """log_features: the norm is fitted on log(ptrel) of real constituents, padding stays 0, and
    denormalising then exp() gives back the raw ptrel; the other features are untouched."""
    view = {**VIEW, "log_features": ["j1_ptrel"]}
    outs = _outputs(tmp_path / "log")
    prepare_view(prepared["tmp"] / "splits.h5", view, outs, tmp_path / "log" / "norm.json",
                 prepared["data"], view_name="c8log")  # fmt: skip
    raw = np.concatenate([h5py.File(p)["jetConstituentList"][...] for p in prepared["files"]])
    splits, _, _ = read_splits(prepared["tmp"] / "splits.h5")
    cols = [FEATURE_INDEX[f] for f in VIEW["features"]]
    tt = raw[splits["teacher_train"], :8]
    vals = tt[np.any(tt != 0, axis=-1)][:, cols]
    norm = load_norm(tmp_path / "log" / "norm.json")
    np.testing.assert_allclose(norm["median"][0], np.median(np.log(vals[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(norm["median"][1:], np.median(vals[:, 1:], axis=0), rtol=1e-5)
    x, _, index, _ = load_split(outs["test"])
    src = raw[index, :8]
    real = np.any(src != 0, axis=-1)
    assert np.all(x[~real] == 0.0)
    back = denormalise(x, norm["median"], norm["iqr"], real)
    np.testing.assert_allclose(np.exp(back[..., 0])[real], src[..., cols[0]][real], rtol=1e-4)
    np.testing.assert_allclose(back[..., 1:], src[..., cols[1:]], rtol=1e-5, atol=1e-6)


def test_log_feature_rejects_non_positive_values_and_unknown_names() -> None:
    x = np.array([[[0.5, 1.0], [-0.1, 2.0], [0.0, 0.0]]], np.float32)
    mask = np.array([[True, True, False]])
    with pytest.raises(InputError, match="j1_ptrel.*1 values <= 0"):
        log_feature(x, mask, 0, "j1_ptrel")
    mask[0, 1] = False
    out = log_feature(x, mask, 0, "j1_ptrel")
    np.testing.assert_allclose(out[0, :, 0], [np.log(0.5), 0.0, 0.0])
    with pytest.raises(InputError, match="views.c16.log_features"):
        ViewConfig.from_dict({"features": ["j1_ptrel"], "log_features": ["j1_pt"]}, "c16")


def test_min_pt_cut_and_padding_beyond_stored() -> None:
    cons, _ = synthetic_jets(3, seed=4, max_constituents=20)
    pt_col = FEATURE_INDEX["j1_pt"]
    x, m = select_constituents(cons, [pt_col], 30, pt_column=pt_col, min_pt=40.0)
    assert x.shape == (len(cons), 30, 1)
    assert np.all(x[m][:, 0] >= 40.0) and np.all(x[~m] == 0.0)
    real_above = np.sum((cons[..., pt_col] >= 40.0) & np.any(cons != 0, axis=-1), axis=1)
    np.testing.assert_array_equal(m.sum(1), np.minimum(real_above, 30))


def test_view_feature_not_in_file(tmp_path: Path) -> None:
    files = [str(p) for p in write_hls4ml_files(tmp_path / "raw", n_files=1, n_per_class=10)]
    data = {"source": "hls4ml"}
    split_data(files, tmp_path / "splits.h5", data)
    view = {**VIEW, "features": ["j1_ptrel", "j1_charge"]}
    with pytest.raises(InputError, match="particleFeatureNames.*j1_charge"):
        prepare_view(
            tmp_path / "splits.h5",
            view,
            _outputs(tmp_path / "v"),
            tmp_path / "v" / "norm.json",
            data,
        )
    assert not (tmp_path / "v" / "test.h5").exists()


def test_features_are_read_by_name_not_position(tmp_path: Path) -> None:
    """A file whose 16 columns come in another order (names permuted with them) gives the
    same view, byte for byte: every feature is looked up in particleFeatureNames."""
    cons, jets = synthetic_jets(8, max_constituents=12, seed=3)
    order = np.random.default_rng(1).permutation(len(PARTICLE_FEATURES))
    names = [PARTICLE_FEATURES[i] for i in order]
    views = {}
    for tag, c, n in (("layout", cons, PARTICLE_FEATURE_NAMES),
                      ("permuted", cons[..., order], [*names, "j1_pdgid"])):  # fmt: skip
        d = tmp_path / tag
        f = write_hls4ml_file(d / "jets_150p_0.h5", c, jets, particle_names=n)
        data = {"source": "hls4ml", "splits": {"seed": 2}}
        split_data([str(f)], d / "splits.h5", data)
        view = {**VIEW, "min_pt": 2.0, "log_features": ["j1_ptrel"]}  # j1_pt and j1_ptrel by name
        prepare_view(d / "splits.h5", view, _outputs(d / "v"), d / "v" / "norm.json", data)
        views[tag] = [load_split(d / "v" / f"{s}.h5")[0] for s in SPLITS]
    for a, b in zip(views["layout"], views["permuted"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_view_config() -> None:
    with pytest.raises(InputError, match="views.c16.order"):
        ViewConfig.from_dict({"features": ["j1_pt"], "order": "random"}, "c16")


def test_generic_data_and_chunk_independence(tmp_path: Path) -> None:
    x, y = generic_arrays(300, d=5, k=3)
    p = str(write_generic_file(tmp_path / "g.h5", x, y))
    results = []
    for chunk in (11, 1000):
        data = {
            "source": "generic",
            "generic": {"file": p, "class_names": ["a", "b", "c"]},
            "chunk_size": chunk,
        }
        split_data([p], tmp_path / f"s{chunk}.h5", data)
        outs = _outputs(tmp_path / f"v{chunk}")
        prepare_view(
            tmp_path / f"s{chunk}.h5",
            {"features": ["x"]},
            outs,
            tmp_path / f"v{chunk}" / "norm.json",
            data,
        )
        results.append(load_split(outs["val"]))
    (xa, ya, ia, attrs), (xb, _, ib, _) = results
    assert xa.shape == (30, 5) and attrs["class_names"] == ["a", "b", "c"]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(ya, y[ia])


def test_shuffled_view_end_to_end_matches_pt_view(tmp_path: Path) -> None:
    cons, jets = synthetic_jets(10)
    p = str(write_hls4ml_file(tmp_path / "a.h5", cons, jets))
    data = {"source": "hls4ml"}
    split_data([p], tmp_path / "splits.h5", data)
    res = {}
    for order in ("pt", "shuffled"):
        outs = _outputs(tmp_path / order)
        prepare_view(
            tmp_path / "splits.h5",
            {**VIEW, "order": order},
            outs,
            tmp_path / order / "norm.json",
            data,
        )
        res[order] = load_split(outs["transfer"])[0]
    a, b = res["pt"], res["shuffled"]
    np.testing.assert_allclose(np.sort(a, axis=1), np.sort(b, axis=1))
    assert not np.array_equal(a, b)


def test_workflow_scripts_use_the_snakemake_fields(tmp_path: Path) -> None:
    """Run the three entry scripts with a stand-in `snakemake` object (the fields the rules set)."""
    import runpy
    from types import SimpleNamespace

    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    gen = {"jets_per_shard": 6, "shards": 1, "classes": ["W", "top"], "pt_min": 900.0, "pt_max": 1100.0,
           "jet_radius": 0.8, "substructure": False, "chunk_size": 4, "seed": 1}  # fmt: skip
    shards = []
    for cls in gen["classes"]:
        out = tmp_path / "raw" / f"{cls}_0.h5"
        sm = SimpleNamespace(
            output=SimpleNamespace(shard=str(out)), wildcards=SimpleNamespace(cls=cls, shard="0"),
            params=SimpleNamespace(generate=gen), log=[str(tmp_path / "logs" / f"gen_{cls}.log")], threads=1,
        )  # fmt: skip
        runpy.run_path(str(scripts / "generate_jets.py"), init_globals={"snakemake": sm})
        shards.append(str(out))
    data = {"source": "generate", "generate": gen, "chunk_size": 5, "norm_fit_max_jets": 100,
            "splits": {"teacher_train": 0.5, "transfer": 0.2, "val": 0.15, "test": 0.15, "seed": 7}}  # fmt: skip
    splits = tmp_path / "data" / "splits.h5"
    sm = SimpleNamespace(
        input=SimpleNamespace(files=shards), output=SimpleNamespace(splits=str(splits)),
        params=SimpleNamespace(data=data), log=[str(tmp_path / "logs" / "split.log")], threads=1,
    )  # fmt: skip
    runpy.run_path(str(scripts / "split_data.py"), init_globals={"snakemake": sm})
    vdir = tmp_path / "data" / "views" / "c16"
    outs = {s: str(vdir / f"{s}.h5") for s in SPLITS}
    sm = SimpleNamespace(
        input=SimpleNamespace(splits=str(splits)), output=SimpleNamespace(**outs, norm=str(vdir / "norm.json")),
        params=SimpleNamespace(view={**VIEW, "n_constituents": 16}, view_name="c16", data=data),
        threads=1, log=[str(tmp_path / "logs" / "prep.log")],
    )  # fmt: skip
    runpy.run_path(str(scripts / "prepare_view.py"), init_globals={"snakemake": sm})
    x, y, _, attrs = load_split(outs["teacher_train"])
    assert x.shape == (6, 16, 3) and attrs["class_names"] == ["W", "top"]
    assert sorted(np.bincount(y).tolist()) == [3, 3]
    assert (
        "view c16" in (tmp_path / "logs" / "prep.log").read_text()
    )  # library logging reaches log[0]
    # the unlabelled path (distillation.unlabelled): shards of their own seed stream, one view
    unlabelled = []
    for cls in gen["classes"]:
        out = tmp_path / "raw" / "unlabelled" / f"{cls}_0.h5"
        sm = SimpleNamespace(
            output=SimpleNamespace(shard=str(out)), wildcards=SimpleNamespace(cls=cls, shard="0"),
            params=SimpleNamespace(generate=gen, stream="unlabelled"), threads=1,
            log=[str(tmp_path / "logs" / f"ugen_{cls}.log")],
        )  # fmt: skip
        runpy.run_path(str(scripts / "generate_jets.py"), init_globals={"snakemake": sm})
        unlabelled.append(str(out))
    with h5py.File(unlabelled[0]) as fu, h5py.File(shards[0]) as fl:
        assert fu.attrs["seed"] != fl.attrs["seed"]  # not the labelled shard 0 again
    sm = SimpleNamespace(
        input=SimpleNamespace(splits=str(splits), files=unlabelled, norm=str(vdir / "norm.json")),
        output=SimpleNamespace(unlabelled=str(vdir / "unlabelled.h5")), threads=1,
        params=SimpleNamespace(view={**VIEW, "n_constituents": 16}, view_name="c16", data=data,
                               unlabelled={"multiple": 2, "seed": 7}),
        log=[str(tmp_path / "logs" / "prep_u.log")],
    )  # fmt: skip
    runpy.run_path(str(scripts / "prepare_unlabelled_view.py"), init_globals={"snakemake": sm})
    xu, _, iu, attrs = load_split(vdir / "unlabelled.h5")
    n_transfer = len(load_split(outs["transfer"])[1])
    assert xu.shape == (2 * n_transfer, 16, 3) and attrs["split"] == "unlabelled"
    assert iu.min() >= 12  # after the 12 labelled jets


def test_jet_level_view_reads_the_jets_columns(prepared: dict) -> None:
    """level: jet -> one row per jet from the `jets` dataset, normalised like any feature."""
    tmp, data = prepared["tmp"], prepared["data"]
    view = {"level": "jet", "features": ["j_multiplicity", "j_pt"]}
    outs = _outputs(tmp / "views" / "hlf")
    prepare_view(tmp / "splits.h5", view, outs, tmp / "views" / "hlf" / "norm.json", data,
                 view_name="hlf")  # fmt: skip
    X, y, index, attrs = load_split(outs["test"])
    assert X.shape == (len(y), 2)
    assert attrs["features"] == ["j_multiplicity", "j_pt"]
    norm = load_norm(tmp / "views" / "hlf" / "norm.json")
    raw = np.concatenate([h5py.File(f)["jets"][...] for f in prepared["files"]])
    from jetdistill.data.layout import JET_FEATURES

    cols = [JET_FEATURES.index("j_multiplicity"), JET_FEATURES.index("j_pt")]
    expect = (raw[index][:, cols] - np.asarray(norm["median"])) / np.asarray(norm["iqr"])
    np.testing.assert_allclose(X, expect, rtol=1e-5, atol=1e-5)
    from jetdistill.data.sources import jet_level_source, open_source

    src = open_source("hls4ml", prepared["files"], data)
    np.testing.assert_array_equal(jet_level_source(src, ["j_pt"]).labels(), src.labels())
    # same jets, same order as the constituent view: soft targets and views align
    np.testing.assert_array_equal(index, load_split(prepared["outs"]["test"])[2])


def test_jet_level_view_nan_column_names_file_and_column(prepared: dict) -> None:
    """The synthetic files leave j_mass_mmdt NaN (as the generator does without substructure
    for tau columns): the error names the file and the column, before anything is written."""
    tmp, data = prepared["tmp"], prepared["data"]
    outs = _outputs(tmp / "views" / "bad")
    with pytest.raises(InputError, match=r"jetImage_0_150p_0_10000\.h5.*'jets'.*'j_tau1_b1'"):
        prepare_view(tmp / "splits.h5", {"level": "jet", "features": ["j_tau1_b1"]}, outs,
                     tmp / "views" / "bad" / "norm.json", data, view_name="bad")  # fmt: skip
    assert not any(p.exists() for p in outs.values())
    with pytest.raises(InputError, match="j_nonsense"):
        prepare_view(tmp / "splits.h5", {"level": "jet", "features": ["j_nonsense"]}, outs,
                     tmp / "views" / "bad" / "norm.json", data, view_name="bad")  # fmt: skip
    with pytest.raises(InputError, match="level"):
        ViewConfig.from_dict({"level": "event", "features": ["j_pt"]}, "bad")


# --------------------------------------------------------------------------- unlabelled jets
def test_unlabelled_rows_by_hand() -> None:
    """Generated shards (per class): the first multiple x n_transfer_k rows of each class, in
    file order, so a larger multiple keeps the rows of a smaller one; user files: a seeded
    draw of multiple x n_transfer rows, whatever their labels."""
    from jetdistill.data.prepare import unlabelled_rows

    labels = np.array([0, 0, 0, 1, 1, 1])
    transfer = np.array([0, 1, 1])  # 1 jet of class 0, 2 of class 1
    one = unlabelled_rows(labels, transfer, 1.0, 2, per_class=True, seed=0)
    assert one.tolist() == [0, 3, 4]
    assert unlabelled_rows(labels, transfer, 1.5, 2, per_class=True, seed=0).tolist() == [
        0,
        1,
        3,
        4,
        5,
    ]
    assert unlabelled_rows(labels, transfer, 0.0, 2, per_class=True, seed=0).tolist() == []
    with pytest.raises(InputError, match="multiple"):
        unlabelled_rows(labels, transfer, 2.0, 2, per_class=True, seed=0)  # 4 of class 1 > 3
    drawn = unlabelled_rows(labels, transfer, 1.0, 2, per_class=False, seed=3)
    assert len(drawn) == 3 and set(drawn) <= set(range(6))
    assert set(drawn) <= set(unlabelled_rows(labels, transfer, 2.0, 2, per_class=False, seed=3))
    with pytest.raises(InputError, match="unlabelled.files"):
        unlabelled_rows(labels, transfer, 2.5, 2, per_class=False, seed=3)


def test_unlabelled_view_uses_the_labelled_norm_and_its_own_index(prepared: dict) -> None:
    """The unlabelled view is normalised with the labelled view's norm.json (not refitted: a
    distinct sample would give another median/IQR), its global index continues after the
    labelled jets (disjoint from every split), and the labelled files are refused."""
    from jetdistill.data.prepare import prepare_unlabelled_view

    tmp, data = prepared["tmp"], prepared["data"]
    norm_path = tmp / "views" / "c8" / "norm.json"
    extra = [
        str(p) for p in write_hls4ml_files(tmp / "unlabelled", n_files=2, n_per_class=20, seed=7)
    ]
    out = tmp / "views" / "c8" / "unlabelled.h5"
    stats = prepare_unlabelled_view(tmp / "splits.h5", extra, VIEW, norm_path, out, data,
                                    multiple=1.0, view_name="c8")  # fmt: skip
    splits, labels, _ = read_splits(tmp / "splits.h5")
    X, y, index, attrs = load_split(out)
    assert attrs["split"] == "unlabelled" and len(y) == len(splits["transfer"]) == stats["n"]
    assert index.min() >= len(labels) and not set(index) & set(
        np.concatenate(list(splits.values()))
    )
    # the same numbers as selecting these jets by hand and normalising with the labelled norm
    norm = load_norm(norm_path)
    rows = index - len(labels)
    with h5py.File(extra[0]) as f0, h5py.File(extra[1]) as f1:
        cons = np.concatenate([f0["jetConstituentList"][()], f1["jetConstituentList"][()]])[rows]
    cols = [PARTICLE_FEATURE_NAMES.index(n) for n in VIEW["features"]]
    x, mask = select_constituents(cons, cols, 8)
    np.testing.assert_allclose(X, normalise(x, norm["center"], norm["scale"], mask), atol=1e-6)
    assert not np.allclose(X, normalise(x, *fit_robust(x[mask]), mask), atol=1e-3)  # not refitted
    # half the multiple: a subset of the jets
    half = tmp / "half.h5"
    prepare_unlabelled_view(tmp / "splits.h5", extra, VIEW, norm_path, half, data, multiple=0.5,
                            view_name="c8")  # fmt: skip
    assert set(load_split(half)[2]) < set(index)
    with pytest.raises(InputError, match="not the labelled data's"):
        prepare_unlabelled_view(tmp / "splits.h5", prepared["files"], VIEW, norm_path, half, data,
                                multiple=0.5, view_name="c8")  # fmt: skip
