"""Who a job is: one typed identity per job family, defined once.

A job's identity (a KD student's student, teacher, method, T, alpha and seed) used to be
spelled out in the job grid, the path templates, the rule log names, the jobs and the report
code. Each family is now one frozen dataclass here, and everything else derives from it:

- its **wildcards** (:meth:`wildcards`; the fields, named as in the path templates),
- its **output paths** (:meth:`path`, through :mod:`jetdistill.paths`) and its **log stem**
  (:func:`jetdistill.paths.stem` of the same template, so the rule's log and benchmark
  names follow the path),
- its MLflow **run name**, **tags** and **common params**,
- its **record**: the identifying fields of the ``metrics.json`` it writes, which the
  reports group by (:attr:`RECORD_KEYS`),

and it is parsed back from a job's wildcards (:meth:`from_wildcards`).

Names. A field is named like its wildcard, which is the path's spelling (``T`` in
``T4_a0.1``, ``mode`` in ``qat/mlp/kd/...``); the record columns, MLflow tags and params keep
the names users and the reports already read (``temperature``, ``kd_method``, ``qat_mode``,
``kd.temperature``), and each family states that mapping once, in :attr:`RECORD_NAMES`.
Numbers that are swept (T, alpha, sparsity, fraction) are held as their canonical text
(:func:`fmt_num`: ``4.0`` -> ``"4"``), the form paths and wildcards use; their float value is
:func:`num`.

A new sweep axis of a family: a field here, the wildcard in its path template
(``paths.py``), its product in the grid (``plan.py``) and its list in the schema.

This module imports only :mod:`jetdistill.paths`: the plan, the rules, the jobs and the
reports all read it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from jetdistill import paths


def fmt_num(x: float | str) -> str:
    """Canonical text of a number in paths and wildcards (4.0 -> '4', 0.75 -> '0.75')."""
    return f"{float(x):g}"


def num(x: float | str) -> float:
    """The value of a swept number held as text (``"4"`` -> ``4.0``)."""
    return float(x)


#: The arm every run has (``distillation.arms``): the config's own settings, the reference the
#: other arms are compared with; baselines, learning curves and float FPGA students use it.
DEFAULT_ARM = "default"


def arm_part(arm: str) -> str:
    """``-<arm>`` in run names, none for the default arm: the names runs had before arms."""
    return "" if arm == DEFAULT_ARM else f"-{arm}"


@dataclass(frozen=True)
class Identity:
    """What every job family shares; subclasses set :attr:`DIR` and their fields."""

    #: the family's output directory template (a :mod:`jetdistill.paths` constant)
    DIR: ClassVar[str]
    #: field -> record column / MLflow tag name where they differ (one place per family)
    RECORD_NAMES: ClassVar[Mapping[str, str]] = {}

    def wildcards(self) -> dict[str, Any]:
        """The job's wildcards (every field, named as in :attr:`DIR`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> Identity:
        """Parse a job's wildcards back (numbers to their field types, swept numbers
        canonical); keys that are not fields (``fraction``) are ignored."""
        wildcards = dict(wildcards.items())  # a Snakemake Wildcards object is a list
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in wildcards and f.default is not dataclasses.MISSING:
                continue  # a field added later with a default (QATJob.cost)
            v = wildcards[f.name]
            values[f.name] = int(v) if f.type in ("int", int) else str(v)
        return cls(**values)

    def path(self, results: str, *parts: str, directory: str | None = None) -> str:
        """A file of this job's output directory (``paths.MODEL``, ``paths.METRICS``, ...);
        ``directory``: another template of the same wildcards (``QATJob.HLS_DIR``)."""
        return paths.fill(results, directory or self.DIR, *parts, **self.wildcards())

    @classmethod
    def stem(cls) -> str:
        """The log/benchmark name of the family's rule, with the wildcards left in."""
        return paths.stem(cls.DIR)

    #: fields that are swept numbers held as text (their record value is a float)
    NUMBERS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def record_name(cls, field: str) -> str:
        """The record column / MLflow tag of a field (:attr:`RECORD_NAMES`, else the field)."""
        return cls.RECORD_NAMES.get(field, field)

    @classmethod
    def record_numbers(cls) -> tuple[str, ...]:
        """The record columns that hold numbers (:attr:`NUMBERS` by their record names)."""
        return tuple(cls.record_name(f) for f in cls.NUMBERS)

    @classmethod
    def key_fields(cls) -> tuple[str, ...]:
        """The fields that identify one configuration: every field but the seed."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "seed")

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Identity:
        """Parse a ``metrics.json`` record (or a report row) back: each field from its
        record column (:meth:`record_name`); a record without a seed (a group of seeds)
        gets seed 0."""
        values = {}
        for f in dataclasses.fields(cls):
            v = record.get(cls.record_name(f.name), 0 if f.name == "seed" else None)
            if (
                v is None or (isinstance(v, float) and math.isnan(v))
            ) and f.default is not dataclasses.MISSING:
                v = f.default  # a record from before the field existed (no arm: the default)
            values[f.name] = int(v) if f.type in ("int", int) else v
        return cls(**values)

    def key_values(self) -> dict[str, Any]:
        """:meth:`key_fields` with their values, swept numbers as floats (a table row)."""
        return {f: num(getattr(self, f)) if f in self.NUMBERS else getattr(self, f)
                for f in self.key_fields()}  # fmt: skip

    def tags(self) -> dict[str, Any]:
        """MLflow tags: ``model`` and every field by its record name (numbers as text)."""
        out: dict[str, Any] = {"model": getattr(self, "student", None)}
        out.update({self.record_name(f.name): getattr(self, f.name)
                    for f in dataclasses.fields(self)})  # fmt: skip
        return out

    def record(self) -> dict[str, Any]:
        """The identifying fields of the ``metrics.json`` the job writes (swept numbers as
        floats), by their record names: what :meth:`from_record` reads back."""
        out = Identity.tags(self)  # the generic tags, not a family's MLflow choice
        out.update({self.record_name(f): num(getattr(self, f)) for f in self.NUMBERS})
        return out

    @classmethod
    def record_keys(cls) -> tuple[str, ...]:
        """The record columns that identify one configuration (every field but the seed),
        in field order: what the reports group seeds by."""
        return tuple(cls.record_name(f) for f in cls.key_fields())


@dataclass(frozen=True)
class TeacherMember(Identity):
    """One member of a teacher (an ensemble of one or more models with their own seeds)."""

    DIR: ClassVar[str] = paths.TEACHER_DIR
    teacher: str
    member: int
    model: str = ""
    seed: int = 0

    def wildcards(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "member": self.member}

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> TeacherMember:
        """Teacher and member only: the model and seed are the config's (params)."""
        wildcards = dict(wildcards.items())
        return cls(str(wildcards["teacher"]), int(wildcards["member"]))

    def run_name(self) -> str:
        return f"teacher-{self.teacher}-m{self.member}"


@dataclass(frozen=True)
class SoloJob(Identity):
    """A float student (or baseline) trained alone."""

    DIR: ClassVar[str] = paths.SOLO_DIR
    student: str
    seed: int
    #: the arm of the study (``distillation.arms``) whose settings the job trains with; last,
    #: with a default, so a job of a config without arms is the ``default`` arm's
    arm: str = DEFAULT_ARM

    method: ClassVar[str] = "solo"

    def run_name(self) -> str:
        return f"solo-{self.student}-s{self.seed}{arm_part(self.arm)}"

    def tags(self, fraction: float = 1.0) -> dict[str, Any]:
        return {"model": self.student, "student": self.student, "seed": self.seed,
                "train_fraction": fraction, "teacher": "", "kd_method": "", "arm": self.arm}  # fmt: skip

    def record(self) -> dict[str, Any]:
        """As a KD record, with no KD configuration (the comparison reads both alike)."""
        none = dict.fromkeys(k for k in KDJob.record_keys()[1:] if k != "arm")
        return {**super().record(), **none}

    def common_params(self) -> dict[str, Any]:
        """The keyword arguments of ``report.links.common_params`` this identity fixes."""
        return {"student": self.student, "seed": self.seed, "bits": 32, "sparsity": 0.0}


@dataclass(frozen=True)
class SoloAllJob(SoloJob):
    """The upper reference of unlabelled transfer jets (``distillation.unlabelled``): a
    student trained alone on the transfer set *and* the unlabelled jets, with their labels."""

    DIR: ClassVar[str] = paths.SOLO_ALL_DIR
    method: ClassVar[str] = "solo_all"

    def run_name(self) -> str:
        return f"solo_all-{self.student}-s{self.seed}{arm_part(self.arm)}"


@dataclass(frozen=True)
class KDJob(Identity):
    """A float student distilled from a teacher's soft targets."""

    DIR: ClassVar[str] = paths.KD_DIR
    RECORD_NAMES: ClassVar[Mapping[str, str]] = {"method": "kd_method", "T": "temperature"}
    NUMBERS: ClassVar[tuple[str, ...]] = ("T", "alpha")
    student: str
    teacher: str
    method: str
    T: str
    alpha: str
    seed: int
    arm: str = DEFAULT_ARM  # as SoloJob.arm

    def __post_init__(self) -> None:  # one spelling of each number, however it was given
        object.__setattr__(self, "T", fmt_num(self.T))
        object.__setattr__(self, "alpha", fmt_num(self.alpha))

    def run_name(self) -> str:
        return (
            f"kd-{self.student}-s{self.seed}-{self.teacher}-{self.method}-T{self.T}-a{self.alpha}"
            f"{arm_part(self.arm)}"
        )

    def tags(self, fraction: float = 1.0) -> dict[str, Any]:
        return {"model": self.student, "student": self.student, "seed": self.seed,
                "train_fraction": fraction, "teacher": self.teacher, "kd_method": self.method,
                "arm": self.arm}  # fmt: skip

    def common_params(self) -> dict[str, Any]:
        return {"student": self.student, "seed": self.seed, "bits": 32, "sparsity": 0.0,
                "temperature": self.T, "alpha": self.alpha}  # fmt: skip


@dataclass(frozen=True)
class QATJob(Identity):
    """A point of the compression grid: a quantised (and maybe pruned) student, trained
    solo or with KD (``mode``) with a hardware-cost penalty of strength ``cost``
    (:mod:`jetdistill.compress.precision`; last, with a default, so the older positional
    spelling still builds a point without penalty); also the identity of its FPGA
    conversions (:attr:`HLS_DIR`, :attr:`RTL_DIR`)."""

    DIR: ClassVar[str] = paths.QAT_DIR
    HLS_DIR: ClassVar[str] = paths.HLS_DIR
    RTL_DIR: ClassVar[str] = paths.RTL_DIR
    FPGA_DIR: ClassVar[str] = paths.FPGA_DIR
    RECORD_NAMES: ClassVar[Mapping[str, str]] = {"mode": "qat_mode", "cost": "cost_penalty"}
    NUMBERS: ClassVar[tuple[str, ...]] = ("sparsity", "cost")
    student: str
    mode: str
    bits: int
    sparsity: str
    seed: int
    cost: str = "0"
    #: the arm (``compression.arm``) whose float students and jets the point starts from
    arm: str = DEFAULT_ARM

    def __post_init__(self) -> None:
        object.__setattr__(self, "sparsity", fmt_num(self.sparsity))
        # a record written before the penalty existed has no cost_penalty: no penalty
        object.__setattr__(self, "cost", fmt_num(0 if self.cost is None else self.cost))

    def _cost_part(self) -> str:
        """``-c<cost>`` in run names, none at 0: the names runs without penalty had before."""
        return "" if num(self.cost) == 0 else f"-c{self.cost}"

    def run_name(self) -> str:
        return (f"qat-{self.mode}-{self.student}-b{self.bits}-s{self.sparsity}{self._cost_part()}"
                f"{arm_part(self.arm)}-seed{self.seed}")  # fmt: skip

    def fpga_run_name(self, tool: str) -> str:
        """``hls-...``/``rtl-...``: the conversion runs of this point."""
        return (f"{tool}-{self.mode}-{self.student}-b{self.bits}-s{self.sparsity}"
                f"{self._cost_part()}{arm_part(self.arm)}")  # fmt: skip

    def fpga_tags(self) -> dict[str, str]:
        """Tags and record fields of this point's conversion jobs (text, as in the paths)."""
        return {k: str(v) for k, v in self.tags().items()}

    def common_params(self) -> dict[str, Any]:
        return {"student": self.student, "seed": self.seed, "bits": self.bits,
                "sparsity": self.sparsity}  # fmt: skip


@dataclass(frozen=True)
class HGQJob(Identity):
    """A point of the per-weight-precision frontier: a student's HGQ twin (learned bit width
    per weight and activation, :mod:`jetdistill.compress.hgq_models`) trained with the EBOPs
    weight ``beta``, with KD or solo (``mode``), or the peer recipe (``mode`` ``peer``: the
    JEDI-linear model, solo, from scratch); also the identity of its circuit
    (:attr:`RTL_DIR`)."""

    DIR: ClassVar[str] = paths.HGQ_DIR
    RTL_DIR: ClassVar[str] = paths.HGQ_RTL_DIR
    RECORD_NAMES: ClassVar[Mapping[str, str]] = {"mode": "hgq_mode", "beta": "ebops_beta"}
    NUMBERS: ClassVar[tuple[str, ...]] = ("beta",)
    student: str
    mode: str
    beta: str
    seed: int
    #: the arm (``compression.arm``) whose float students and jets the point starts from
    arm: str = DEFAULT_ARM

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", fmt_num(self.beta))

    def run_name(self) -> str:
        return f"hgq-{self.mode}-{self.student}-beta{self.beta}{arm_part(self.arm)}-seed{self.seed}"

    def fpga_run_name(self) -> str:
        return f"rtl-hgq-{self.mode}-{self.student}-beta{self.beta}{arm_part(self.arm)}-seed{self.seed}"

    def fpga_tags(self) -> dict[str, str]:
        """Tags and record fields of this point's circuit job (text, as in the paths)."""
        return {k: str(v) for k, v in self.tags().items()}

    def common_params(self) -> dict[str, Any]:
        """No one bit width or sparsity: each weight has its own (``bits`` none)."""
        return {"student": self.student, "seed": self.seed, "bits": None, "sparsity": None}


@dataclass(frozen=True)
class FloatFPGAJob(SoloJob):
    """The hls4ml conversion of a float (solo) student at one fixed-point precision."""

    DIR: ClassVar[str] = paths.HLS_FLOAT_DIR

    def run_name(self) -> str:
        return f"hls-float-{self.student}-s{self.seed}"

    def fpga_tags(self) -> dict[str, str]:
        """Tags and record fields of the conversion job (text, as in the paths)."""
        return {"model": self.student, "student": self.student, "seed": str(self.seed)}


#: learning-curve kind -> (identity class, the main run's directory, the fraction directory)
CURVE_KINDS: dict[str, tuple[type[Identity], str, str]] = {
    "teacher": (TeacherMember, paths.TEACHER_DIR, paths.LC_TEACHER_DIR),
    "solo": (SoloJob, paths.SOLO_DIR, paths.LC_SOLO_DIR),
    "kd": (KDJob, paths.KD_DIR, paths.LC_KD_DIR),
}


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: which curve, which job kind and the training fraction.

    ``fraction == "1"`` is the main run's own job (no extra training); other fractions are
    the ``*_fraction`` rules of rules/learning_curve.smk, whose paths add ``f{fraction}``.
    """

    curve: str
    kind: str  # teacher | solo | kd
    fraction: str
    job: TeacherMember | SoloJob | KDJob

    def wildcards(self) -> dict[str, Any]:
        w = self.job.wildcards()
        return w if self.fraction == "1" else {**w, "fraction": self.fraction}

    def path(self, results: str, *parts: str) -> str:
        _cls, main, curve = CURVE_KINDS[self.kind]
        return paths.fill(results, main if self.fraction == "1" else curve, *parts,
                          **self.wildcards())  # fmt: skip


def of_wildcards(wildcards: Mapping[str, Any]) -> Identity | None:
    """The identity a model job's wildcards name (by which wildcards it has), or None for
    a job that is not one model (aggregations, data)."""
    keys = set(wildcards)
    if {"beta", "mode"} <= keys:
        return HGQJob.from_wildcards(wildcards)
    if {"T", "alpha", "method"} <= keys:
        return KDJob.from_wildcards(wildcards)
    if {"bits", "mode", "sparsity"} <= keys:
        return QATJob.from_wildcards(wildcards)
    if {"teacher", "member"} <= keys:
        return TeacherMember.from_wildcards(wildcards)
    if {"student", "seed"} <= keys:
        return SoloJob.from_wildcards(wildcards)
    return None
