"""Config values and names refused while Snakemake parses the workflow, before any job runs.

Snakemake removes a job's outputs before it runs the job and stores its params: a value that
passed ``snakemake -n`` and failed inside the job (a NaN split fraction or learning rate, an
empty pTHat window) cost a finished run that job's outputs, and made every job whose params
held it rerun once the config was fixed. Names that made two jobs share a log file, and
values that made two jobs one, passed silently. Each case here feeds one bad config, merged
over ``config/test.yaml`` as ``--configfile`` merges it, through the schema and
:func:`jetdistill.plan.check_config` (what the Snakefile runs), and asserts the message names
the full key and comes within :data:`FAST_S`. The few ``slow`` cases run the real
``snakemake`` over a finished run of ``config/test.yaml`` and assert that no output changes
and the fixed config plans nothing.

The ids (``CV..`` values, ``CN..`` names and repeated values, ``CE..`` the real runs) are the
rows of the section "Config: refused at parse time" of ``docs/bad_inputs.md``;
``test_docs_section_lists_every_case`` keeps them in step.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import clone_run, merge_config, run_snakemake, tiny_config_with
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DOC = REPO / "docs" / "bad_inputs.md"
SECTION = "## Config: refused at parse time"
#: seconds a bad config may take to be refused (parsing a whole workflow takes ~10 s here)
FAST_S = 60.0
NAN, INF = float("nan"), float("inf")


_config = tiny_config_with  # config.yaml <- test.yaml <- extra


def _check(extra: dict, root: Path) -> None:
    """What the Snakefile does before building the DAG: the schema, then plan.check_config."""
    cfg = _config(extra)
    validate(cfg, str(SCHEMA))
    plan.check_config(cfg, root=root)


def _refused(extra: dict, needles: list[str], root: Path) -> str:
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        _check(extra, root)
    assert time.monotonic() - t0 < FAST_S
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg}"
    return msg


MLP_X = {"type": "mlp", "view": "c4", "hidden": [8, 8]}
X_JEDI = {"members": [{"model": "jedinet", "seed": 0}]}

# id, bad input (merged over config/test.yaml), substrings the error must contain
VALUE_CASES: list[tuple[str, dict, list[str]]] = [
    ("CV01", {"data": {"splits": {"val": NAN}}},
     ["config: data.splits.val: expected a finite number >= 0 and <= 1, got nan"]),
    ("CV02", {"training": {"teacher": {"lr": NAN}}},
     ["config: training.teacher.lr: expected a finite number > 0 and <= 10, got nan"]),
    ("CV03", {"fpga": {"clock_period_ns": NAN}}, ["config: fpga.clock_period_ns", "> 0", "nan"]),
    ("CV04", {"distillation": {"temperatures": [1.0, NAN]}},
     ["config: distillation.temperatures[1]: expected a finite number > 0, got nan"]),
    ("CV05", {"distillation": {"alphas": [NAN]}}, ["config: distillation.alphas[0]", "nan"]),
    ("CV06", {"compression": {"sparsities": [0.0, NAN]}}, ["config: compression.sparsities[1]"]),
    ("CV07", {"compression": {"cost_penalties": [NAN]}},
     ["config: compression.cost_penalties[0]", "finite number >= 0"]),
    ("CV08", {"learning_curve": {"fractions": [NAN]}}, ["config: learning_curve.fractions[0]"]),
    ("CV09", {"data": {"generate": {"pt_max": INF}}},
     ["config: data.generate.pt_max: expected a finite number >= 0, got inf"]),
    ("CV10", {"models": {"mlp": {"dropout": NAN}}},
     ["config: models.mlp.dropout: expected a finite number, got nan"]),
    ("CV11", {"training": {"per_student": {"mlp": {"lr": NAN}}}},
     ["config: training.per_student.mlp.lr", "nan"]),
    ("CV12", {"distillation": {"loss_params": {"dkd": {"beta": -INF}}}},
     ["config: distillation.loss_params.dkd.beta", "-inf"]),
    ("CV13", {"data": {"generate": {"pthat_min": 1200.0, "pthat_max": 1000.0}}},
     [("config: data.generate.pthat_min: expected a pTHat window with pthat_min < pthat_max, "
      "got pthat_min 1200, pthat_max 1000")]),
    ("CV14", {"data": {"generate": {"pthat_min": 2000.0}}},
     ["config: data.generate.pthat_min", ("pthat_max null (centre of pt_min/pt_max -/+ "
      "pthat_halfwidth: 1050)")]),
    ("CV15", {"data": {"generate": {"pt_min": 1100.0, "pt_max": 900.0}}},
     ["config: data.generate.pt_min", "< pt_max"]),
]  # fmt: skip

NAME_CASES: list[tuple[str, dict, list[str]]] = [
    ("CN01", {"models": {"mlp\n": MLP_X}},
     ["config: models ('mlp\\n')", "in full", "line breaks"]),
    ("CN02", {"models": {"mlp_x": MLP_X}, "teachers": {"x_jedi": X_JEDI},
              "students": ["mlp", "mlp_x", "st"], "distillation": {"teachers": ["jedi", "x_jedi"]}},
     ["config: names (models 'mlp' / 'mlp_x', teachers 'x_jedi' / 'jedi')",
      "students/kd/mlp/x_jedi/hinton/T1_a0.1/", "students/kd/mlp_x/jedi/hinton/T1_a0.1/",
      "logs/distill_student/mlp_x_jedi_hinton_T1_a0.1_"]),
    ("CN03", {"data": {"source": "generic", "generic": {"class_names": ["sig", "sig", "bkg"]}}},
     [("config: data.generic.class_names: expected each value once, got "
      "data.generic.class_names[0] = 'sig' and data.generic.class_names[1] = 'sig'")]),
    ("CN04", {"distillation": {"temperatures": [4.0, 4.0000001]}},
     ["config: distillation.temperatures", "canonical text",
      ("distillation.temperatures[0] = 4.0 and distillation.temperatures[1] = 4.0000001 "
      "(both '4')")]),
    ("CN05", {"seeds": [0, 1, 0]}, ["config: seeds: expected each value once", "seeds[2] = 0"]),
    ("CN06", {"compression": {"seeds": [0, 0]}}, ["config: compression.seeds", "[1] = 0"]),
    ("CN07", {"teachers": {"jedi": {"members": [{"model": "jedinet", "seed": 1},
                                                {"model": "jedinet", "seed": 1}]}}},
     ["config: teachers.jedi.members", "members[0]", "members[1]"]),
    ("CN08", {"distillation": {"temperatures": [1.0, 4.0000001]}},
     ["config: distillation.temperatures[1]", "6 significant digits", "'4'", "4.0000001"]),
    ("CN09", {"students": ["mlp", "st", "mlp"]}, ["config: students", "students[2] = 'mlp'"]),
    ("CN10", {"compression": {"sparsities": [0.5, 0.50000001]}},
     ["config: compression.sparsities", "(both '0.5')"]),
    ("CN11", {"learning_curve": {"fractions": [0.5, 0.5]}}, ["config: learning_curve.fractions"]),
    ("CN12", {"fpga": {"targets": [
        {"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5, "seed": 0},
        {"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5, "seed": 0}]}},
     ["config: fpga.targets", "fpga.targets[0]", "fpga.targets[1]"]),
]  # fmt: skip


@pytest.mark.parametrize("case, extra, needles", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_bad_value_is_refused_naming_its_full_key(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _refused(extra, needles, tmp_path)


@pytest.mark.parametrize("case, extra, needles", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_ambiguous_name_or_repeated_value_is_refused_naming_both(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _refused(extra, needles, tmp_path)


def test_nan_passes_the_schema_alone() -> None:
    """Why the walk exists: JSON schema ranges are comparisons, and NaN fails none of them."""
    validate(_config({"training": {"teacher": {"lr": NAN}}, "data": {"splits": {"val": NAN}}}),
             str(SCHEMA))  # fmt: skip


def test_prepare_config_refuses_nan_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Snakefile's one call: the error comes before the job environment is set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JETDISTILL_INVOCATION_ID", raising=False)
    cfg = _config({"distillation": {"temperatures": [1.0, NAN]}})
    with pytest.raises(InputError, match=re.escape("distillation.temperatures[1]")):
        plan.prepare_config(cfg, None, lambda c: validate(c, str(SCHEMA)), schema_path=SCHEMA)
    assert "JETDISTILL_INVOCATION_ID" not in os.environ


def test_controls_are_accepted(tmp_path: Path) -> None:
    """What is meant to work still does: names with '_' that give distinct logs, a student
    beside a teacher of a similar name, explicit pTHat windows, distinct swept values."""
    _check({"models": {"mlp_x": MLP_X}, "students": ["mlp", "mlp_x", "st"]}, tmp_path)
    _check({"teachers": {"x_jedi": X_JEDI}, "distillation": {"teachers": ["jedi", "x_jedi"]}},
           tmp_path)  # fmt: skip
    _check({"data": {"generate": {"pthat_min": 950.0, "pthat_max": 1050.0}}}, tmp_path)
    _check({"distillation": {"temperatures": [1.0, 4.0, 4.5, 1e-3]}}, tmp_path)
    _check({"teachers": {"jedi": {"members": [{"model": "jedinet", "seed": 0},
                                              {"model": "mlp", "seed": 0}]}}}, tmp_path)  # fmt: skip


def test_shipped_configs_pass(tmp_path: Path) -> None:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name in ("test.yaml", "paper.yaml", "studies/chip.yaml", "studies/transfer.yaml"):
        cfg = merge_config(base, yaml.safe_load((REPO / "config" / name).read_text()) or {})
        validate(cfg, str(SCHEMA))
        plan.check_config(cfg, root=tmp_path)


# --------------------------------------------------------------------------- real runs
#: id, the bad config file (over config/test.yaml), the key the error must name
E2E_CASES: list[tuple[str, str, str]] = [
    ("CE01", "data:\n  splits:\n    val: .nan\n", "data.splits.val"),
    ("CE02", "training:\n  teacher:\n    lr: .nan\n", "training.teacher.lr"),
    ("CE03", "data:\n  generate:\n    pthat_min: 1200.0\n    pthat_max: 1000.0\n",
     "data.generate.pthat_min"),
    ("CE04", "distillation:\n  temperatures: [1.0, .nan]\n", "distillation.temperatures[1]"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``results/`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted((root / "results").rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_bad_config_over_a_finished_run_touches_nothing(e2e_workdir: Path, tmp_path: Path) -> None:
    """CE01-CE04 with ``snakemake -n`` over a finished run of config/test.yaml, CE01 also as
    a real run (what removed ``splits.h5`` before): each fails within 60 s naming the key, no
    output file changes, and the fixed config (config/test.yaml alone) plans nothing: no
    bad params reached Snakemake's metadata."""
    work = clone_run(e2e_workdir, tmp_path / "run")
    before = _snapshot(work)
    assert "results/data/splits.h5" in before
    for case, text, key in E2E_CASES:
        (work / f"{case}.yaml").write_text(text)
        runs = [["-n"], ["--cores", "1"]] if case == "CE01" else [["-n"]]
        for flags in runs:
            t0 = time.monotonic()
            proc = run_snakemake(work, *flags, "--configfile", "config/test.yaml", f"{case}.yaml",
                                 timeout=300, check=False)  # fmt: skip
            took = time.monotonic() - t0
            print(f"{case} {' '.join(flags)}: rc {proc.returncode} in {took:.1f} s")
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, f"{case}: {out[-2000:]}"
            assert f"config: {key}" in out, f"{case}: {out[-3000:]}"
            assert took < 60, f"{case}: {took:.0f} s"
        assert _snapshot(work) == before, case
    proc = run_snakemake(work, "-n", "--configfile", "config/test.yaml", timeout=300)
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]


# --------------------------------------------------------------------------- every log family
#: rules whose log names are a checked family's: the same wildcards, and their jobs a subset of
#: that family's (FPGA targets are points of the QAT grid; an HGQ circuit is an HGQ twin's)
COVERED_BY = {"convert_hls": "train_qat", "estimate_rtl": "train_qat",
              "estimate_hgq_rtl": "train_hgq"}  # fmt: skip
#: wildcards that hold a name the user chooses (may contain '_'); the others are numbers or a
#: fixed choice, so a log name with at most one such wildcard cannot be shared by two jobs
NAME_FIELDS = {"student", "teacher", "view", "method", "arm", "mode"}


def test_every_log_family_with_two_names_is_checked_for_shared_log_names() -> None:
    """``plan.checks_values._families`` is a hand-kept list of the rules whose log name joins
    several names with '_' (``paths.stem``): a rule added with such a log (as ``train_hgq``
    was) must be in it, or share a checked rule's wildcards, or it is not checked at all."""
    import string

    from jetdistill import paths
    from jetdistill.plan import checks_values

    found = re.findall(
        r'logfile\("(\w+)", P\.stem\(P\.(\w+)\)\)',
        "".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk"))),
    )
    assert len(found) >= 10, found
    templates = {rule: getattr(paths, name) for rule, name in found}

    def fields(rule: str) -> list[str]:
        stem = paths.stem(templates[rule])
        return [f for _, f, _, _ in string.Formatter().parse(stem) if f]

    checked = {rule for rule, _ in checks_values._families(tiny_config_with({}))}
    for rule in templates:
        if rule in checked:
            continue
        if rule in COVERED_BY:
            assert COVERED_BY[rule] in checked and fields(rule) == fields(COVERED_BY[rule]), rule
            continue
        names = [f for f in fields(rule) if f in NAME_FIELDS]
        assert len(names) <= 1, (
            f"rule {rule}: its log name joins {names}; add it to plan.checks_values._families"
        )


# --------------------------------------------------------------------------- the docs
def test_docs_section_lists_every_case() -> None:
    text = DOC.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    ids = sorted(c[0] for c in (*VALUE_CASES, *NAME_CASES, *E2E_CASES))
    rows = sorted(re.findall(r"^\| (C[VNE]\d\d) \|", section, flags=re.MULTILINE))
    assert rows == ids, set(rows) ^ set(ids)
