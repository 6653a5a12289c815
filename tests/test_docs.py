"""Docs that stay true: config/README.md documents exactly the schema's keys, the loss and
model registries are what the docs and the schema say, and config comments hold no results."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from jetdistill import plan
from jetdistill.learn.losses import LOSSES
from jetdistill.learn.models import MODEL_REGISTRY

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
README = (REPO / "config/README.md").read_text()

#: sections whose README table documents the keys of one item (``training.qat.lr`` -> ``lr``)
PER_ITEM = {"training"}


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return {**SCHEMA["definitions"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _keys(node: dict, prefix: str = "") -> dict[str, bool]:
    """Dotted key paths of a schema node -> whether the key is a leaf (objects recursed,
    arrays of objects and mappings of objects (``views.NAME``) through their items)."""
    node = _resolve(node)
    out: dict[str, bool] = {}
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        item = _resolve(node["items"])
        return _keys(item, prefix) if "properties" in item else out
    if isinstance(node.get("additionalProperties"), dict) and not node.get("properties"):
        item = _resolve(node["additionalProperties"])
        return _keys(item, prefix) if "properties" in item else out
    for key, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{key}"
        below = _keys(sub, path + ".")
        out[path] = not below
        out.update(below)
    return out


def schema_keys() -> dict[str, dict[str, bool]]:
    """Section (top-level object key) -> its key paths relative to the section (or to one
    item of a :data:`PER_ITEM` section) -> leaf or not."""
    out = {}
    for top, node in SCHEMA["properties"].items():
        keys = _keys(node)
        if top in PER_ITEM:
            keys = {k.split(".", 1)[1]: leaf for k, leaf in keys.items() if "." in k}
        out[top] = keys
    return out


def _sections() -> dict[str, str]:
    """README's ``## `name` `` sections (and "Top level") by name, with their subsections."""
    parts = re.split(r"^## ", README, flags=re.MULTILINE)
    out = {}
    for part in parts[1:]:
        title, _, body = part.partition("\n")
        m = re.match(r"`(\w+)`", title)
        out[m.group(1) if m else title.strip()] = body
    return out


def documented_keys(body: str) -> set[str]:
    """Keys named in the first column of a section's key tables.

    A cell names one or more keys in backticks; a bare name after a dotted one inherits its
    prefix (``splits.teacher_train` / `transfer``` documents ``splits.transfer``)."""
    keys: set[str] = set()
    in_key_table = False
    for line in body.splitlines():
        if re.match(r"^\| *key *\|", line):
            in_key_table = True
            continue
        if not line.startswith("|"):
            in_key_table = False
            continue
        if not in_key_table or line.startswith("|---"):
            continue
        cell = line.split("|")[1]
        prefix = ""
        for tok in re.findall(r"`([\w.]+)`", cell):
            if "." in tok:
                prefix = tok.rsplit(".", 1)[0] + "."
                keys.add(tok)
            else:
                keys.add(prefix + tok if prefix else tok)
    return keys


def _is_object(node: dict) -> bool:
    node = _resolve(node)
    return node.get("type") == "object" or "properties" in node


def test_every_schema_key_is_documented_and_every_documented_key_exists():
    sections = _sections()
    missing, unknown = [], []
    top_level = {k for k, n in SCHEMA["properties"].items() if not _is_object(n)}
    doc_top = documented_keys(sections["Top level"])
    missing += sorted(top_level - doc_top)
    unknown += [f"(top level) {k}" for k in sorted(doc_top - top_level)]
    for top, paths in schema_keys().items():
        if top in top_level:
            continue
        assert top in sections, f"config/README.md has no section ## `{top}`"
        body = sections[top]
        if top in ("models", "teachers"):  # documented in prose: each key named in backticks
            missing += [f"{top}.{k}" for k, leaf in sorted(paths.items())
                        if leaf and f"`{k.rsplit('.', 1)[-1]}`" not in body]  # fmt: skip
            continue
        doc = documented_keys(body)

        def covered(key: str, doc: set[str] = doc) -> bool:  # the key or a parent row
            parts = key.split(".")
            return any(".".join(parts[:i]) in doc for i in range(1, len(parts) + 1))

        missing += [f"{top}.{k}" for k, leaf in sorted(paths.items()) if leaf and not covered(k)]
        unknown += [f"{top}.{k}" for k in sorted(doc - set(paths))]
    assert not missing, f"schema keys not documented in config/README.md: {missing}"
    assert not unknown, f"config/README.md documents keys the schema does not have: {unknown}"


def test_the_doc_parser_sees_compound_cells():
    body = "| key | default | meaning |\n|---|---|---|\n| `splits.a` / `b` | 1 | x |\n| `c` | 2 | |"
    assert documented_keys(body) == {"splits.a", "splits.b", "c"}


# --------------------------------------------------------------------------- registries
def test_schema_lists_no_loss_names_or_loss_hyperparameters():
    """The loss registry is the only place: no enum of methods, no per-loss hyper-parameters
    (the schema only names ``hinton`` as the default method)."""
    text = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    for line in text.splitlines():
        if "enum" in line:
            assert not any(re.search(rf"\b{n}\b", line) for n in LOSSES), line
    assert "dkd_alpha" not in text and "dkd_beta" not in text


def test_every_registered_loss_is_documented_with_its_hyperparameters():
    body = _sections()["distillation"]
    for name, spec in LOSSES.items():
        if not spec.needs_teacher:
            continue  # ce: the solo baseline, not a KD method
        row = next((ln for ln in body.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert row, f"KD loss {name!r} has no row in config/README.md (### KD losses)"
        for key, default in spec.defaults.items():
            assert f"`{key}` ({default!r})" in row, (name, key)
        assert spec.summary, f"loss {name!r}: its docstring's first line describes it"


def test_default_configs_name_registered_losses_and_models():
    for path in [
        REPO / "config/config.yaml",
        REPO / "config/paper.yaml",
        REPO / "config/test.yaml",
    ]:
        cfg = yaml.safe_load(path.read_text())
        for m in (cfg.get("distillation") or {}).get("methods", []):
            assert m in LOSSES, (path.name, m)
        for name, spec in (cfg.get("models") or {}).items():
            assert spec["type"] in MODEL_REGISTRY, (path.name, name)


def test_every_registered_model_is_documented_with_its_hyperparameters():
    body = _sections()["models"]
    for name, entry in MODEL_REGISTRY.items():
        row = next((ln for ln in body.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert row, f"model type {name!r} has no row in config/README.md (## models)"
        for key in entry.spec:
            assert f"`{key}`" in row, (name, key)
        assert ("none" in row.split("|")[3]) == (entry.quant_twin is None), name


def test_quant_twins_resolve_and_schema_has_no_type_enum():
    import importlib

    for name, entry in MODEL_REGISTRY.items():
        if entry.quant_twin:
            module, func = entry.quant_twin.split(":")
            assert callable(getattr(importlib.import_module(module), func)), name
    assert "enum" not in SCHEMA["definitions"]["model"]["properties"]["type"]


def test_hls_settings_are_the_hls_config_fields():
    from jetdistill.fpga.hls import HLSConfig

    names = {f.name for f in fields(HLSConfig)} - {"default_precision", "project_name"}
    assert set(plan.HLS_KEYS) == names
    assert set(plan.HLS_KEYS) <= set(SCHEMA["properties"]["fpga"]["properties"])


# --------------------------------------------------------------------------- config comments
#: a measured figure: "±", points, a metric followed by a number, "x% against y%"
RESULT = re.compile(
    r"±|\bpts\b|\b(accuracy|AUC|agreement|errors?)\b[^#\n]{0,12}\d|\d[\d.]*\s*%\s*(against|vs)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "path", sorted([*REPO.glob("config/*.yaml"), *REPO.glob("config/examples/*.yaml")]), ids=str
)
def test_config_comments_hold_no_measured_results(path: Path):
    """Measured numbers go stale in comments: they belong in README/benchmarks."""
    bad = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        comment = line.partition("#")[2]
        if comment and RESULT.search(comment):
            bad.append(f"{path.name}:{i}: {line.strip()}")
    assert not bad, bad
