"""Docs that stay true: config/README.md documents exactly the schema's keys, the loss and
model registries are what the docs and the schema say, config comments hold no results, and
docs/ARCHITECTURE.md's layer diagram and module table are the package's imports and modules.

``python tests/test_docs.py --print`` prints the layer diagram derived from the imports
(``--write`` also puts it into docs/ARCHITECTURE.md) and names the modules its table lacks."""

from __future__ import annotations

import ast
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


# --------------------------------------------------------------------------- prose docs
#: the reference docs and configs a reader who was never here must be able to follow: no diary
#: words, no issue numbers, no commit hashes (history goes to CHANGELOG.md, by date)
PROSE_DOCS = sorted(
    {
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "benchmarks/README.md",
        *REPO.glob("docs/*.md"),
        *(p for p in REPO.glob("config/**/*") if p.suffix in (".md", ".yaml", ".yml")),
    }
)
DIARY = re.compile(
    r"\bsessions?\b"  # a work period of someone
    r"|\bissue[ -]?#?\d+"  # an issue tracker number
    r"|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b",  # a commit hash (letters and digits)
    re.IGNORECASE,
)
#: Markdown files whose relative links are checked
MARKDOWN = [p for p in PROSE_DOCS if p.suffix == ".md" and p.exists()]


def _diary_hits(path: Path) -> list[str]:
    hits = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        for m in DIARY.finditer(line):
            hits.append(f"{path.relative_to(REPO)}:{i}: {m.group(0)!r} in {line.strip()[:100]}")
    return hits


def test_docs_and_configs_hold_no_diary_words_issue_numbers_or_hashes():
    bad = [hit for path in PROSE_DOCS if path.exists() for hit in _diary_hits(path)]
    hint = "write what changed and why, not who worked on it when (dates go to CHANGELOG.md)"
    assert not bad, hint + ":\n" + "\n".join(bad)


def test_the_diary_check_sees_what_it_should():
    bad = ["in the third session", "see issue 21", "issue #3", "commit f017148", "Sessions"]
    good = ["the default run", "da4ml 0.6.0", "1,000,000 jets", "2026-12-06", "effaced"]
    assert all(DIARY.search(s) for s in bad), [s for s in bad if not DIARY.search(s)]
    assert not any(DIARY.search(s) for s in good), [s for s in good if DIARY.search(s)]


def test_readme_is_reference_not_a_diary():
    text = (REPO / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines; history goes to CHANGELOG.md"
    dated = [ln for ln in lines if re.match(r"^#+ .*\bUpdate 20", ln)]
    assert not dated, f"README.md has dated update sections (CHANGELOG.md holds them): {dated}"


def test_quick_start_commands_exist():
    text = (REPO / "README.md").read_text()
    for cmd in ("bash scripts/run.sh", "bash scripts/test.sh"):
        assert cmd in text, f"README.md lost its quick-start command {cmd!r}"
        assert (REPO / cmd.split()[1]).is_file(), cmd


def test_every_study_config_has_its_readme_with_its_command():
    studies = sorted(REPO.glob("config/studies/*.yaml"))
    assert studies
    for cfg in studies:
        doc = cfg.with_suffix(".md")
        assert doc.is_file(), f"{cfg.relative_to(REPO)} has no {doc.name} beside it"
        text = doc.read_text()
        assert f"--configfile config/studies/{cfg.name}" in text, f"{doc.name} lacks its command"
        assert doc.name in (REPO / "config/studies/README.md").read_text(), doc.name


def test_benchmarks_readme_documents_every_benchmark_script():
    text = (REPO / "benchmarks/README.md").read_text()
    scripts = [*sorted(REPO.glob("benchmarks/bench_*.py")), REPO / "benchmarks/compare_results.py"]
    headings = re.findall(r"^## `(\w+\.py)`", text, flags=re.MULTILINE)
    missing = [p.name for p in scripts if p.name not in headings]
    assert not missing, f"benchmarks/README.md has no section for {missing}"
    named = set(re.findall(r"benchmarks/(\w+\.py)", text)) | set(headings)
    absent = sorted(n for n in named if not (REPO / "benchmarks" / n).is_file())
    assert not absent, f"benchmarks/README.md names scripts that do not exist: {absent}"


def _outside_fences(text: str) -> list[str]:
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (lowercase, punctuation dropped,
    spaces to hyphens, ``-1``, ``-2`` for repeats)."""
    seen: dict[str, int] = {}
    for line in _outside_fences(text):
        m = re.match(r"^#{1,6} +(.*?) *#*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        if n:
            seen[f"{slug}-{n}"] = 1
    return set(seen)


def test_github_anchors_follow_githubs_rules():
    text = "# A `b.py`: c, d's e\n## A `b.py`: c, d's e\n```\n# not a heading\n```\n"
    assert github_anchors(text) == {"a-bpy-c-ds-e", "a-bpy-c-ds-e-1"}


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path):
    """Every relative link of the docs names an existing file, and an anchor one of its headings."""
    bad = []
    for line in _outside_fences(path.read_text()):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                bad.append(f"{target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in github_anchors(dest.read_text()):
                bad.append(f"{target}: no heading with that anchor")
    assert not bad, f"{path.relative_to(REPO)}: {bad}"


# --------------------------------------------------------------------------- layer diagram
# docs/ARCHITECTURE.md "Layers of the library" is derived from the import statements: its
# mermaid block is exactly what `python tests/test_docs.py --print` prints (`--write` puts it
# in place), and its module table lists every module. Nodes: a subpackage of jetdistill
# (`jobs`, `data`, ...), a top-level module (`plan`, `paths`, `cli`, ...), a group the diagram
# declares as `id[a, b, c]` (the shared basics), `rules` (Snakefile, rules/*.smk) and
# `scripts` (workflow/scripts/*.py). `a --> b & c` means a module of `a` imports one of `b`
# and one of `c`.
SRC = REPO / "src/jetdistill"
ARCH = REPO / "docs/ARCHITECTURE.md"
LAYERS_HEADING = "## Layers of the library"
FROM_IMPORT = re.compile(
    r"^\s*from\s+(jetdistill(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.MULTILINE
)
PLAIN_IMPORT = re.compile(r"^\s*import\s+(jetdistill\.[\w.]+)", re.MULTILINE)


def library_modules() -> list[str]:
    """Dotted names below ``jetdistill`` of every module (``data.layout``, ``plan``), without
    the ``__init__`` files (a package's ``__init__`` is counted as the package's own node)."""
    return sorted(
        ".".join(p.relative_to(SRC).with_suffix("").parts)
        for p in SRC.rglob("*.py")
        if p.name != "__init__.py"
    )


def _targets(module: str, names: list[str]) -> set[str]:
    """``from jetdistill.x import a, b`` -> the modules it reaches (``x.a`` if that is a module)."""
    rel = module.split(".")[1:]
    if not rel:  # from jetdistill import plan, paths
        return {n for n in names if n != "*"}
    mods = set(library_modules())
    subs = {".".join([*rel, n]) for n in names if ".".join([*rel, n]) in mods}
    return subs or {".".join(rel)}


def imports_of(text: str, package: tuple[str, ...] = ()) -> set[str]:
    """jetdistill modules (dotted, below ``jetdistill``) imported anywhere in a file.

    Python files are read with ``ast`` (relative imports resolved against ``package``);
    Snakemake files (not Python) by regular expressions on their import lines."""
    out: set[str] = set()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        for mod, names in FROM_IMPORT.findall(text):
            split = [n.split(" as ")[0].strip() for n in names.strip("() \n").split(",")]
            out |= _targets(mod, [n for n in split if n])
        out |= {m.split(".", 1)[1] for m in PLAIN_IMPORT.findall(text)}
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                mod = ".".join(["jetdistill", *base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if mod == "jetdistill" or mod.startswith("jetdistill."):
                out |= _targets(mod, [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("jetdistill.")}
    return out


def _doc_layers_block(doc: str) -> str:
    """The first mermaid block after the layers heading."""
    section = doc.split(LAYERS_HEADING, 1)[1]
    m = re.search(r"```mermaid\n(.*?)```", section, flags=re.DOTALL)
    assert m, f"{ARCH.name}: no mermaid block under {LAYERS_HEADING!r}"
    return m.group(1)


def doc_groups(block: str) -> dict[str, list[str]]:
    """Group nodes the diagram declares: ``base[errors, io, seeding]`` -> base: [...]."""
    return {
        gid: [m.strip() for m in members.split(",")]
        for gid, members in re.findall(
            r"^\s*(\w+)\[([\w.]+(?:, *[\w.]+)+)\]\s*$", block, re.MULTILINE
        )
    }


def doc_edges(block: str) -> set[tuple[str, str]]:
    """``a --> b & c`` lines of the diagram as (a, b), (a, c)."""
    edges = set()
    for src, dsts in re.findall(r"^\s*(\w+) --> (\w+(?: & \w+)*)\s*$", block, re.MULTILINE):
        edges |= {(src, d.strip()) for d in dsts.split("&")}
    return edges


def _node_of(module: str, groups: dict[str, list[str]]) -> str:
    for gid, members in groups.items():
        if module in members or module.split(".")[0] in members:
            return gid
    return module.split(".")[0]


def derived_edges(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Node -> node import edges of the library, the rules and the scripts (no self edges)."""
    files: list[tuple[str, Path, tuple[str, ...]]] = []
    for p in sorted(SRC.rglob("*.py")):
        parts = p.relative_to(SRC).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package itself (it only installs the warning filters)
        pkg = parts[:-1]
        module = ".".join(pkg if parts[-1] == "__init__" else parts)
        files.append((_node_of(module, groups), p, pkg))
    files += [("rules", p, ()) for p in [REPO / "Snakefile", *sorted(REPO.glob("rules/*.smk"))]]
    files += [("scripts", p, ()) for p in sorted(REPO.glob("workflow/scripts/*.py"))]
    edges = set()
    for src, path, pkg in files:
        for mod in imports_of(path.read_text(), pkg):
            dst = _node_of(mod, groups)
            if dst != src:
                edges.add((src, dst))
    return edges


#: node labels of the generated diagram (a node not named here is shown by its id)
LABELS = {
    "rules": "rules: Snakefile, rules/*.smk",
    "scripts": "scripts: workflow/scripts, one call each",
    "jobs": "jobs/: one module per rule group",
    "plan": "plan: config checks, job grid, job settings",
    "paths": "paths: every output path",
}
WORKFLOW_NODES = ("rules", "scripts")


def render_layers(groups: dict[str, list[str]]) -> str:
    """The mermaid block (without fences) the doc must hold, from the imports."""
    edges = derived_edges(groups)
    nodes = sorted({n for e in edges for n in e})

    def decl(n: str) -> str:
        if n in groups:
            return f"{n}[{', '.join(groups[n])}]"
        return f"{n}[{LABELS[n]}]" if n in LABELS else n

    lines = [
        "flowchart TB",
        "  %% generated: python tests/test_docs.py --write (tests/test_docs.py checks it)",
        "  subgraph workflow [workflow]",
        *[f"    {decl(n)}" for n in WORKFLOW_NODES if n in nodes],
        "  end",
        "  subgraph lib [src/jetdistill]",
        *[f"    {decl(n)}" for n in nodes if n not in WORKFLOW_NODES],
        "  end",
    ]
    order = [*WORKFLOW_NODES, *[n for n in nodes if n not in WORKFLOW_NODES]]
    for src in order:
        dsts = sorted(d for s, d in edges if s == src)
        if dsts:
            lines.append(f"  {src} --> {' & '.join(dsts)}")
    return "\n".join(lines) + "\n"


def documented_modules(doc: str) -> list[str]:
    """Modules named in the first column of the "Library modules" table; ``.x`` after
    ``pkg.y`` is ``pkg.x``, a bare name after a dotted one is a top-level module."""
    section = doc.split("## Library modules", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        package = ""
        for tok in re.findall(r"`([\w.]+)`", line.split("|")[1]):
            if tok.startswith("."):
                out.append(package + tok)
                continue
            package = tok.rsplit(".", 1)[0] if "." in tok else ""
            out.append(tok)
    return out


def test_layer_diagram_is_the_import_graph():
    doc = ARCH.read_text()
    block = _doc_layers_block(doc)
    groups = doc_groups(block)
    mods = set(library_modules())
    unknown = sorted(m for ms in groups.values() for m in ms if m not in mods)
    assert not unknown, f"{ARCH.name} groups name modules that do not exist: {unknown}"
    derived, drawn = derived_edges(groups), doc_edges(block)
    hint = "; regenerate it with `python tests/test_docs.py --write`"
    assert not derived - drawn, f"{ARCH.name} lacks import arrows {sorted(derived - drawn)}{hint}"
    assert not drawn - derived, (
        f"{ARCH.name} draws arrows with no import {sorted(drawn - derived)}{hint}"
    )
    assert block == render_layers(groups), f"{ARCH.name}: the layer diagram is not canonical{hint}"


def test_module_table_lists_every_module_once():
    listed = documented_modules(ARCH.read_text())
    mods = set(library_modules())
    dupes = sorted({m for m in listed if listed.count(m) > 1})
    assert not sorted(mods - set(listed)), (
        f"{ARCH.name} 'Library modules' lacks {sorted(mods - set(listed))}"
    )
    assert not sorted(set(listed) - mods), (
        f"{ARCH.name} lists modules that do not exist: {sorted(set(listed) - mods)}"
    )
    assert not dupes, f"{ARCH.name} lists modules twice: {dupes}"


def test_import_reader_sees_relative_smk_and_multiline_imports():
    smk = (
        "rule a:\n    run:\n        from jetdistill.jobs import invocation\n"
        "from jetdistill import (\n    paths as P,\n    plan,\n)\n"
    )
    assert imports_of(smk) == {"jobs.invocation", "paths", "plan"}
    py = "from .store import x\nfrom . import uris\nfrom ..errors import E\nimport jetdistill.io\n"
    assert imports_of(py, ("tracking",)) == {"tracking.store", "tracking.uris", "errors", "io"}


def write_layers() -> None:
    """Replace the doc's layer diagram by the derived one."""
    doc = ARCH.read_text()
    old = _doc_layers_block(doc)
    head, tail = doc.split(LAYERS_HEADING, 1)
    ARCH.write_text(head + LAYERS_HEADING + tail.replace(old, render_layers(doc_groups(old)), 1))


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        write_layers()
    doc = ARCH.read_text()
    print(render_layers(doc_groups(_doc_layers_block(doc))), end="")
    listed = set(documented_modules(doc))
    for m in library_modules():
        if m not in listed:
            print(f"# module table lacks: {m}", file=sys.stderr)
    for m in sorted(listed - set(library_modules())):
        print(f"# module table lists a module that does not exist: {m}", file=sys.stderr)
