"""Shared fixtures: a copy of the workflow in a temporary directory and one end-to-end run.

The end-to-end run of config/test.yaml is session-scoped: the e2e, report, resume and
determinism tests all read from it, so CI runs the real DAG once.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jetdistill import runtime

REPO = Path(__file__).resolve().parents[1]
#: HGQ2 trains on Keras 3's PyTorch backend, as the workflow's jobs set it
os.environ.setdefault("KERAS_BACKEND", "torch")


def load_benchmark(name: str):
    """A script of benchmarks/ imported as a module (they are scripts, not a package);
    registered in sys.modules first, because their dataclasses look their module up."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, mod)
    spec.loader.exec_module(mod)
    return mod


def copy_workflow(dest: Path) -> Path:
    """Copy what `snakemake` needs (not results, not the venv) into ``dest``."""
    return runtime.copy_workflow(REPO, dest)


def clone_run(src: Path, dst: Path) -> Path:
    """Copy a finished workflow directory (results, .snakemake metadata, MLflow store).

    ``copy2`` keeps modification times, so Snakemake sees the copy as up to date.
    """
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture
def one_thread():
    """The CI/dev machine's 2 cores are shared: more intra-op threads only add contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JETDISTILL_INVOCATION_ID", None)
    env.pop("JETDISTILL_PARENT_RUN_ID", None)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_snakemake(
    workdir: Path, *args: str, timeout: int = 1800, check: bool = True
) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-12000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Snakemake DAG on config/test.yaml, run once per test session."""
    work = copy_workflow(tmp_path_factory.mktemp("e2e"))
    run_snakemake(work, "--cores", "2", "--configfile", "config/test.yaml")
    return work


def merge_config(a: dict, b: dict) -> dict:
    """``b`` merged over ``a`` the way Snakemake merges ``--configfile`` (dicts key by key,
    everything else replaced); ``a`` is not changed."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = (merge_config(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict)
                  else v)  # fmt: skip
    return out


def tiny_config_with(extra: dict) -> dict:
    """config.yaml <- test.yaml <- ``extra``: the tiny run's config with a change on top."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    base = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    test = yaml.safe_load((repo / "config" / "test.yaml").read_text())
    return merge_config(merge_config(base, test), extra)


#: The finished run on the user's own data (:func:`generic_workdir`): its config and data file.
GENERIC_CONFIG = "my.yaml"
GENERIC_DATA = "data/my_data.h5"


def write_generic_run_data(path: Path) -> Path:
    """The good data file of :func:`generic_workdir` (3 well-separated classes, float64)."""
    import numpy as np
    from conftest_data import write_generic_file

    rng = np.random.default_rng(0)
    y = np.arange(600) % 3
    x = rng.normal(0, 1.5, (3, 6))[y] + rng.normal(0, 1.0, (600, 6))
    return write_generic_file(path, x, y.astype(np.int64))


@pytest.fixture(scope="session")
def generic_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on generic data (the own-data example of config/README.md, one seed, 2
    epochs, no learning curve, a 1024-wide teacher), run once per test session: the tests that
    spoil the user's data file, the tracking store or a write over a finished run clone it
    (:func:`clone_run`)."""
    import yaml
    from test_own_data_example import readme_example

    work = copy_workflow(tmp_path_factory.mktemp("generic"))
    cfg = merge_config(yaml.safe_load(readme_example()), {
        "seeds": [0], "learning_curve": {"enabled": False},
        "training": {r: {"epochs": 2, "patience": 0} for r in ("teacher", "student", "distill")},
    })  # fmt: skip
    # a wide teacher: its soft targets (embeddings) outgrow the store, for the full-disk case
    cfg["models"]["big"]["hidden"] = [1024]
    (work / GENERIC_CONFIG).write_text(yaml.safe_dump(cfg))
    write_generic_run_data(work / GENERIC_DATA)
    run_snakemake(work, "--cores", "2", "--configfile", GENERIC_CONFIG)
    return work
