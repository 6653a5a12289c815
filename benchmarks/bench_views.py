"""Is a jet transform a symmetry the teacher agrees with? Teacher accuracy on transformed jets.

Every transform of :mod:`jetdistill.data.augment` is applied to EVERY jet of a split (not at
random as in training), all 16 teacher features are recomputed from the transformed
constituents and normalised with the teacher view's fitted ``norm.json``, and the trained
teacher is evaluated. A transform is kept for consistent views (``distillation.views``) only
if the teacher's accuracy on it stays within 1 pt of the untransformed jets: a symmetry the
teacher has not learnt would hand the student soft targets of jets it never saw.

Also printed: agreement of the teacher's predicted class with its prediction on the
untransformed jet, and the same check for the student view's model if one is given.

Reads a finished run (never writes into it), e.g. the default run:

    cd /work/run && PYTHONPATH=/path/to/src nice -n 15 python \\
        /path/to/benchmarks/bench_views.py --results results --teacher jedi --split test
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from jetdistill.data.augment import JetTransforms, ViewReader, ViewsConfig, draw_transforms
from jetdistill.data.prepare import load_split
from jetdistill.learn.models import load_model
from jetdistill.learn.softtargets import _predict


def fixed(eta: float = 1.0, phi: float = 1.0, angle: float | None = 0.0, smear: float = 0.0):
    """A draw applying the same transform to every jet (``angle=None``: uniform random)."""

    def draw(rows: np.ndarray, view: int, n_slots: int) -> JetTransforms:
        n = len(rows)
        base = draw_transforms(
            ViewsConfig(k=1, transforms=("rotate",), pt_smear=smear, seed=11), rows, view, n_slots
        )
        ang = base.angle if angle is None else np.full(n, angle)
        return JetTransforms(np.full(n, eta), np.full(n, phi), ang, base.pt_scale)

    return draw


CASES = {
    "none": fixed(),
    "eta_flip": fixed(eta=-1.0),
    "phi_flip": fixed(phi=-1.0),
    "eta_flip+phi_flip": fixed(eta=-1.0, phi=-1.0),
    "rotate pi/8": fixed(angle=np.pi / 8),
    "rotate pi/4": fixed(angle=np.pi / 4),
    "rotate pi/2": fixed(angle=np.pi / 2),
    "rotate pi": fixed(angle=np.pi),
    "rotate uniform": fixed(angle=None),
    "pt_smear 0.05": fixed(smear=0.05),
    "pt_smear 0.10": fixed(smear=0.10),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results", help="the run's results directory")
    ap.add_argument("--teacher", default="jedi")
    ap.add_argument("--member", default="member0")
    ap.add_argument("--view", default="teacher", help="the teacher's view")
    ap.add_argument("--split", default="test")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    r = Path(args.results)
    model, _ = load_model(r / "teachers" / args.teacher / args.member / "model.pt")
    vdir = r / "data" / "views" / args.view
    norm = json.loads((vdir / "norm.json").read_text())
    reader = ViewReader.open(r / "data" / "splits.h5", norm["view"], vdir / "norm.json",
                             view_name=args.view)  # fmt: skip
    X, y, index, _ = load_split(vdir / f"{args.split}.h5")
    base = _predict(model, X, 256)[0].argmax(1)
    print(f"teacher {args.teacher}/{args.member} on {len(y)} {args.split} jets "
          f"(view file accuracy {np.mean(base == y):.4f})")  # fmt: skip
    print(
        f"{'transform':<20} {'accuracy':>8} {'delta pts':>9} {'agree':>6} {'max|dX|':>8} {'s':>5}"
    )
    rows = []
    for name in args.cases:
        t0 = time.perf_counter()
        xv, order = reader.views(args.split, CASES[name], 1)
        if not np.array_equal(order, index):
            raise SystemExit(f"{args.split}: augmented jets not in the view file's order")
        pred = _predict(model, xv[0], 256)[0].argmax(1)
        acc, agree = float(np.mean(pred == y)), float(np.mean(pred == base))
        dx = float(np.abs(xv[0] - X).max())
        dt = time.perf_counter() - t0
        rows.append({"transform": name, "accuracy": acc, "delta_pts": 100 * (acc - np.mean(base == y)),
                     "agreement": agree, "max_abs_dx": dx, "seconds": dt})  # fmt: skip
        print(
            f"{name:<20} {acc:8.4f} {rows[-1]['delta_pts']:+9.2f} {agree:6.3f} {dx:8.2g} {dt:5.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
