"""Why specialists add little (issue 21 item 4): inside each class group, does the specialist
separate the group's classes better than the generalist it was trained from?

On the test jets whose true class is in a group: the accuracy of the argmax over the group's
classes only (the dustbin ignored), generalist vs specialist; the share of those jets whose
generalist top-1 is inside the group; and an oracle, the generalist's accuracy with every
confusion *between* a group's classes fixed (the most any specialist of these groups could add).
Reads a finished run with ``teachers.NAME.specialists.enabled`` (its member 0, the chosen
groups and ``specialist{g}/model.pt``)::

    PYTHONPATH=src python benchmarks/specialist_check.py --results /work/run/results --teacher jedi
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--results", default="results")
    ap.add_argument("--teacher", default="jedi")
    ap.add_argument("--view", default="teacher", help="the teacher's view")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from jetdistill import paths
    from jetdistill.jobs.context import load_split
    from jetdistill.learn.models import load_model
    from jetdistill.learn.training import predict_logits

    res, t = str(args.results), args.teacher
    test = load_split(paths.fill(res, paths.VIEW_SPLIT, view=args.view, split="test"))
    gen, _ = load_model(paths.fill(res, paths.TEACHER_DIR, paths.MODEL, teacher=t, member=0))
    zg = predict_logits(gen, test.X)
    groups = json.loads(Path(paths.fill(res, paths.SPECIALIST_GROUPS, teacher=t)).read_text())
    y, pred = test.y, zg.argmax(1)
    print(f"generalist test accuracy {np.mean(pred == y):.4f} ({len(y)} jets)")
    fixed = pred.copy()
    for g, grp in enumerate(groups["groups"]):
        sp, _ = load_model(paths.fill(res, paths.SPECIALIST_DIR, paths.MODEL, teacher=t, group=g))
        zs = predict_logits(sp, test.X)  # the group's classes 0..G-1, then the dustbin
        m = np.isin(y, grp)
        yy = np.array([grp.index(c) for c in y[m]])
        inside = np.isin(pred[m], grp)
        print(f"group {groups['group_names'][g]}: {m.sum()} test jets; within-group accuracy "
              f"generalist {np.mean(zg[m][:, grp].argmax(1) == yy):.4f}, specialist "
              f"{np.mean(zs[m][:, : len(grp)].argmax(1) == yy):.4f}; generalist's top-1 in the "
              f"group for {np.mean(inside):.3f}")  # fmt: skip
        wrong = np.where(m)[0][inside & (pred[m] != y[m])]
        fixed[wrong] = y[wrong]
    print(f"oracle, every within-group confusion fixed: {np.mean(fixed == y):.4f}")


if __name__ == "__main__":
    main()
