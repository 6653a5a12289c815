"""Are two finished runs the same science? Compare every metrics.json of two results folders.

    python benchmarks/compare_results.py RESULTS_A RESULTS_B [--tol 0]

Used to check that a refactor leaves the results of ``config/test.yaml`` unchanged (same
seeds): every model's metrics must match, except timings (seconds, throughput), which no
two runs share. Prints one line per differing value and a summary; exits 1 on a difference.
The model directories may move between the two runs (a changed path layout): records are
matched by rule and wildcards, not by path.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

#: metric-name endings of timings, which differ between any two runs
TIMING = ("seconds", "per_s", "_s")
#: wildcards added to a family later, at the value that means "as before" (a QAT point
#: without a cost penalty): a run from before they existed matches one at that value
DEFAULT_WILDCARDS = {"cost": "0", "arm": "default"}


def _is_timing(key: str) -> bool:
    return key.endswith(TIMING)


def collect(results: Path) -> dict[str, dict]:
    """rule + wildcards -> metrics of every metrics.json below ``results``."""
    out = {}
    for path in sorted(results.rglob("metrics.json")):
        rec = json.loads(path.read_text())
        if "rule" not in rec:
            continue
        wildcards = {k: v for k, v in rec.get("wildcards", {}).items()
                     if DEFAULT_WILDCARDS.get(k) != str(v)}  # fmt: skip
        key = rec["rule"] + json.dumps(wildcards, sort_keys=True)
        out[key] = {k: v for k, v in rec.get("metrics", {}).items() if not _is_timing(k)}
    return out


def compare(a: dict[str, dict], b: dict[str, dict], tol: float = 0.0) -> list[str]:
    diffs = [f"only in A: {k}" for k in sorted(set(a) - set(b))]
    diffs += [f"only in B: {k}" for k in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        ma, mb = a[key], b[key]
        for m in sorted(set(ma) | set(mb)):
            va, vb = ma.get(m), mb.get(m)
            if isinstance(va, float) and isinstance(vb, float):
                same = (math.isnan(va) and math.isnan(vb)) or abs(va - vb) <= tol
            else:
                same = va == vb
            if not same:
                diffs.append(f"{key} {m}: {va!r} != {vb!r}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--tol", type=float, default=0.0, help="absolute tolerance on float metrics")
    args = ap.parse_args()
    a, b = collect(args.a), collect(args.b)
    diffs = compare(a, b, args.tol)
    for d in diffs:
        print(d)
    n_values = sum(len(v) for v in a.values())
    print(f"{len(a)} jobs / {n_values} metric values in A, {len(b)} jobs in B: "
          f"{len(diffs)} difference(s)")  # fmt: skip
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
