"""The JEDI-linear anchor on our data: HGQ2 on the default run's 16x3 view, da4ml, Yosys.

JEDI-linear is the published reference for a jet tagger on a chip (public hls4ml data: 0.7195
at 43.8k LUTs, 19 cycles), but our data differ, so its numbers cannot be set next to our chip
students as they are. This trains the same recipe on the jets our students train on and puts
it through the same open-source hardware flow:

1. data: the default run's ``c16`` view (first 16 constituents x (pT_rel, eta_rel, phi_rel),
   normalised as the workflow normalises them), ``transfer`` to train (the students' split),
   ``val`` to select the epoch, ``test`` to report;
2. model: JEDI-linear's ``gnn`` for 16x3 (src/model.py of the JEDI-linear repository): a
   per-constituent MLP (``--width``), one permutation-equivariant "global sum" context layer
   (``relu(A h_i) + relu(B sum_j h_j / 16)``), one more per-constituent layer, sum pooling, an
   MLP head (64-32-16-5). Every layer is an HGQ2 ``QEinsumDenseBatchnorm``: per-weight bit
   widths (``kbi``, start 7 bits) and per-element activation bit widths (``kif``, start 7
   fractional bits), learned with HGQ's EBOPs penalty ``beta * EBOPs`` added to the loss;
3. training: Keras 3 on the PyTorch backend, Adam with a cosine learning rate (3e-3 -> 0),
   ``beta`` ramped log-linearly from ``beta/100`` to ``beta`` over the first half of the
   epochs, then held; the kept weights are those of the best validation accuracy among the
   epochs at the full ``beta`` (early stopping on val with a fixed cost weight);
   ``--ramp`` is JEDI-linear's own recipe instead, shortened: ONE run whose beta rises
   log-linearly from ``--betas[0]`` to ``--betas[-1]``, a cosine learning rate restarted every
   ``--restart`` epochs, every epoch's (val accuracy, EBOPs) kept on a Pareto front, and one
   design per ``--ebops-budgets`` value (the best-val checkpoint within it): the whole
   frontier from one training, which is what a CPU affords;
4. conversion: ``hgq.utils.trace_minmax`` on the training jets (integer bits of the wrapping
   activations), da4ml's HGQ2 tracer (``da4ml.converter.trace_model``), da4ml's integer
   emulation checked bit for bit against Keras on every test jet, Verilog with the
   project's settings (``latency_cutoff`` 5 adder levels per stage, 5 ns clock), a Verilator
   simulation checked on ``--verilator-samples`` jets and Yosys ``synth_xilinx -family xcup
   -flatten`` for LUT/FF counts (the project's own :func:`jetdistill.fpga.eda.run_yosys` and
   :func:`~jetdistill.fpga.eda.build_verilator_sim`); latency = pipeline stages + the input
   register, as in :func:`jetdistill.fpga.rtl.estimate_rtl`;
5. one point per ``--betas`` value (or per budget with ``--ramp``), then a table: every HGQ point and every chip student of
   ``--results`` (``fpga/<student>/<mode>/b<bits>_s<sparsity>/seed<seed>/rtl/metrics.json``,
   with the test accuracy of the same seed's QAT model, and the mean over seeds from
   ``compression/frontier.csv`` where it exists), sorted by LUTs, and for each chip student
   the most accurate HGQ point within +10% of its LUTs.

HGQ2, Keras 3 and a second da4ml do not belong in the project's environment: run it from its
own venv (see benchmarks/README.md, "JEDI-linear anchor"), from the repository root::

    KERAS_BACKEND=torch PYTHONPATH=$PWD/src nice -n 15 /work/venv-hgq/bin/python \\
        benchmarks/bench_hgq.py --results results --epochs 12 --betas 3e-7 1e-6 3e-6 \\
        --json benchmarks/out/hgq.json

Only :func:`main` and the functions it calls for training/conversion import keras/hgq/da4ml;
the helpers that read our results (:func:`chip_students`, :func:`best_within`,
:func:`side_by_side`) need neither, so the project's tests import this file with the
project's venv.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench_hgq")

VIEW = "c16"
#: the chip's clock and stage depth: the project's rtl defaults (fpga.clock_period_ns, rtl.py)
CLOCK_PERIOD_NS = 5.0
LATENCY_CUTOFF = 5.0
#: "matched LUTs": an HGQ point counts for a chip student if it uses at most this much more
MATCH_TOL = 0.10


# --------------------------------------------------------------------------- our results
def _read_json(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def _point_of(rel: Path, record: dict[str, Any]) -> dict[str, str]:
    """student/mode/bits/sparsity/seed of an fpga/qat record: its wildcards, else its path
    (``<student>/<mode>/b<bits>_s<sparsity>/seed<seed>``)."""
    wc = record.get("wildcards") or {}
    keys = ("student", "mode", "bits", "sparsity", "seed")
    if all(k in wc for k in keys):
        return {k: str(wc[k]) for k in keys}
    student, mode, grid, seed = rel.parts[:4]
    bits, sparsity = grid[1:].split("_s", 1)
    return {"student": student, "mode": mode, "bits": bits, "sparsity": sparsity,
            "seed": seed.removeprefix("seed")}  # fmt: skip


def _frontier_means(results: Path) -> dict[tuple[str, str, str, str], tuple[float, float, int]]:
    """(student, mode, bits, sparsity) -> (mean test accuracy, std, seeds) from frontier.csv."""
    path = results / "compression" / "frontier.csv"
    if not path.is_file():
        return {}
    import pandas as pd

    df = pd.read_csv(path)
    out = {}
    for _, r in df.iterrows():
        if str(r.get("mode", "")).startswith("float"):
            continue
        key = (str(r["student"]), str(r["mode"]), _num(r["bits"]), _num(r["sparsity"]))
        std = float(r["test_accuracy_std"]) if "test_accuracy_std" in r else float("nan")
        out[key] = (float(r["test_accuracy"]), std, int(r.get("n_seeds", 1)))
    return out


def _num(v: Any) -> str:
    """Canonical text of a grid value: 5, 5.0, "5" -> "5"; 0.87, "0.870" -> "0.87"."""
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def chip_students(results: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every converted chip student of a results folder, one row per RTL design.

    A row: ``name`` (``<student> <mode> b<bits> s<sparsity> seed<seed>``), ``accuracy`` (the
    test accuracy of the QAT model of that seed, which the RTL reproduces bit for bit;
    NaN if its metrics.json is missing), ``accuracy_mean``/``accuracy_std``/``n_seeds`` (the
    frontier's mean over seeds of the same grid point, NaN without frontier.csv), ``luts``,
    ``ffs``, ``cycles``, ``da4ml_luts`` (da4ml's own estimate), ``exact`` (the RTL's
    bit-exact fraction) and ``source`` (the rtl metrics.json). Sorted by LUTs.
    """
    root = Path(results)
    means = _frontier_means(root)
    rows = []
    for path in sorted((root / "fpga").glob("*/*/*/seed*/rtl/metrics.json")):
        rel = path.relative_to(root / "fpga")
        rec = _read_json(path)
        m = rec.get("metrics", {})
        pt = _point_of(rel, rec)
        qat = root / "qat" / Path(*rel.parts[:4]) / "metrics.json"
        acc = float("nan")
        if qat.is_file():
            acc = float(_read_json(qat).get("metrics", {}).get("test_accuracy", float("nan")))
        key = (pt["student"], pt["mode"], _num(pt["bits"]), _num(pt["sparsity"]))
        mean, std, n = means.get(key, (float("nan"), float("nan"), 0))
        rows.append({
            "name": f"{pt['student']} {pt['mode']} b{pt['bits']} s{pt['sparsity']} seed{pt['seed']}",
            "accuracy": acc, "accuracy_mean": mean, "accuracy_std": std, "n_seeds": n,
            "luts": _int(m.get("luts")), "ffs": _int(m.get("ffs")),
            "cycles": _int(m.get("latency_cycles")), "da4ml_luts": _int(m.get("da4ml_cost_luts")),
            "exact": m.get("rtl_exact_fraction"), "emulation_exact": m.get("rtl_emulation_exact_fraction"),
            "source": str(path),
        })  # fmt: skip
    return sorted(rows, key=lambda r: (r["luts"] is None, r["luts"] or 0))


def _int(v: Any) -> int | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(v)


def best_within(
    points: Sequence[dict[str, Any]], luts: float, tol: float = MATCH_TOL
) -> dict[str, Any] | None:
    """The most accurate of ``points`` (dicts with ``luts``, ``accuracy``) that uses at most
    ``(1 + tol) * luts`` LUTs: what the anchor buys for our design's LUTs. None if none fits."""
    fit = [p for p in points if p.get("luts") is not None and p["luts"] <= (1 + tol) * luts]
    return max(fit, key=lambda p: p["accuracy"]) if fit else None


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _exact(r: dict[str, Any]) -> str:
    """'emulation / Verilator' exact fractions of an HGQ point or a chip student's record."""
    emu = r.get("emulation_exact_fraction", r.get("emulation_exact"))
    ver = r.get("verilator_exact_fraction", r.get("exact"))
    return f"{_fmt(emu, '.4f')} / {_fmt(ver, '.4f')}"


def side_by_side(
    hgq: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]], tol: float = MATCH_TOL
) -> str:
    """Markdown: all designs sorted by LUTs, then each chip student against the best HGQ
    point within ``+tol`` of its LUTs (accuracy difference in points, ours minus HGQ)."""
    head = (
        "| design | test acc | LUTs (Yosys) | FFs | cycles | da4ml LUT est. | bit-exact (da4ml emulation / Verilator) |\n"
        "|---|---|---|---|---|---|---|"
    )
    lines = [head]
    rows = [("HGQ " + p["name"], p) for p in hgq] + [("ours " + r["name"], r) for r in ours]
    for name, r in sorted(rows, key=lambda t: (t[1].get("luts") is None, t[1].get("luts") or 0)):
        acc = _fmt(r.get("accuracy"), ".4f")
        if r.get("n_seeds", 0) and r.get("n_seeds", 0) > 1:
            acc += (
                f" (mean {r['accuracy_mean']:.4f} +- {r['accuracy_std']:.4f}, {r['n_seeds']} seeds)"
            )
        lines.append(
            f"| {name} | {acc} | {_fmt(r.get('luts'), 'd')} | {_fmt(r.get('ffs'), 'd')} | "
            f"{_fmt(r.get('cycles'), 'd')} | {_fmt(r.get('da4ml_luts'), 'd')} | {_exact(r)} |"
        )
    lines += ["", f"| chip student | LUTs | acc | best HGQ point <= {1 + tol:.2f}x LUTs | its LUTs | its acc | ours - HGQ (pts) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in ours:
        if r.get("luts") is None:
            continue
        b = best_within(hgq, r["luts"], tol)
        diff = (r["accuracy"] - b["accuracy"]) * 100 if b else float("nan")
        lines.append(
            f"| {r['name']} | {r['luts']} | {_fmt(r.get('accuracy'), '.4f')} | "
            f"{b['name'] if b else 'none'} | {_fmt(b['luts'] if b else None, 'd')} | "
            f"{_fmt(b['accuracy'] if b else None, '.4f')} | {_fmt(diff, '+.2f')} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- data
def load_view(results: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 16, 3) float32 and y of one split of the run's c16 view (the students' input)."""
    from jetdistill.data.prepare import load_split

    x, y, _, attrs = load_split(results / "data" / "views" / VIEW / f"{split}.h5")
    log.info("%s/%s: %s, features %s", VIEW, split, x.shape, attrs.get("features"))
    return x, y


# --------------------------------------------------------------------------- model
def build_jedi_linear(
    n_const: int, n_feat: int, n_classes: int, width: int = 64, init_bits: int = 7
) -> Any:
    """JEDI-linear's ``gnn`` (16x3 large model) in HGQ2 with its quantiser settings.

    ``init_bits``: the starting weight bits and activation fractional bits (JEDI-linear: 7).
    Adam moves a bit width by at most about the learning rate per step, so a short training
    cannot shed many bits: a lower start is what lets a few hundred steps reach a small design.
    """
    import keras
    from hgq.config import LayerConfigScope, QuantizerConfig, QuantizerConfigScope
    from hgq.constraints import MinMax
    from hgq.layers import QAdd, QEinsumDenseBatchnorm, QSum
    from hgq.regularizers import MonoL1

    iq = QuantizerConfig(place="datalane", round_mode="RND")
    scopes = (
        QuantizerConfigScope(default_q_type="kbi", b0=init_bits, overflow_mode="wrap", i0=0,
                             fr=MonoL1(1e-8), ir=MonoL1(1e-8)),
        QuantizerConfigScope(default_q_type="kif", place="datalane", overflow_mode="wrap", f0=init_bits,
                             fr=MonoL1(1e-8), ic=MinMax(0, 12)),
        LayerConfigScope(beta0=0, enable_ebops=True),
        QuantizerConfigScope(place=("weight", "bias"), overflow_mode="SAT_SYM"),
    )  # fmt: skip
    pool = 2.0 ** -round(math.log2(n_const))
    per = "bnc,cC->bnC"
    with scopes[0], scopes[1], scopes[2], scopes[3]:
        inp = keras.layers.Input((n_const, n_feat))
        x = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu",
                                  iq_conf=iq)(inp)  # fmt: skip
        s = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu")(x)
        g = QSum(axes=1, scale=pool, keepdims=True)(x)
        d = QEinsumDenseBatchnorm(per, (1, width), bias_axes="C", activation="relu")(g)
        x = QAdd()([s, d])
        x = QEinsumDenseBatchnorm(per, (n_const, width), bias_axes="C", activation="relu")(x)
        x = QSum(axes=1, scale=1 / 16, keepdims=False)(x)
        for w in (width, 32, 16):
            x = QEinsumDenseBatchnorm("bc,cC->bC", w, bias_axes="C", activation="relu")(x)
        out = QEinsumDenseBatchnorm("bc,cC->bC", n_classes, bias_axes="C")(x)
    return keras.Model(inp, out)


def ebops_of(model: Any) -> int:
    from hgq.layers import QLayerBase
    from keras import ops

    return sum(
        int(ops.convert_to_numpy(layer._ebops))
        for layer in model._flatten_layers()
        if isinstance(layer, QLayerBase) and layer.enable_ebops
    )


def _compile_and_fit(
    model: Any, data: dict, *, lr: float, lr_fn: Any, batch: int, epochs: int, beta: Any, keep: Any
) -> tuple[Any, float, float]:
    """Adam on cross-entropy with the learning-rate schedule ``lr_fn``, the ``beta`` schedule
    callback, HGQ's EBOPs bookkeeping (``FreeEBOPs``, before ``keep`` reads the epoch's EBOPs)
    and the checkpoint keeper ``keep``; returns the history, wall and CPU seconds."""
    import keras
    from hgq.utils.sugar import FreeEBOPs

    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x_tr, y_tr = data["transfer"]
    t0, c0 = time.perf_counter(), time.process_time()
    hist = model.fit(
        x_tr, y_tr, batch_size=batch, epochs=epochs, validation_data=data["val"], verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(lr_fn), beta, FreeEBOPs(), keep,
                   keras.callbacks.TerminateOnNaN()],
    )  # fmt: skip
    return hist, time.perf_counter() - t0, time.process_time() - c0


def train_point(model: Any, data: dict, *, beta: float, epochs: int, lr: float, batch: int) -> dict:
    """Fit with the EBOPs penalty; keep the best-val epoch at full beta (see module doc)."""
    import keras
    from hgq.utils.sugar import BetaScheduler, PieceWiseSchedule

    ramp = max(1, epochs // 2)
    sched = PieceWiseSchedule([(0, beta / 100, "log"), (ramp, beta, "constant")])

    class KeepBest(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.epoch, self.weights = -1.0, -1, None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            log.info("epoch %d: beta %.2e loss %.3f acc %.4f val_acc %.4f ebops %d", epoch,
                     logs.get("beta", 0), logs.get("loss", 0), logs.get("accuracy", 0),
                     logs.get("val_accuracy", 0), logs.get("ebops", 0))  # fmt: skip
            if epoch >= ramp - 1 and logs.get("val_accuracy", -1) > self.best:
                self.best, self.epoch = float(logs["val_accuracy"]), epoch
                self.weights = [w.copy() for w in self.model.get_weights()]

    keep = KeepBest()
    lr_fn = lambda e: 0.5 * lr * (1 + math.cos(math.pi * e / epochs))
    hist, wall, cpu = _compile_and_fit(model, data, lr=lr, lr_fn=lr_fn, batch=batch,
                                       epochs=epochs, beta=BetaScheduler(sched), keep=keep)  # fmt: skip
    if keep.weights is not None:
        model.set_weights(keep.weights)
    return {"best_epoch": keep.epoch, "best_val_accuracy": keep.best, "train_wall_s": wall,
            "train_cpu_s": cpu, "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}  # fmt: skip


def pareto_front(checkpoints: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checkpoints no other beats on both val accuracy (higher) and EBOPs (lower), as
    JEDI-linear's ``ParetoFront`` callback keeps them; sorted by EBOPs."""
    front = [
        c for c in checkpoints
        if not any(o["val_accuracy"] >= c["val_accuracy"] and o["ebops"] <= c["ebops"]
                   and (o["val_accuracy"], o["ebops"]) != (c["val_accuracy"], c["ebops"])
                   for o in checkpoints)
    ]  # fmt: skip
    return sorted(front, key=lambda c: c["ebops"])


def pick_budgets(front: Sequence[dict[str, Any]], budgets: Sequence[float]) -> list[dict[str, Any]]:
    """For each EBOPs budget the best-val checkpoint of ``front`` within it (each once); a
    budget below every checkpoint gets the cheapest one, what the run reached."""
    out: list[dict[str, Any]] = []
    for b in sorted(budgets):
        fit = [c for c in front if c["ebops"] <= b] or sorted(front, key=lambda c: c["ebops"])[:1]
        if fit:
            c = max(fit, key=lambda c: c["val_accuracy"])
            if all(c["epoch"] != o["epoch"] for o in out):
                out.append(c)
    return out


def train_ramp(
    model: Any, data: dict, *, beta_lo: float, beta_hi: float, epochs: int, warmup: int,
    lr: float, batch: int, restart: int, budget_s: float = 0.0,
) -> tuple[dict, list[dict[str, Any]]]:  # fmt: skip
    """JEDI-linear's own recipe, shortened: ONE run whose beta rises log-linearly from
    ``beta_lo`` (held for ``warmup`` epochs) to ``beta_hi`` at the last epoch, a cosine
    learning rate restarted every ``restart`` epochs, and every epoch's (val accuracy, EBOPs,
    weights) kept, of which the Pareto front is returned. One training gives the whole
    accuracy-cost frontier, which is what makes the anchor affordable on a CPU. ``budget_s``
    (> 0): stop after the epoch that passes this many seconds of wall time (a shared machine)."""
    import keras
    from hgq.utils.sugar import BetaScheduler, PieceWiseSchedule

    sched = PieceWiseSchedule(
        [(0, beta_lo, "constant"), (warmup, beta_lo, "log"), (max(warmup + 1, epochs - 1), beta_hi, "constant")]
    )  # fmt: skip
    ckpts: list[dict[str, Any]] = []

    class Keep(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            log.info("epoch %d: beta %.2e lr %.2e loss %.3f acc %.4f val_acc %.4f ebops %d (%.0f s wall, %.0f s cpu)",
                     epoch, logs.get("beta", 0), logs.get("learning_rate", 0), logs.get("loss", 0),
                     logs.get("accuracy", 0), logs.get("val_accuracy", 0), logs.get("ebops", 0),
                     time.perf_counter() - self.t0, time.process_time() - self.c0)  # fmt: skip
            ckpts.append({"epoch": epoch, "val_accuracy": float(logs.get("val_accuracy", 0)),
                          "ebops": float(logs.get("ebops", 0)), "beta": float(logs.get("beta", 0)),
                          "weights": [w.copy() for w in self.model.get_weights()]})  # fmt: skip
            if budget_s > 0 and time.perf_counter() - self.t0 > budget_s:
                log.warning("wall budget of %.0f s spent: stopping after epoch %d", budget_s, epoch)
                self.model.stop_training = True

    lr_fn = lambda e: 1e-6 + 0.5 * (lr - 1e-6) * (1 + math.cos(math.pi * (e % restart) / restart))
    hist, wall, cpu = _compile_and_fit(model, data, lr=lr, lr_fn=lr_fn, batch=batch,
                                       epochs=epochs, beta=BetaScheduler(sched), keep=Keep())  # fmt: skip
    fit = {"train_wall_s": wall, "train_cpu_s": cpu, "epochs": epochs, "epochs_run": len(ckpts),
           "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}  # fmt: skip
    return fit, pareto_front(ckpts)


# --------------------------------------------------------------------------- hardware
def convert(
    model: Any, x_calib: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, prj_dir: Path,
    *, verilator_samples: int, yosys: bool,
) -> dict[str, Any]:  # fmt: skip
    """trace_minmax, da4ml trace + emulation check, Verilog, Verilator check, Yosys counts."""
    from da4ml.codegen import VerilogModel
    from da4ml.converter import trace_model
    from da4ml.trace import HWConfig, comb_trace
    from hgq.utils import trace_minmax

    from jetdistill.fpga import eda

    out: dict[str, Any] = {}
    partial = prj_dir.parent / "hw.json"  # what is measured so far survives a killed run

    def cpu_s() -> float:  # this process and its finished children (Verilator, g++, Yosys)
        own, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    c0 = c_stage = cpu_s()

    def save(stage: str) -> None:
        nonlocal c_stage
        now = cpu_s()
        out[f"{stage}_cpu_s"], out["convert_cpu_s"] = round(now - c_stage, 1), round(now - c0, 1)
        c_stage = now
        partial.write_text(json.dumps(out, indent=1))

    t0 = time.perf_counter()
    out["ebops_traced"] = int(trace_minmax(model, x_calib, batch_size=4096))
    y_keras = np.asarray(model.predict(x_test, batch_size=4096, verbose=0), dtype=np.float64)
    out["test_accuracy"] = float(np.mean(np.argmax(y_keras, 1) == y_test))
    inp, o = trace_model(model, hwconf=HWConfig(1, -1, -1))
    comb = comb_trace(inp, o)
    out["rtl_trace_s"] = round(time.perf_counter() - t0, 1)
    n = len(x_test)
    y_emu = np.asarray(comb.predict(x_test.reshape(n, -1), n_threads=1), dtype=np.float64)
    y_emu = y_emu.reshape(y_keras.shape)
    out["emulation_exact_fraction"] = float(np.mean(np.all(y_emu == y_keras, axis=1)))
    out["emulation_accuracy"] = float(np.mean(np.argmax(y_emu, 1) == y_test))
    out["da4ml_luts"] = round(float(comb.cost))
    t0 = time.perf_counter()
    shutil.rmtree(prj_dir, ignore_errors=True)
    vm = VerilogModel(comb, eda.PROJECT, prj_dir, latency_cutoff=LATENCY_CUTOFF,
                      clock_period=CLOCK_PERIOD_NS, part_name="xcvu13p-flga2577-2-e")  # fmt: skip
    vm.write()
    n_stages = len(vm._pipe.solutions) if vm._pipe is not None else 0
    out.update(cycles=n_stages + 1 if n_stages else 0, rtl_stages=n_stages,
               latency_ns=(n_stages + 1) * CLOCK_PERIOD_NS if n_stages else 0.0,
               da4ml_reg_bits=int(vm._pipe.reg_bits) if vm._pipe is not None else 0)  # fmt: skip
    out["rtl_codegen_s"] = round(time.perf_counter() - t0, 1)
    save("trace_emulation_codegen")
    if verilator_samples > 0:
        t0 = time.perf_counter()
        eda.build_verilator_sim(vm, prj_dir, jobs=1)
        k = min(verilator_samples, n)
        y_rtl = np.asarray(vm.predict(x_test[:k].reshape(k, -1), n_threads=1), dtype=np.float64)
        out["verilator_exact_fraction"] = float(
            np.mean(np.all(y_rtl.reshape(k, -1) == y_keras[:k], axis=1))
        )
        out["verilator_samples"] = k
        out["rtl_verilator_s"] = round(time.perf_counter() - t0, 1)
        save("verilator")
    if yosys:
        res = eda.run_yosys(prj_dir, n_stages)
        res.pop("cells")
        out.update(luts=res["luts"], ffs=res["ffs"], dsps=res["dsps"], carry=res["carry"],
                   rtl_yosys_s=res["yosys_s"])  # fmt: skip
        save("yosys")
    return out


# --------------------------------------------------------------------------- main
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("hgq2", "keras", "da4ml", "torch", "numpy"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "absent"
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"),
                    help="a results folder with data/views/c16 (and, for the side-by-side, fpga/ and qat/)")  # fmt: skip
    ap.add_argument("--ours", type=Path, default=None,
                    help="results folder of the chip students to compare (default: --results)")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--betas", type=float, nargs="+", default=[3e-7, 1e-6, 3e-6],
                    help="EBOPs penalty weights, one design each")  # fmt: skip
    ap.add_argument("--ramp", action="store_true",
                    help="JEDI-linear's recipe: one run, beta rising from --betas[0] to --betas[-1], "
                         "Pareto checkpoints; one design per --ebops-budgets value")  # fmt: skip
    ap.add_argument("--warmup", type=int, default=5, help="--ramp: epochs at --betas[0]")
    ap.add_argument("--restart", type=int, default=10, help="--ramp: cosine lr restart period (epochs)")  # fmt: skip
    ap.add_argument("--train-budget-s", type=float, default=0.0,
                    help="--ramp: stop training after this much wall time (0: no limit)")  # fmt: skip
    ap.add_argument("--ebops-budgets", type=float, nargs="+", default=[30e3, 60e3, 100e3],
                    help="--ramp: convert the best-val Pareto checkpoint within each EBOPs budget")  # fmt: skip
    ap.add_argument("--width", type=int, default=64, help="JEDI-linear's 16x3 model: 64")
    ap.add_argument("--init-bits", type=int, default=7, help="JEDI-linear: 7")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--verilator-samples", type=int, default=200, help="0: skip Verilator")
    ap.add_argument("--no-yosys", action="store_true")
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N transfer jets (smoke runs)")  # fmt: skip
    ap.add_argument(
        "--work", type=Path, default=Path("benchmarks/out/hgq"), help="Verilog projects"
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--models", type=Path, nargs="+", default=None,
        help="no training: convert these saved .keras models (e.g. a --ramp run's pareto/epochN.keras)",
    )  # fmt: skip
    ap.add_argument(
        "--points", type=Path, nargs="+", default=None,
        help="no training: the HGQ points of earlier --json files, printed beside --ours",
    )  # fmt: skip
    return ap.parse_args(argv)


def run_ramp(
    args: argparse.Namespace, data: dict, n_const: int, n_feat: int, n_classes: int
) -> list:
    """--ramp: one training, then one design per EBOPs budget from its Pareto front."""
    import keras

    keras.utils.set_random_seed(args.seed)
    model = build_jedi_linear(n_const, n_feat, n_classes, args.width, args.init_bits)
    lo, hi = args.betas[0], args.betas[-1]
    tag = f"w{args.width}_b{args.init_bits}_ramp{lo:g}-{hi:g}_e{args.epochs}_seed{args.seed}"
    work = args.work / tag
    (work / "pareto").mkdir(parents=True, exist_ok=True)
    fit, front = train_ramp(model, data, beta_lo=lo, beta_hi=hi, epochs=args.epochs,
                            warmup=args.warmup, lr=args.lr, batch=args.batch, restart=args.restart,
                            budget_s=args.train_budget_s)  # fmt: skip
    fit["pareto"] = [{k: v for k, v in c.items() if k != "weights"} for c in front]
    (work / "fit.json").write_text(json.dumps(fit))
    for c in front:  # every front checkpoint, to convert later with --models
        model.set_weights(c["weights"])
        model.save(work / "pareto" / f"epoch{c['epoch']}.keras")
    log.info("Pareto front (epoch, val acc, EBOPs): %s",
             [(c["epoch"], round(c["val_accuracy"], 4), round(c["ebops"])) for c in front])  # fmt: skip
    points = []
    for c in pick_budgets(front, args.ebops_budgets):
        model.set_weights(c["weights"])
        name = f"jedi-linear w{args.width} ramp beta {lo:g}-{hi:g} e{c['epoch']} seed{args.seed}"
        sub = work / f"epoch{c['epoch']}"
        sub.mkdir(parents=True, exist_ok=True)
        model.save(sub / "model.keras")
        hw = convert(model, data["transfer"][0], *data["test"], sub / "rtl",
                     verilator_samples=args.verilator_samples, yosys=not args.no_yosys)  # fmt: skip
        p = {"name": name, "beta": c["beta"], "epoch": c["epoch"], "best_val_accuracy": c["val_accuracy"],
             "ebops_trained": c["ebops"], "accuracy": hw["test_accuracy"],
             "train_wall_s": fit["train_wall_s"], "train_cpu_s": fit["train_cpu_s"], **hw}  # fmt: skip
        log.info("%s: test acc %.4f, %s LUTs, %s FFs, %s cycles (emulation exact %.4f)", name,
                 p["accuracy"], p.get("luts"), p.get("ffs"), p["cycles"], p["emulation_exact_fraction"])  # fmt: skip
        points.append(p)
        if args.json:  # each design as soon as it is measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "versions": _versions(), "hgq": points}, indent=1))  # fmt: skip
    return points


def convert_saved(args: argparse.Namespace, data: dict) -> list:
    """--models: the hardware flow for saved models (each into ``<model>.rtl/``)."""
    import hgq  # noqa: F401  (registers HGQ2's layers with Keras' deserialiser)
    import keras

    points = []
    for path in args.models:
        model = keras.models.load_model(path)
        name = f"{path.parent.parent.name} {path.stem}"
        hw = convert(model, data["transfer"][0], *data["test"], path.with_suffix(".rtl") / "rtl",
                     verilator_samples=args.verilator_samples, yosys=not args.no_yosys)  # fmt: skip
        points.append({"name": name, "model": str(path), "accuracy": hw["test_accuracy"], **hw})
        log.info("%s: test acc %.4f, %s LUTs, %s FFs, %s cycles", name, hw["test_accuracy"],
                 hw.get("luts"), hw.get("ffs"), hw["cycles"])  # fmt: skip
    return points


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.points:
        points = [p for f in args.points for p in json.loads(f.read_text())["hgq"]]
        print(side_by_side(points, chip_students(args.ours or args.results)))
        return
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    torch.set_num_threads(args.threads)
    import keras

    if keras.backend.backend() != "torch":
        log.warning("Keras backend is %s, not torch", keras.backend.backend())
    data = {s: load_view(args.results, s) for s in ("transfer", "val", "test")}
    if args.train_limit:
        # a seeded random subset: the split is stored sorted by class
        keep = np.random.default_rng(args.seed).permutation(len(data["transfer"][1]))[
            : args.train_limit
        ]
        data["transfer"] = tuple(a[np.sort(keep)] for a in data["transfer"])
    n_classes = int(max(int(y.max()) for _, y in data.values()) + 1)
    _, n_const, n_feat = data["transfer"][0].shape
    points = []
    if args.models:
        points = convert_saved(args, data)
    elif args.ramp:
        points = run_ramp(args, data, n_const, n_feat, n_classes)
    for beta in [] if args.ramp or args.models else args.betas:
        keras.utils.set_random_seed(args.seed)
        model = build_jedi_linear(n_const, n_feat, n_classes, args.width, args.init_bits)
        name = f"jedi-linear w{args.width} beta={beta:g} seed{args.seed}"
        log.info(
            "%s: %d parameters (count_params: weights, BN, bit widths)", name, model.count_params()
        )
        work = args.work / f"w{args.width}_b{args.init_bits}_beta{beta:g}_seed{args.seed}"
        work.mkdir(parents=True, exist_ok=True)
        fit = train_point(model, data, beta=beta, epochs=args.epochs, lr=args.lr, batch=args.batch)
        fit["ebops_trained"] = ebops_of(model)
        model.save(work / "model.keras")  # the trained point, to convert again by hand
        (work / "fit.json").write_text(json.dumps(fit))
        hw = convert(model, data["transfer"][0], *data["test"], work / "rtl",
                     verilator_samples=args.verilator_samples, yosys=not args.no_yosys)  # fmt: skip
        p = {"name": name, "beta": beta, "accuracy": hw["test_accuracy"], **fit, **hw}
        log.info("%s: test acc %.4f, %s LUTs, %s FFs, %s cycles (emulation exact %.4f)", name,
                 p["accuracy"], p.get("luts"), p.get("ffs"), p["cycles"], p["emulation_exact_fraction"])  # fmt: skip
        points.append(p)
    ours = chip_students(args.ours or args.results)
    table = side_by_side(points, ours)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "versions": _versions(),
             "hgq": points, "ours": ours, "table": table}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
