"""Per-weight bit widths two ways: HGQ2 (Keras 3 on PyTorch) against pquant-ml 0.1.0 (PyTorch).

The project needs one library for per-weight-precision (HGQ) students. Both candidates
implement the same method (Sun et al., HGQ: a learnable fractional-bit width per weight and per
activation element, an EBOPs cost ``beta * EBOPs`` in the loss); HGQ2 is the reference
implementation on Keras 3, pquant-ml ships a pure-PyTorch port
(``pquant/core/torch/hgq_quantizer.py``). This trains the same student both ways and says
what each costs and whether each reaches a bit-exact circuit:

* data: a generated 5-class toy "jet" set (16 constituents x (log pT fraction, eta, phi),
  classes differing in pT fall-off, angular width and prong count; standardised with the
  training split's statistics; seeded), flattened to 48 inputs;
* model: the 48-32-32-5 MLP (ReLU), every weight, bias and layer input with its own bit width,
  starting at ``--init-bits`` fractional bits; the same seed, epochs, batch size, Adam
  learning rate, EBOPs weight ``--beta`` and bit-width L1 ``--gamma`` for both;
  the quantiser settings are each library's closest: HGQ2 as ``jetdistill.compress.peer.build_hgq_jedi_linear``
  (weights ``kbi`` SAT_SYM, activations ``kif`` WRAP whose integer bits ``trace_minmax``
  fixes); pquant with SAT activations (its WRAP mode takes its integer bits from the last
  training batch and has no calibration step, so SAT is its safe choice);
* each library runs in a child process of its own, so import cost and peak RSS are its own;
* measured: val/test accuracy after the last epoch, EBOPs (each library's own count; both
  sum, over dense layers, input bits x weight bits plus bias bits), wall and CPU seconds per
  epoch (training + validation), peak RSS, and the conversion to a circuit:

  - HGQ2: :func:`jetdistill.fpga.hgq_rtl.trace_design` (``trace_minmax`` + da4ml 0.6's
    ``trace_model``) and da4ml's integer emulation compared bit for bit with Keras on the
    test jets (:func:`~jetdistill.fpga.hgq_rtl.check_emulation`); with alkaid, also
    through alkaid (hgq2's own ``alkaid_keras`` plugin), so that both libraries' LUT
    estimates come from the same tool;
  - pquant: da4ml 0.6 has no tracer for a torch model (its ``dais_tracer.plugins`` are
    ``keras`` and ``da4ml`` only: this is tried, and its error reported). pquant registers an
    ``alkaid_torch`` plugin for **alkaid**, da4ml's successor, which is not in the project's
    venv: if ``alkaid`` imports (``--alkaid-path``), the model is traced with it and its
    emulation compared bit for bit with pquant's forward pass. Also tried: pquant's own QONNX
    export (``convert_to_onnx(use_qonnx=True)``, the hls4ml route) traced by the project's
    QONNX tracer (:func:`jetdistill.fpga.rtl.trace_qonnx`); QONNX ``Quant`` is per tensor, so
    the exporter widens per-element activation formats and exactness is measured, not assumed.

Run from the repository root with the project's venv (HGQ2, Keras, pquant-ml installed);
alkaid is optional and is best kept out of the venv::

    .venv/bin/python -m pip install --no-deps --target /tmp/alkaid-site alkaid==0.8.2
    KERAS_BACKEND=torch PYTHONPATH=$PWD/src nice -n 10 .venv/bin/python \\
        benchmarks/bench_per_weight.py --alkaid-path /tmp/alkaid-site --json benchmarks/out/per_weight.json

Defaults (16k training jets, 8 epochs, one thread) take about a minute and a half per library
on one busy core. This file does not import ``jetdistill.jobs``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench_per_weight")
N_CONST, N_FEAT, N_CLASSES, HIDDEN = 16, 3, 5, (32, 32)
LIBRARIES = ("hgq2", "pquant")


# --------------------------------------------------------------------------- data
def make_jets(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` toy jets (n, 16, 3) float32 and labels 0..4: pT fall-off with rank, angular width
    and prong count depend on the class, with enough noise that classes overlap."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    tau = np.array([1.5, 2.5, 3.5, 5.0, 8.0])[y]
    width = np.array([0.05, 0.10, 0.15, 0.10, 0.20])[y]
    prongs = np.array([1, 1, 2, 3, 2])[y]
    rank = np.arange(N_CONST)
    pt = np.exp(-rank[None] / tau[:, None]) * rng.lognormal(0.0, 0.6, (n, N_CONST))
    pt = -np.sort(-pt / pt.sum(1, keepdims=True), axis=1)
    centres = rng.normal(0.0, 0.2, (n, 3, 2))
    centres[:, 0] = 0.0
    which = rng.integers(0, 3, (n, N_CONST)) % prongs[:, None]
    ang = (
        centres[np.arange(n)[:, None], which]
        + rng.normal(0, 1, (n, N_CONST, 2)) * width[:, None, None]
    )
    x = np.concatenate([np.log(pt)[..., None], ang], axis=-1)
    return x.astype(np.float32), y.astype(np.int64)


def make_data(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train/val/test, flattened to 48 features and standardised with the train statistics."""
    n = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    raw = {s: make_jets(k, args.seed * 1000 + i) for i, (s, k) in enumerate(n.items())}
    flat = {s: (x.reshape(len(x), -1), y) for s, (x, y) in raw.items()}
    mu, sd = flat["train"][0].mean(0), flat["train"][0].std(0) + 1e-6
    return {s: (((x - mu) / sd).astype(np.float32), y) for s, (x, y) in flat.items()}


# --------------------------------------------------------------------------- measurement
class Clock:
    """Wall and CPU seconds of each epoch (training + validation)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._t = self._c = 0.0

    def start(self) -> None:
        self._t, self._c = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall.append(time.perf_counter() - self._t)
        self.cpu.append(time.process_time() - self._c)

    def summary(self) -> dict[str, float]:
        return {"epoch_wall_s": float(np.median(self.wall)), "epoch_cpu_s": float(np.median(self.cpu)),
                "train_wall_s": float(sum(self.wall)), "train_cpu_s": float(sum(self.cpu))}  # fmt: skip


def _err(e: BaseException) -> str:
    """The error's type, first line and innermost frame (which library refused)."""
    import traceback

    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {'/'.join(Path(tb[-1].filename).parts[-3:])}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}{at}"


# --------------------------------------------------------------------------- HGQ2
def run_hgq2(args: argparse.Namespace, data: dict) -> dict[str, Any]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from hgq.config import LayerConfigScope, QuantizerConfig, QuantizerConfigScope
    from hgq.constraints import MinMax
    from hgq.layers import QDense
    from hgq.regularizers import MonoL1
    from hgq.utils.sugar import FreeEBOPs

    from jetdistill.fpga import hgq_rtl

    keras.utils.set_random_seed(args.seed)
    b, g = args.init_bits, args.gamma
    iq = QuantizerConfig(place="datalane", round_mode="RND")
    with (
        QuantizerConfigScope(default_q_type="kbi", b0=b, overflow_mode="wrap", i0=0, fr=MonoL1(g), ir=MonoL1(g)),
        QuantizerConfigScope(default_q_type="kif", place="datalane", overflow_mode="wrap", f0=b,
                             fr=MonoL1(g), ic=MinMax(0, 12)),
        LayerConfigScope(beta0=args.beta, enable_ebops=True),
        QuantizerConfigScope(place=("weight", "bias"), overflow_mode="SAT_SYM"),
    ):  # fmt: skip
        inp = keras.layers.Input((N_CONST * N_FEAT,))
        h = QDense(HIDDEN[0], activation="relu", iq_conf=iq)(inp)
        h = QDense(HIDDEN[1], activation="relu")(h)
        model = keras.Model(inp, QDense(N_CLASSES)(h))
    model.compile(optimizer=keras.optimizers.Adam(args.lr), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    clock = Clock()

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            clock.start()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            clock.stop()
            logs = logs or {}
            log.info("hgq2 epoch %d: loss %.3f val_acc %.4f ebops %d (%.1f s)", epoch,
                     logs.get("loss", 0), logs.get("val_accuracy", 0), logs.get("ebops", 0), clock.wall[-1])  # fmt: skip

    # FreeEBOPs before Timer: the epoch's EBOPs are in the logs Timer prints
    model.fit(*data["train"], batch_size=args.batch, epochs=args.epochs, validation_data=data["val"],
              verbose=0, callbacks=[FreeEBOPs(), Timer()])  # fmt: skip
    acc = {
        s: float(model.evaluate(*data[s], batch_size=4096, verbose=0)[1]) for s in ("val", "test")
    }
    ebops = sum(int(keras.ops.convert_to_numpy(layer._ebops)) for layer in model._flatten_layers()
                if hasattr(layer, "_ebops") and getattr(layer, "enable_ebops", False))  # fmt: skip
    out: dict[str, Any] = {"val_accuracy": acc["val"], "test_accuracy": acc["test"], "ebops": ebops,
                           **clock.summary()}  # fmt: skip
    conv: dict[str, Any] = {"path": "da4ml 0.6 trace_model (hgq2 plugin)"}
    try:
        comb, tr = hgq_rtl.trace_design(model, data["train"][0])
        em = hgq_rtl.check_emulation(model, comb, *data["test"], strict=False)
        conv.update(exact_fraction=em["rtl_emulation_exact_fraction"], luts_est=tr["da4ml_cost_luts"],
                    ebops_traced=tr["ebops_traced"], accuracy=em["rtl_emulation_accuracy"])  # fmt: skip
    except Exception as e:  # noqa: BLE001  (what fails is the measurement: it goes in the table)
        conv["error"] = _err(e)
    out["conversions"] = [conv, _hgq2_alkaid(model, *data["test"])]
    return out


def _hgq2_alkaid(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The HGQ2 model through alkaid too (hgq2's own ``alkaid_keras`` plugin), after
    ``trace_minmax``: the same tool as pquant's path, so the LUT estimates compare."""
    conv: dict[str, Any] = {"path": "alkaid trace_model (hgq2's alkaid_keras plugin)"}
    try:
        import alkaid
        from alkaid.converter import trace_model
        from alkaid.trace import HWConfig, trace

        conv["path"] = f"alkaid {alkaid.__version__} trace_model (hgq2's alkaid_keras plugin)"
        comb = trace(*trace_model(model, hwconf=HWConfig(1, -1, -1)))
        ref = np.asarray(model.predict(x, batch_size=4096, verbose=0), dtype=np.float64)
        emu = np.asarray(comb.predict(x), dtype=np.float64).reshape(ref.shape)
        conv.update(exact_fraction=float(np.mean(np.all(emu == ref, axis=1))), luts_est=float(comb.cost),
                    accuracy=float(np.mean(emu.argmax(1) == y)))  # fmt: skip
    except Exception as e:  # noqa: BLE001  (what fails is the measurement)
        conv["error"] = _err(e)
    return conv


# --------------------------------------------------------------------------- pquant
def run_pquant(args: argparse.Namespace, data: dict) -> dict[str, Any]:
    os.environ["KERAS_BACKEND"] = "torch"  # pquant picks its backend from it at import
    import torch
    from pquant.core.hyperparameter_optimization import PQConfig
    from pquant.core.torch.layers import (
        PQDense,
        apply_final_compression,
        get_ebops,
        get_model_losses,
        post_epoch_functions,
        post_pretrain_functions,
    )  # fmt: skip

    torch.manual_seed(args.seed)
    cfg = PQConfig.load_from_config({
        "pruning_parameters": {"pruning_method": "cs", "enable_pruning": False},
        "quantization_parameters": {
            "use_high_granularity_quantization": True, "granularity": "per_weight",
            "default_weight_fractional_bits": args.init_bits, "default_data_fractional_bits": args.init_bits,
            "default_data_integer_bits": 3, "hgq_beta": args.beta, "hgq_gamma": args.gamma,
            "overflow_mode_parameters": "SAT_SYM", "overflow_mode_data": "SAT", "round_mode": "RND"},
        "training_parameters": {"epochs": args.epochs, "pretraining_epochs": 0},
    })  # fmt: skip
    model = torch.nn.Sequential(
        PQDense(cfg, N_CONST * N_FEAT, HIDDEN[0], in_quant_bits=(1, 3, args.init_bits)),
        torch.nn.ReLU(), PQDense(cfg, HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
        PQDense(cfg, HIDDEN[1], N_CLASSES),
    )  # fmt: skip
    xt = {s: torch.from_numpy(x) for s, (x, _) in data.items()}
    yt = {s: torch.from_numpy(y) for s, (_, y) in data.items()}
    model(xt["train"][:2])  # builds the quantisers: the optimiser must see their shaped bits
    post_pretrain_functions(model, cfg)  # no pre-training: the EBOPs/bit losses are on now
    opt = torch.optim.Adam(model.parameters(), args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    clock = Clock()

    def accuracy(s: str) -> float:
        model.eval()
        with torch.no_grad():
            return float((model(xt[s]).argmax(1) == yt[s]).float().mean())

    for epoch in range(args.epochs):
        clock.start()
        model.train()
        perm = torch.randperm(len(yt["train"]), generator=gen)
        for i in range(0, len(perm), args.batch):
            idx = perm[i : i + args.batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt["train"][idx]), yt["train"][idx])
            loss = get_model_losses(model, loss)
            loss.backward()
            opt.step()
        post_epoch_functions(model, epoch, args.epochs)
        val = accuracy("val")
        clock.stop()
        with torch.no_grad():
            log.info("pquant epoch %d: loss %.3f val_acc %.4f ebops %d (%.1f s)", epoch,
                     float(loss), val, float(get_ebops(model)), clock.wall[-1])  # fmt: skip
    apply_final_compression(model)  # weights onto their grids, as every export requires
    model.eval()
    with torch.no_grad():
        ebops = int(float(get_ebops(model)))
    out: dict[str, Any] = {"val_accuracy": accuracy("val"), "test_accuracy": accuracy("test"),
                           "ebops": ebops, **clock.summary()}  # fmt: skip
    with torch.no_grad():
        ref = model(xt["test"]).double().numpy()
        xq = model[0].input_quantizer(xt["test"]).double().numpy()  # the circuit's input words
    out["conversions"] = [_pquant_da4ml(model), _pquant_alkaid(model, xq, ref, data["test"][1]),
                          _pquant_qonnx(model, data["test"][0], ref, data["test"][1])]  # fmt: skip
    return out


def _pquant_da4ml(model: Any) -> dict[str, Any]:
    conv: dict[str, Any] = {"path": "da4ml 0.6 trace_model"}
    try:
        from da4ml.converter import trace_model

        trace_model(model)
        conv["error"] = "traced?! (unexpected: no torch plugin was known)"
    except Exception as e:  # noqa: BLE001  (what fails is the measurement)
        conv["error"] = _err(e)
    return conv


def _pquant_alkaid(model: Any, xq: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    conv: dict[str, Any] = {"path": "alkaid trace_model (pquant's alkaid_torch plugin)"}
    try:
        import alkaid
        from alkaid.converter import trace_model
        from alkaid.trace import FVArray, HWConfig, trace

        conv["path"] = f"alkaid {alkaid.__version__} trace_model (pquant's alkaid_torch plugin)"
        k, i, f = (np.broadcast_to(v.detach().numpy(), (1, xq.shape[1])).astype(np.int64)
                   for v in model[0].input_quantizer.get_quantization_bits())  # fmt: skip
        inp = FVArray.from_kif(k, i, f, HWConfig(1, -1, -1))
        t0 = time.perf_counter()
        fi, fo = trace_model(model, hwconf=HWConfig(1, -1, -1), inputs=inp, framework="torch")
        comb = trace(fi, fo)
        emu = np.asarray(comb.predict(xq), dtype=np.float64).reshape(ref.shape)
        conv.update(exact_fraction=float(np.mean(np.all(emu == ref, axis=1))), luts_est=float(comb.cost),
                    accuracy=float(np.mean(emu.argmax(1) == y)), trace_s=time.perf_counter() - t0)  # fmt: skip
    except Exception as e:  # noqa: BLE001  (what fails is the measurement)
        conv["error"] = _err(e)
    return conv


def _pquant_qonnx(model: Any, x: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    conv: dict[str, Any] = {"path": "pquant convert_to_onnx(use_qonnx) -> jetdistill trace_qonnx"}
    try:
        from pquant.core.torch.convert_to_onnx import convert_to_onnx
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.util.cleanup import cleanup_model

        from jetdistill.fpga.rtl import quantize_inputs, trace_qonnx

        with tempfile.TemporaryDirectory() as tmp:
            convert_to_onnx(model, (x.shape[1],), f"{tmp}/m.onnx", use_qonnx=True)
            mw = cleanup_model(
                cleanup_model(ModelWrapper(f"{tmp}/m.onnx")).transform(GemmToMatMul())
            )
        comb = trace_qonnx(mw, model_name="pquant 48-32-32-5")
        emu = np.asarray(comb.predict(quantize_inputs(mw, x)), dtype=np.float64).reshape(ref.shape)
        conv.update(exact_fraction=float(np.mean(np.all(emu == ref, axis=1))), luts_est=float(comb.cost),
                    accuracy=float(np.mean(emu.argmax(1) == y)))  # fmt: skip
    except Exception as e:  # noqa: BLE001  (what fails is the measurement)
        conv["error"] = _err(e)
    return conv


# --------------------------------------------------------------------------- driver
def child(args: argparse.Namespace) -> None:
    """One library in this process; its record (with peak RSS) to ``--out``."""
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = make_data(args)
    rec = (run_hgq2 if args.only == "hgq2" else run_pquant)(args, data)
    rec.update(library=args.only, total_wall_s=time.perf_counter() - t0,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # fmt: skip
    Path(args.out).write_text(json.dumps(rec, indent=1))


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table(recs: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per library, then one row per conversion path tried."""
    lines = ["| library | val acc | test acc | EBOPs | wall s/epoch | CPU s/epoch | peak RSS MB | total wall s |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in recs:
        lines.append(f"| {r['library']} | {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['ebops']} | "
                     f"{r['epoch_wall_s']:.2f} | {r['epoch_cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['total_wall_s']:.0f} |")  # fmt: skip
    lines += ["", "| library | conversion path | bit-exact fraction (test jets) | LUT estimate | circuit acc | error |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in recs:
        for c in r["conversions"]:
            lines.append(f"| {r['library']} | {c['path']} | {_fmt(c.get('exact_fraction'), '.4f')} | "
                         f"{_fmt(c.get('luts_est'), '.0f')} | {_fmt(c.get('accuracy'), '.4f')} | {c.get('error', '')} |")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="See the module docstring (benchmarks/bench_per_weight.py) for the setup.")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--n-val", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--beta", type=float, default=3e-6, help="EBOPs weight in the loss (both)")
    ap.add_argument("--gamma", type=float, default=1e-8, help="L1 weight on bit widths (both)")
    ap.add_argument("--init-bits", type=int, default=6, help="starting fractional bits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per library run")
    ap.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    ap.add_argument("--alkaid-path", type=Path, default=None,
                    help="a --target folder with alkaid installed (pquant's bit-exact export); optional")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="also write the records here")
    ap.add_argument("--only", choices=LIBRARIES, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.alkaid_path:
        sys.path.insert(0, str(args.alkaid_path.resolve()))
    if args.only:
        child(args)
        return
    env = dict(os.environ, KERAS_BACKEND="torch")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    recs = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib in args.libraries:
            out = Path(tmp) / f"{lib}.json"
            cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                   "--only", lib, "--out", str(out)]  # fmt: skip
            log.info("running %s", lib)
            subprocess.run(cmd, env=env, check=True)
            recs.append(json.loads(out.read_text()))
    print(table(recs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "records": recs}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
