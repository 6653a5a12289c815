"""The data stage's input files: the labelled source files (generated shards, hls4ml files
or a generic file) and the students' unlabelled transfer jets (``distillation.unlabelled``),
with how many of them a config asks for.

Their order defines the global jet indices; the data rules take them from here. Which jobs
exist is :mod:`jetdistill.plan.grid`'s business (it reads the unlabelled multiple here).
"""

from __future__ import annotations

import glob
import math
import os
from pathlib import Path

from jetdistill import paths
from jetdistill.errors import InputError
from jetdistill.plan.arms import arm_config, arm_names


# --------------------------------------------------------------------------- labelled data
def source_files(cfg: dict, results: str) -> list[str]:
    """Input files of the data stage, in global order (their concatenation defines jet indices)."""
    data = cfg["data"]
    src = data["source"]
    if src == "generate":
        g = data["generate"]
        return [
            paths.fill(results, paths.RAW_SHARD, cls=cls, shard=shard)
            for cls in g["classes"]
            for shard in range(int(g["shards"]))
        ]
    if src == "hls4ml":
        pattern = data["hls4ml"]["files"]
        if not pattern:
            raise InputError(
                "config: data.hls4ml.files", "a directory or glob of hls4ml jet files (*_150p_*.h5)"
            )
        if os.path.isdir(pattern):
            pattern = str(Path(pattern) / "*_150p_*.h5")
        files = sorted(glob.glob(pattern))
        if not files:
            raise InputError(
                f"config: data.hls4ml.files ({pattern})", "at least one matching .h5 file", "none"
            )
        return files
    path = data["generic"]["file"]
    if not path:
        raise InputError(
            "config: data.generic.file", "the path of an HDF5 file with features and labels"
        )
    if not os.path.exists(path):
        raise InputError(
            f"{path}", "an existing HDF5 file (config data.generic.file)", "missing file"
        )
    return [path]


# --------------------------------------------------------------------------- unlabelled jets
# The students' unlabelled transfer jets (distillation.unlabelled): their own shards (a seed
# stream of their own) or the user's files, one view file per view normalised with the
# labelled view's norm.json, and one soft-target file per teacher. Nothing of the labelled
# data depends on them, so turning them on or changing the multiple reruns only these jobs,
# the KD students (and what is built from them) and the solo-on-all references.

#: the seed stream of generated unlabelled shards (jetdistill.data.generate.shard_seed)
UNLABELLED_STREAM = "unlabelled"


def unlabelled_multiple(cfg: dict) -> float:
    """How many unlabelled jets the KD students get, as a multiple of the transfer set (0: off;
    always 0 while distillation is off)."""
    d = cfg["distillation"]
    if not d.get("enabled", True):
        return 0.0
    return float((d.get("unlabelled") or {}).get("multiple") or 0)


def unlabelled_on(cfg: dict) -> bool:
    return unlabelled_multiple(cfg) > 0


def unlabelled_multiples(cfg: dict) -> list[float]:
    """The unlabelled multiples of the run's arms (each > 0, once): one view and one
    soft-target file each (``{mult}`` in their paths)."""
    return sorted({unlabelled_multiple(arm_config(cfg, a)) for a in arm_names(cfg)} - {0.0})


def unlabelled_shards(cfg: dict, multiple: float | None = None) -> int:
    """Generated unlabelled shards per class: enough for ``multiple`` (default: the config's)
    x the most transfer jets a class can get (its fraction of ``shards * jets_per_shard``,
    rounded up by one). A smaller multiple reads the first shards of a larger one's."""
    g, sp = cfg["data"]["generate"], cfg["data"]["splits"]
    per_class = int(g["jets_per_shard"]) * int(g["shards"])
    m = unlabelled_multiple(cfg) if multiple is None else float(multiple)
    need = math.ceil(m * (float(sp["transfer"]) * per_class + 1))
    return max(1, math.ceil(need / int(g["jets_per_shard"])))


def unlabelled_files(cfg: dict, results: str, multiple: float | None = None) -> list[str]:
    """Input files of the unlabelled view at ``multiple`` (default: the config's), in the order
    that defines their rows: the generated unlabelled shards (class-major, as
    :func:`source_files`), or the files ``distillation.unlabelled.files`` names (a directory or
    glob, as ``data.hls4ml.files``)."""
    m = unlabelled_multiple(cfg) if multiple is None else float(multiple)
    if m <= 0:
        return []
    if cfg["data"]["source"] == "generate":
        g = cfg["data"]["generate"]
        return [
            paths.fill(results, paths.RAW_UNLABELLED_SHARD, cls=cls, shard=shard)
            for cls in g["classes"]
            for shard in range(unlabelled_shards(cfg, m))
        ]
    pattern = str(cfg["distillation"]["unlabelled"].get("files") or "")
    if os.path.isdir(pattern):
        pattern = str(Path(pattern) / "*_150p_*.h5")
    return sorted(glob.glob(pattern)) if pattern else []
