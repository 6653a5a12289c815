"""The library's layers (docs/ARCHITECTURE.md): who may import whom, from the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src/jetdistill"
STAGES = ("data", "learn", "compress", "fpga", "report", "tracking")

#: stage -> jetdistill packages/modules it must not import
FORBIDDEN = {
    "data": {"learn", "compress", "fpga", "report", "tracking", "jobs", "plan"},
    "learn": {"compress", "fpga", "report", "tracking", "jobs", "plan"},
    "compress": {"fpga", "report", "tracking", "jobs", "plan"},
    "fpga": {"report", "tracking", "jobs", "plan"},
    "report": {"jobs", "plan", "fpga", "compress"},
    "tracking": {"data", "learn", "compress", "fpga", "report", "jobs", "plan"},
}


def imported(path: Path) -> set[str]:
    """First component after ``jetdistill.`` of every import in a module (top level or not)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("jetdistill")
        ):
            parts = node.module.split(".")
            if len(parts) > 1:
                out.add(parts[1])
            else:  # from jetdistill import x
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("jetdistill."))
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_stage_imports_respect_the_layers(stage: str):
    bad = {
        str(p.relative_to(SRC)): sorted(imported(p) & FORBIDDEN[stage])
        for p in (SRC / stage).glob("*.py")
    }
    assert not {k: v for k, v in bad.items() if v}


def test_mlflow_is_imported_only_by_tracking_store():
    users = []
    for p in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
                users.append(str(p.relative_to(SRC)))
    assert set(users) == {"tracking/store.py"}
