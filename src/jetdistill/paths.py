"""Every output path of the workflow, in one place.

The rule files (through ``rules/common.smk``), :mod:`jetdistill.plan` and the job code all
build paths from these templates, so moving an output is a one-line change here.

Templates are relative to the ``results`` folder and use Snakemake's wildcard syntax
(``{student}``); :func:`template` gives the rule-side string with the wildcards left in,
:func:`fill` the concrete path of one job.
"""

from __future__ import annotations

import os
from pathlib import Path

# --------------------------------------------------------------------------- data
RAW_SHARD = "data/raw/{cls}_{shard}.h5"
SPLITS = "data/splits.h5"
VIEW_DIR = "data/views/{view}"
VIEW_SPLIT = VIEW_DIR + "/{split}.h5"
VIEW_NORM = VIEW_DIR + "/norm.json"
#: augmented copies of a split (distillation.views; data.augment.augment_view_file)
VIEW_AUG = "data/augmented/{view}/{split}.h5"
#: the students' unlabelled transfer jets (``distillation.unlabelled``): their own shards and,
#: per view, one file normalised with the view's norm.json
RAW_UNLABELLED_SHARD = "data/raw/unlabelled/{cls}_{shard}.h5"
#: ``{mult}``: the multiple of the transfer set (arms may differ in it; canonical text, ``3``)
VIEW_UNLABELLED = VIEW_DIR + "/unlabelled_x{mult}.h5"

# --------------------------------------------------------------------------- models
#: every model directory holds these files (the ones its rule declares)
MODEL = "model.pt"
METRICS = "metrics.json"
HISTORY = "history.csv"
TEST_LOGITS = "test_logits.npy"

TEACHER_DIR = "teachers/{teacher}/member{member}"
#: specialists of a generalist teacher (Hinton et al. 2015, section 5): the chosen class groups
#: and one model per group; their combination is the soft targets of teacher ``{teacher}_spec``
SPECIALIST_GROUPS = "teachers/{teacher}/specialist_groups.json"
SPECIALIST_DIR = "teachers/{teacher}/specialist{group}"
SOFT_TARGETS = "soft_targets/{teacher}.h5"
SOFT_TARGET_METRICS = "soft_targets/{teacher}.metrics.json"
#: not under soft_targets/: ``soft_targets/{teacher}.h5`` would match it too (teacher "unlabelled/x")
UNLABELLED_SOFT_TARGETS = "soft_targets_unlabelled/x{mult}/{teacher}.h5"
SOLO_DIR = "students/solo/{student}/{arm}/seed{seed}"
SOLO_ALL_DIR = "students/solo_all/{student}/{arm}/seed{seed}"
KD_DIR = "students/kd/{student}/{teacher}/{method}/T{T}_a{alpha}/{arm}/seed{seed}"
QAT_DIR = "qat/{student}/{mode}/b{bits}_s{sparsity}_c{cost}/{arm}/seed{seed}"
FPGA_DIR = "fpga/{student}/{mode}/b{bits}_s{sparsity}_c{cost}/{arm}/seed{seed}"
HLS_DIR = FPGA_DIR + "/hls"
RTL_DIR = FPGA_DIR + "/rtl"
HLS_FLOAT_DIR = "fpga/float/{student}/seed{seed}"
# per-weight precision (HGQ): a design per EBOPs weight ``beta``; ``mode`` kd, solo or peer
HGQ_DIR = "hgq/{student}/{mode}/beta{beta}/{arm}/seed{seed}"
HGQ_RTL_DIR = "fpga_hgq/{student}/{mode}/beta{beta}/{arm}/seed{seed}"
KERAS_MODEL = "model.keras"
VERILOG_PROJECT = "verilog.tar.gz"
HLS_PROJECT = "project.tar.gz"

# --------------------------------------------------------------------------- learning curve
LC_TEACHER_DIR = "learning_curve/teacher/{teacher}/member{member}/f{fraction}"
LC_SOLO_DIR = "learning_curve/solo/{student}/f{fraction}/seed{seed}"
LC_KD_DIR = "learning_curve/kd/{student}/{teacher}/{method}/T{T}_a{alpha}/f{fraction}/seed{seed}"
LC_DIR = "learning_curve"

# --------------------------------------------------------------------------- aggregations
TRACKING_MARKER = "tracking/experiment.json"
COMPARISON_DIR = "comparison"
COMPRESSION_DIR = "compression"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
SUMMARY_HTML = "summary.html"

# --------------------------------------------------------------------------- logs
LOG = "logs/{rule}/{stem}.log"
BENCHMARK = "benchmarks/{rule}/{stem}.tsv"


def template(results: str | os.PathLike[str], *parts: str) -> str:
    """``results/part/part`` with the wildcards left in (a rule's input/output string)."""
    return "/".join([str(results).rstrip("/"), *parts])


def fill(results: str | os.PathLike[str], *parts: str, **wildcards: object) -> str:
    """The concrete path of one job: :func:`template` with ``wildcards`` substituted."""
    return template(results, *parts).format(**wildcards)


def log(results: str | os.PathLike[str], rule: str, stem: str | None = None) -> str:
    """A rule's log file; ``stem`` names the job by its wildcards (``{student}_seed{seed}``).
    A rule with one job (no wildcards) has no stem: ``logs/<rule>.log``."""
    return template(results, _per_rule(LOG, rule, stem))


def benchmark(results: str | os.PathLike[str], rule: str, stem: str | None = None) -> str:
    """A rule's Snakemake benchmark file (same ``stem`` as its :func:`log`)."""
    return template(results, _per_rule(BENCHMARK, rule, stem))


def _per_rule(pattern: str, rule: str, stem: str | None) -> str:
    if stem is None:
        return pattern.replace("{rule}/{stem}", rule)
    return pattern.replace("{rule}", rule).replace("{stem}", stem)


def stem(directory: str) -> str:
    """The log/benchmark stem of a model directory template: its wildcard components joined
    by ``_`` (``students/kd/{student}/{teacher}/{method}/T{T}_a{alpha}/seed{seed}`` ->
    ``{student}_{teacher}_{method}_T{T}_a{alpha}_seed{seed}``), so a wildcard added to the
    path is in the job's log name too. The leading fixed components name the family, which
    the rule name already says."""
    parts = directory.split("/")
    first = next(i for i, p in enumerate(parts) if "{" in p)
    return "_".join(parts[first:])


def sibling(path: str | os.PathLike[str], name: str) -> str:
    """Another file of the same model directory (``metrics.json`` -> ``test_logits.npy``)."""
    return str(Path(path).parent / name)
