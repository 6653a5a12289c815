"""Issue 20's chip target: screen small chip students for accuracy per LUT, then check finalists.

Every point is trained and measured by the workflow's own jobs, called with a plain
:class:`jetdistill.jobs.context.JobContext` (as Snakemake would, with the config's settings
from :mod:`jetdistill.plan`), on a finished default run's views and soft targets:

1. its float students (rule ``distill_student`` with ``compression.kd``'s loss, and rule
   ``train_student_solo``), unless the run already has them for the same spec;
2. rule ``train_qat``: the Brevitas twin fine-tuned from the float student of its mode,
   pruned to the sparsity, KD loss in mode kd, at ``bits`` (weights and activations) and
   ``input_bits``;
3. screening: da4ml's own LUT estimate and latency of the twin (the RTL tracer, da4ml's
   integer emulation checked bit for bit against Brevitas on ``--screen-samples`` test jets;
   no Verilator, no Yosys): seconds per point;
4. ``--full`` (finalists only): rule ``estimate_rtl`` (Verilator bit-exact + Yosys
   ``synth_xilinx``) and, for types hls4ml converts, rule ``convert_hls`` (C simulation
   bit-exact), both with the config's ``fpga`` settings.

A point is ``MODEL:BITS:INPUT_BITS:SPARSITY[:COST]`` (COST: ``compression.cost_penalties``' strength, 0
if not given); MODEL is a ``models`` entry of the config or a
name given with ``--model NAME=JSON`` (a models block, view c16 by default). Every point runs
in ``--modes`` x ``--seeds``. Results are appended to ``WORK/rows.jsonl`` (a point already
there is not rerun), and the table printed at the end::

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/chip_search.py --work /tmp/chip \\
        --model 'mlp64={"type": "mlp", "hidden": [64, 32]}' \\
        --points mlp16:4:6:0.9 mlp64:4:6:0.8 --modes kd --seeds 0 [--full]

``--unlabelled DIR`` (a ``kd_study.py`` / ``kd_unlabelled.py`` preparation: ``c16.h5`` and the
run's teacher's ``soft_targets.h5`` on it) gives the KD float students and the KD QAT points
those jets too, teacher term only, as ``distillation.unlabelled`` does in the workflow; use
its own ``--work`` folder (the rows do not record it).

Columns: test accuracy of the QAT twin, of the float student it was fine-tuned from and the
drop (points), da4ml's LUT estimate and register bits, latency (cycles at ``clock_period_ns``),
the bit-exactness fractions, and with ``--full`` Yosys LUTs/FFs/carry.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIEW = "c16"
log = logging.getLogger("chip_search")


def load_config(path: Path) -> dict:
    """The config with the schema's defaults filled in (what the workflow's jobs see)."""
    import yaml
    from snakemake.utils import validate

    cfg = yaml.safe_load(path.read_text())
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return cfg


def parse_point(text: str) -> tuple[str, int, int, float, float]:
    """``MODEL:BITS:INPUT_BITS:SPARSITY[:COST]`` -> its fields (cost penalty 0 if not given)."""
    try:
        model, bits, ib, sp, *cost = text.split(":")
        if len(cost) > 1:
            raise ValueError(text)
        return model, int(bits), int(ib), float(sp), float(cost[0]) if cost else 0.0
    except ValueError as err:
        raise SystemExit(f"point {text!r}: expected MODEL:BITS:INPUT_BITS:SPARSITY[:COST]") from err


def model_specs(cfg: dict, extra: Sequence[str]) -> dict[str, dict]:
    """name -> models block: the config's, and ``NAME=JSON`` ones (view c16 unless given)."""
    specs = {k: dict(v) for k, v in cfg["models"].items()}
    for item in extra:
        name, _, text = item.partition("=")
        specs[name] = {"view": VIEW, **json.loads(text)}
    return specs


class Search:
    """The work folder: a tracking store, the inputs of every job, the rows written so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        from jetdistill import paths
        from jetdistill.tracking import config as tconfig
        from jetdistill.tracking import store

        self.args, self.run = args, Path(args.run)
        self.cfg = load_config(Path(args.config))
        self.specs = model_specs(self.cfg, args.model)
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(tconfig.ENV_INVOCATION, "chip-search")
        os.environ.setdefault(tconfig.ENV_PARENT_RUN, "")
        self.tracking = {"uri": f"sqlite:///{(self.work / 'mlflow.db').resolve()}",
                         "artifact_location": str((self.work / "mlruns").resolve()),
                         "experiment": "chip_search"}  # fmt: skip
        store.init_store(tconfig.TrackingConfig.from_dict(self.tracking))
        teacher = self.cfg["compression"]["teacher"]
        st = paths.fill(str(self.run), paths.SOFT_TARGETS, teacher=teacher)
        self.views = {s: paths.fill(str(self.run), paths.VIEW_SPLIT, view=VIEW, split=s)
                      for s in ("transfer", "val", "test")}  # fmt: skip
        self.inputs = {**self.views, "fidelity": st, "soft_targets": st,
                       "norm": paths.fill(str(self.run), paths.VIEW_NORM, view=VIEW)}  # fmt: skip
        self.rows_path = self.work / "rows.jsonl"
        # --unlabelled: a kd_study / kd_unlabelled preparation (its c16 view and the run's
        # teacher on it): the KD float students and the KD QAT points learn those jets too,
        # teacher term only (as rules distill_student and train_qat with distillation.unlabelled)
        u = Path(args.unlabelled) if args.unlabelled else None
        self.kd_extra = {} if u is None else {"unlabelled": str(u / f"{VIEW}.h5"),
                                              "unlabelled_soft_targets": str(u / "soft_targets.h5")}  # fmt: skip

    # ------------------------------------------------------------------ jobs
    def ctx(self, rule: str, wildcards: dict, inputs: dict, outputs: dict, params: dict):
        from jetdistill.jobs.context import JobContext

        return JobContext(rule, {k: str(v) for k, v in wildcards.items()}, inputs, outputs,
                          {**params, "tracking": self.tracking})  # fmt: skip

    def spec(self, name: str) -> dict:
        spec = self.specs[name]
        if spec.get("view", VIEW) != VIEW:
            raise SystemExit(f"model {name!r}: view {spec.get('view')!r}, this search reads {VIEW}")
        return {"name": name, **spec}

    def float_student(self, name: str, mode: str, seed: int) -> str:
        """The float student a QAT job of ``mode`` fine-tunes from (plan.kd_reference or the
        solo job): the finished run's when its spec is the config's, else trained here."""
        from jetdistill import plan
        from jetdistill.identity import SoloJob
        from jetdistill.jobs.students import train_student

        job = plan.kd_reference(self.cfg, name, seed) if mode == "kd" else SoloJob(name, seed)
        same = self.cfg["models"].get(name) == self.specs[name]
        done = Path(job.path(str(self.run), "model.pt"))
        if same and done.exists() and not (mode == "kd" and self.kd_extra):
            return str(done)
        out = {k: job.path(str(self.work), f) for k, f in
               (("model", "model.pt"), ("metrics", "metrics.json"), ("history", "history.csv"),
                ("logits", "test_logits.npy"))}  # fmt: skip
        if not Path(out["metrics"]).exists():
            for p in out.values():
                Path(p).parent.mkdir(parents=True, exist_ok=True)
            kind = "distill" if mode == "kd" else "student"
            params = {"model": self.spec(name), "train": plan.student_training(self.cfg, kind, name),
                      "transfer_splits": ["transfer"]}  # fmt: skip
            if mode == "kd":
                params["kd"] = dict(plan.kd_job_settings(self.cfg, job))
            rule = "distill_student" if mode == "kd" else "train_student_solo"
            t0 = time.process_time()
            inputs = {**self.inputs, **(self.kd_extra if mode == "kd" else {})}
            train_student(self.ctx(rule, plan.as_wildcards(job), inputs, out, params))
            log.warning("float %s %s seed %d: %.0f CPU-s", mode, name, seed,
                            time.process_time() - t0)  # fmt: skip
        return out["model"]

    def qat(
        self, name: str, bits: int, ib: int, sp: float, cost: float, mode: str, seed: int
    ) -> dict:
        """Rule train_qat at one point (``input_bits`` ``ib``, penalty ``cost``); its record."""
        from jetdistill import plan
        from jetdistill.identity import QATJob, fmt_num
        from jetdistill.jobs.compression import train_qat

        cfg = {**self.cfg, "compression": {**self.cfg["compression"], "input_bits": ib}}
        job = QATJob(name, mode, bits, fmt_num(sp), seed, fmt_num(cost))
        root = str(self.work / f"i{ib}")
        out = {k: job.path(root, f) for k, f in
               (("model", "model.pt"), ("metrics", "metrics.json"), ("history", "history.csv"))}  # fmt: skip
        if not Path(out["metrics"]).exists():
            Path(out["model"]).parent.mkdir(parents=True, exist_ok=True)
            inputs = {**self.inputs, "float_model": self.float_student(name, mode, seed)}
            if mode != "kd":
                inputs.pop("soft_targets")
            else:
                inputs.update(self.kd_extra)
            params = {"model": self.spec(name), "train": dict(cfg["training"]["qat"]),
                      "qat": dict(plan.qat_settings(cfg, mode, sp))}  # fmt: skip
            train_qat(self.ctx("train_qat", plan.as_wildcards(job), inputs, out, params))
        return {"job": job, "root": root, **json.loads(Path(out["metrics"]).read_text())}

    # ------------------------------------------------------------------ hardware
    def screen(self, model_path: str, where: Path) -> dict[str, Any]:
        """da4ml's estimate: trace, emulation bit-exact on test jets, pipelined latency."""
        from jetdistill.compress.quant import chip_inputs, load_quant_model
        from jetdistill.fpga import rtl
        from jetdistill.jobs.context import load_split

        qmodel, meta = load_quant_model(model_path)
        x = chip_inputs(load_split(self.views["test"]).X[: self.args.screen_samples], meta)
        t0 = time.perf_counter()
        shape = tuple(meta["input_shape"])
        try:
            m = rtl.estimate_rtl(qmodel, shape, x, where,
                                 clock_period_ns=float(self.cfg["fpga"]["clock_period_ns"]),
                                 yosys=False, verilator=False)  # fmt: skip
        except rtl.RTLMismatchError as err:  # not a chip design: say so, with its cost
            comb = rtl.trace_qonnx(rtl.export_clean_qonnx(qmodel, shape, where / "m.onnx"))
            shutil.rmtree(where, ignore_errors=True)
            return {"da4ml_luts": round(comb.cost), "emulation_exact": 0.0,
                    "emulation_error": str(err)[:200], "emulation_samples": len(x)}  # fmt: skip
        shutil.rmtree(where, ignore_errors=True)
        return {"da4ml_luts": round(m["da4ml_cost_luts"]), "da4ml_reg_bits": m["da4ml_reg_bits"],
                "latency_cycles": m["latency_cycles"], "emulation_exact": m["rtl_emulation_exact_fraction"],
                "emulation_samples": len(x), "screen_s": round(time.perf_counter() - t0, 1)}  # fmt: skip

    def full(self, job: Any, root: str, name: str) -> dict[str, Any]:
        """Rules estimate_rtl (Verilator + Yosys) and, where the type converts, convert_hls."""
        from jetdistill import plan
        from jetdistill.jobs import fpga

        wc = plan.as_wildcards(job)
        inputs = {"model": job.path(root, "model.pt"), "test": self.views["test"]}
        out: dict[str, Any] = {}
        rtl_out = job.path(root, "metrics.json", directory=job.RTL_DIR)
        Path(rtl_out).parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        fpga.estimate_rtl(self.ctx("estimate_rtl", wc, inputs, {"metrics": rtl_out},
                                   {"rtl": dict(plan.rtl_settings(self.cfg))}))  # fmt: skip
        m = json.loads(Path(rtl_out).read_text())["metrics"]
        out.update(yosys_luts=m["luts"], yosys_ffs=m["ffs"], yosys_carry=m["carry"], dsps=m["dsps"],
                   verilator_exact=m["rtl_exact_fraction"], verilator_samples=m["rtl_verilator_samples"],
                   rtl_latency_cycles=m["latency_cycles"], rtl_s=round(time.perf_counter() - t0, 1),
                   yosys_s=m.get("rtl_yosys_s"))  # fmt: skip
        if self.specs[name]["type"] in plan.chip_model_types("hls4ml"):
            hls_out = {"metrics": job.path(root, "metrics.json", directory=job.HLS_DIR),
                       "project": job.path(root, "project.tar.gz", directory=job.HLS_DIR)}  # fmt: skip
            Path(hls_out["metrics"]).parent.mkdir(parents=True, exist_ok=True)
            fpga.convert_hls(self.ctx("convert_hls", wc, inputs, hls_out,
                                      {"hls": dict(plan.hls_settings(self.cfg))}))  # fmt: skip
            h = json.loads(Path(hls_out["metrics"]).read_text())["metrics"]
            out.update(hls_exact=h["hls_exact_fraction"], hls_samples=h["hls_n_samples"])
        return out

    def lut_only(self, name: str, bits: int, ib: int, sp: float, cost: float, seed: int) -> dict:
        """No QAT: the KD float student's weights in the twin, pruned in one magnitude step
        (the library's Pruner) to ``sp``: da4ml's estimate of the shape, to pick QAT points."""
        import torch

        from jetdistill.compress.prune import Pruner
        from jetdistill.compress.quant import build_quant_model, checkpoint_meta, load_float_weights
        from jetdistill.jobs.context import arch, load_split
        from jetdistill.learn.models import load_model
        from jetdistill.learn.training import save_checkpoint

        spec = self.spec(name)
        fmodel, meta = load_model(self.float_student(name, "kd", seed))
        shape, n_classes = tuple(meta["input_shape"]), int(meta["n_classes"])
        q = build_quant_model(arch(spec), shape, n_classes, bits, ib, name=name)
        x = load_split(self.views["transfer"]).X[:2048]
        load_float_weights(q, fmodel, calib_x=torch.as_tensor(x))
        if sp > 0:
            pruner = Pruner(q)
            pruner.step(sp)
            pruner.apply()
        path = self.work / "lut_only" / f"{name}_b{bits}_i{ib}_s{sp:g}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(q, str(path), checkpoint_meta(arch(spec), shape, n_classes, bits=bits,
                                                      input_bits=ib, bias_bits=16, sparsity=sp,
                                                      name=name))  # fmt: skip
        from jetdistill.learn.training import predict_logits

        test = load_split(self.views["test"])
        acc = float((predict_logits(q.eval(), test.X).argmax(1) == test.y).mean())
        row = {"model": name, "bits": bits, "input_bits": ib, "sparsity": sp, "accuracy": acc}
        if self.args.screen_samples > 0:
            row.update(self.screen(str(path), self.work / f"screen_{os.getpid()}"))
        return row

    # ------------------------------------------------------------------ rows
    def rows(self) -> list[dict]:
        if not self.rows_path.exists():
            return []
        return [json.loads(line) for line in self.rows_path.read_text().splitlines() if line]

    def point(
        self, name: str, bits: int, ib: int, sp: float, cost: float, mode: str, seed: int
    ) -> dict:
        import torch

        from jetdistill.compress.quant import load_quant_model
        from jetdistill.learn.models import count_params, load_model

        key = {"model": name, "bits": bits, "input_bits": ib, "sparsity": sp, "cost": cost,
               "mode": mode, "seed": seed}  # fmt: skip
        old = [r for r in self.rows() if all(r.get(k, 0.0) == v for k, v in key.items())]
        if old and (not self.args.full or "yosys_luts" in old[-1]):
            return old[-1]
        c0, t0 = time.process_time(), time.perf_counter()
        rec = self.qat(name, bits, ib, sp, cost, mode, seed)
        job, root = rec.pop("job"), rec.pop("root")
        fpath = self.float_student(name, mode, seed)
        fmetrics = json.loads((Path(fpath).parent / "metrics.json").read_text())["metrics"]
        fmodel, _ = load_model(fpath)
        qmodel, _ = load_quant_model(job.path(root, "model.pt"))
        m = rec["metrics"]
        row = {**key, "params": count_params(fmodel),
               "nonzero_weights": int(sum(int((m.weight != 0).sum()) for m in qmodel.modules()
                                          if isinstance(m, torch.nn.Linear))),
               "accuracy": m["test_accuracy"], "float_accuracy": fmetrics["test_accuracy"],
               "drop_pts": round(100 * (fmetrics["test_accuracy"] - m["test_accuracy"]), 2),
               "best_epoch": m.get("best_epoch"), "float_agreement": m.get("float_test_agreement"),
               "kd_targets": self.cfg["compression"].get("kd_targets", "teacher") if mode == "kd" else None,
               "input_scaling": self.cfg["compression"].get("input_scaling", "tensor"),
               "activation_bits": self.cfg["compression"].get("activation_bits") or bits,
               "qat_cpu_s": round(time.process_time() - c0, 1), "qat_wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
        row.update(self.screen(job.path(root, "model.pt"), self.work / f"screen_{os.getpid()}"))
        if self.args.full:
            row.update(self.full(job, root, name))
        with open(self.rows_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        return row


COLUMNS = ["model", "params", "bits", "input_bits", "sparsity", "cost", "mode", "seed", "nonzero_weights",
           "accuracy", "float_accuracy", "drop_pts", "float_agreement", "da4ml_luts", "da4ml_reg_bits", "latency_cycles",
           "emulation_exact", "yosys_luts", "yosys_ffs", "verilator_exact", "hls_exact",
           "qat_cpu_s"]  # fmt: skip


#: columns printed with 4 decimals (fractions); other numbers as ``:g``, the drop in points .2f
FRACTIONS = {"accuracy", "float_accuracy", "float_agreement", "emulation_exact",
             "verilator_exact", "hls_exact"}  # fmt: skip


def table(rows: list[dict]) -> str:
    def cell(col: str, v: Any) -> str:
        if not isinstance(v, float):
            return "-" if v is None else str(v)
        return f"{v:.4f}" if col in FRACTIONS else f"{v:.2f}" if col == "drop_pts" else f"{v:g}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def _sd(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def summary(rows: list[dict]) -> str:
    """Mean ± std over seeds per (point, mode), and KD - solo paired by seed."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = {}
    for r in rows:
        k = (r["model"], r["bits"], r["input_bits"], r["sparsity"], r.get("cost", 0.0))
        groups.setdefault(k, {}).setdefault(r["mode"], {})[r["seed"]] = r
    lines = ["| point | mode | seeds | accuracy | float | drop (pts) | da4ml LUTs | KD - solo (pts) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, modes in groups.items():
        for mode, by_seed in modes.items():
            acc = np.array([r["accuracy"] for r in by_seed.values()])
            fl = np.array([r["float_accuracy"] for r in by_seed.values()])
            drop = 100 * (fl - acc)
            luts = np.array([r["da4ml_luts"] for r in by_seed.values()])
            diff = ""
            if mode == "kd" and "solo" in modes:
                seeds = sorted(set(by_seed) & set(modes["solo"]))
                d = np.array(
                    [100 * (by_seed[s]["accuracy"] - modes["solo"][s]["accuracy"]) for s in seeds]
                )
                diff = (
                    f"{d.mean():+.2f} ± {_sd(d) / np.sqrt(len(d)):.2f} (n={len(d)})"
                    if len(d)
                    else ""
                )
            lines.append(f"| {':'.join(map(str, k))} | {mode} | {len(acc)} | {acc.mean():.4f} ± {_sd(acc):.4f} | "
                         f"{fl.mean():.4f} | {drop.mean():.2f} ± {_sd(drop):.2f} | {luts.mean():.0f} | {diff} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="/work/run/results", help="a finished default run's results/")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--work", required=True, help="scratch folder (outside results/)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--points", nargs="*", default=[], metavar="MODEL:BITS:INPUT_BITS:SPARSITY")
    ap.add_argument("--modes", nargs="+", default=["kd"], choices=["kd", "solo"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--full", action="store_true", help="Verilator + Yosys (+ hls4ml C sim)")
    ap.add_argument(
        "--unlabelled",
        default=None,
        help="a prepared folder of unlabelled jets (c16.h5, soft_targets.h5) for mode kd",
    )
    ap.add_argument(
        "--screen-samples",
        type=int,
        default=2000,
        help="test jets da4ml's emulation is checked on (0 with --lut-only: accuracy only)",
    )
    ap.add_argument("--smoke", action="store_true", help="1 epoch everywhere (a plumbing check)")
    ap.add_argument(
        "--lut-only",
        action="store_true",
        help="no QAT: da4ml's estimate of the pruned KD float weights (pick points)",
    )
    ap.add_argument(
        "--kd-targets",
        choices=["teacher", "float_student"],
        default=None,
        help="compression.kd_targets of the KD QAT points (default: the config's); use its own --work",
    )
    ap.add_argument(
        "--input-scaling",
        choices=["tensor", "per_input"],
        default=None,
        help="compression.input_scaling of the QAT points (default: the config's); own --work",
    )
    ap.add_argument(
        "--activation-bits",
        type=int,
        default=None,
        help="compression.activation_bits (BITS is then the weights' width only); own --work",
    )
    ap.add_argument("--table", action="store_true", help="print the rows so far and exit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    s = Search(args)
    if args.smoke:
        for kind in ("student", "distill", "qat"):
            s.cfg["training"][kind]["epochs"] = 1
        s.cfg["training"]["per_student"] = {}
        s.cfg["compression"]["pruning"].update(steps=1, epochs_per_step=1)
    if args.kd_targets:
        s.cfg["compression"]["kd_targets"] = args.kd_targets
    if args.input_scaling:
        s.cfg["compression"]["input_scaling"] = args.input_scaling
    if args.activation_bits:
        s.cfg["compression"]["activation_bits"] = args.activation_bits
    if args.lut_only:
        for text in args.points:
            print(json.dumps(s.lut_only(*parse_point(text), args.seeds[0])), flush=True)
        return
    if not args.table:
        for seed in args.seeds:
            for text in args.points:
                for mode in args.modes:
                    row = s.point(*parse_point(text), mode, seed)
                    print(json.dumps(row), flush=True)
    rows = s.rows()
    print(table(rows))
    print()
    print(summary(rows))


if __name__ == "__main__":
    main()
