"""Bad-input inventory: each case feeds ONE bad input and asserts an early error
that names the config field or the file (and what was expected).

Most cases call the library's check functions directly (the same ones the Snakefile runs
while parsing the config, or the data layer runs before any training); a few run the real
``snakemake`` where only the real thing shows the behaviour (dry run, the start-up probe,
credentials in Snakemake's own files). Nothing is mocked: the HDF5 files, the MLflow stores,
the servers on 127.0.0.1 and the file-size limit are real.

The table of cases and outcomes is ``docs/bad_inputs.md``; ``test_docs_table_lists_every_case``
keeps it in step with the ids used here.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml
from conftest import copy_workflow, merge_config, run_snakemake, snakemake_env, tiny_config_with
from conftest_data import generic_arrays, synthetic_jets, write_generic_file, write_hls4ml_file
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.data.layout import CLASS_NAMES, JET_FEATURES, LABEL_COLUMNS, PARTICLE_FEATURE_NAMES
from jetdistill.data.sources import open_source
from jetdistill.errors import InputError
from jetdistill.tracking import uris

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DOC = REPO / "docs" / "bad_inputs.md"
SECRET = "pa55-w0rd-xyz"


@pytest.fixture(autouse=True)
def _own_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs made here get their own invocation and parent (restored after each test)."""
    from jetdistill.tracking import config as tracking

    monkeypatch.setenv(tracking.ENV_INVOCATION, "")
    monkeypatch.setenv(tracking.ENV_PARENT_RUN, "")
    monkeypatch.setenv(uris.ENV_SECRET_URI, "")
    for name in (uris.ENV_USERNAME, uris.ENV_PASSWORD, uris.ENV_TOKEN):
        monkeypatch.delenv(name, raising=False)


def _server_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials where MLflow reads them (they may not be in tracking.uri)."""
    monkeypatch.setenv(uris.ENV_USERNAME, "bob")
    monkeypatch.setenv(uris.ENV_PASSWORD, SECRET)


# --------------------------------------------------------------------------- config cases
_config = tiny_config_with  # config.yaml <- test.yaml <- extra


def _check(extra: dict, root: Path) -> None:
    """What the Snakefile does before building the DAG (schema, then plan.check_config)."""
    cfg = _config(extra)
    validate(cfg, str(SCHEMA))
    plan.check_config(cfg, root=root)
    plan.source_files(cfg, cfg["results"])


MLP_TEACHER = {"teachers": {"jedi": {"members": [{"model": "mlp"}]}}}
#: config/test.yaml without its set student (generic data takes MLPs only)
MLP_STUDENTS_ONLY = {
    "students": ["mlp"], "compression": {"students": ["mlp"]},
    "fpga": {"targets": [{"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5, "seed": 0}]},
}  # fmt: skip

# id, bad input (merged over config/test.yaml), substrings the error must contain
CONFIG_CASES: list[tuple[str, dict, list[str]]] = [
    ("C01", {"unknown_key": 1}, ["unknown_key"]),
    ("C02", {"training": {"student": {"epoch": 3}}}, ["epoch", "training"]),
    ("C03", {"seeds": "0"}, ["seeds", "array"]),
    ("C04", {"data": {"splits": {"val": 1.5}}}, ["val", "1.5"]),
    ("C05", {"training": {"student": {"optimizer": "adam"}}}, ["optimizer", "adam"]),
    ("C06", {"training": {"teacher": {"epochs": 0}}}, ["epochs", "minimum"]),
    ("C07", {"models": {"mlp": {"hiden": [8]}}}, ["models.mlp.hiden", "hidden"]),
    ("C08", {"models": {"mlp": {"dropout": 1.5}}}, ["models.mlp.dropout", "[0, 1)"]),
    ("C09", {"models": {"jedinet": {"activation": "swish"}}}, ["models.jedinet.activation"]),
    ("C10", {"models": {"mlp": {"type": "cnn"}}}, ["type", "cnn"]),
    ("C11", {"students": ["ghost"]}, ["students[0]", "ghost"]),
    ("C12", {"models": {"mlp": {"view": "nope"}}}, ["models.mlp.view", "nope"]),
    ("C13", {"distillation": {"teachers": ["nobody"]}}, ["distillation.teachers[0]", "nobody"]),
    ("C14", {"views": {"c4": {"features": ["j1_ptrel", "j1_bogus"]}}}, ["views.c4.features", "j1_bogus"]),
    ("C15", {"data": {"splits": {"teacher_train": 0.6, "transfer": 0.4}}}, ["data.splits", "<= 1"]),
    ("C16", {"fpga": {"targets": [{"student": "mlp", "mode": "kd", "bits": 3, "sparsity": 0.5}]}},
     ["fpga.targets[0]", "compression grid"]),
    ("C17", {"compression": {"kd": {"temperature": 7.0}}}, ["compression.kd", "distillation"]),
    ("C18", {"distillation": {"enabled": False}}, ["compression.modes", "kd"]),
    ("C19", {"data": {"splits": {"exclude_from_transfer": ["higgs"]}}},
     ["data.splits.exclude_from_transfer", "higgs"]),
    ("C20", {"fpga": {"part": 'xcvu9p" [exec touch /tmp/pwned] "'}}, ["part", "does not match"]),
    ("C21", {"fpga": {"float_precision": 'ap_fixed<16,6>"; puts [exec id]; "'}},
     ["float_precision", "does not match"]),
    ("C22", {"models": {"my/model": {"type": "mlp", "view": "c4"}}}, ["my/model", "models"]),
    ("C23", {"results": "../outside"}, ["config: results", "../outside", "allow_results_outside_project"]),
    ("C24", {"results": "/etc/jetdistill"}, ["config: results", "/etc/jetdistill"]),
    ("C25", {"tracking": {"timeout_s": 0}}, ["timeout_s"]),
    ("C26", {"data": {"source": "hls4ml", "hls4ml": {"files": "/nonexistent/*_150p_*.h5"}}},
     ["data.hls4ml.files", "/nonexistent"]),
    ("C27", {"data": {"source": "generic", "generic": {"file": "/nonexistent/digits.h5"}}, **MLP_TEACHER,
             **MLP_STUDENTS_ONLY},
     ["/nonexistent/digits.h5", "data.generic.file"]),
    ("C28", {"data": {"source": "generic", "generic": {"file": str(REPO / "README.md")}}},
     ["models.jedinet.type", "mlp"]),
    ("C29", {"distillation": {"methods": ["hintn"]}}, ["distillation.methods[0]", "hintn", "hinton"]),
    ("C30", {"distillation": {"loss_params": {"dkd": {"gamma": 1.0}}}},
     ["distillation.loss_params.dkd", "gamma", "alpha, beta"]),
    ("C31", {"distillation": {"loss_params": {"dkd": {"beta": -1}}}},
     ["distillation.loss_params.dkd.beta", ">= 0"]),
    ("C32", {"compression": {"kd": {"method": "ce"}}}, ["compression.kd.method", "'ce'"]),
    ("Q01", {"compression": {"cost_penalties": [0.0, -0.1]}}, ["cost_penalties", "-0.1", "minimum of 0"]),
    ("Q02", {"compression": {"cost_penalties": [0.0, "big"]}}, ["cost_penalties", "'big'", "number"]),
    ("Q03", {"compression": {"cost_penalties": [float("inf")]}},
     ["config: compression.cost_penalties[0]", "finite number >= 0", "inf"]),
    ("Q04", {"fpga": {"targets": [{"student": "mlp", "mode": "kd", "bits": 6, "sparsity": 0.5,
                                   "cost_penalty": 0.3}]}},
     ["fpga.targets[0]", "compression grid", "cost_penalties", "'cost': '0.3'"]),
    ("Q05", {"compression": {"points": [{"student": "jedinet", "bits": 4, "sparsity": 0.9}]}},
     ["config: compression.points[0].student", "'jedinet'"]),
    ("C70", {"teachers": {"jedi": {"specialists": {"enabled": True, "groups": [["light_quark", "glun"]]}}}},
     ["config: teachers.jedi.specialists.groups", "class names among", "glun"]),
    ("C71", {"teachers": {"jedi": {"specialists": {"enabled": True, "n_groups": 3}}}},
     ["config: teachers.jedi.specialists.n_groups", "at most 2 disjoint groups", "3"]),
    ("C72", {"distillation": {"teachers": ["jedi_spec"]}}, ["distillation.teachers[0]", "'jedi_spec'"]),
    ("C73", {"compression": {"kd": {"method": "hint"}}}, ["compression.kd.method", "'hint'"]),
]  # fmt: skip


@pytest.mark.parametrize("case, extra, needles", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_fails_before_the_dag_naming_the_field(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    with pytest.raises(Exception) as info:  # schema errors are WorkflowErrors, others InputErrors
        _check(extra, tmp_path)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{case}: {needle!r} not in {msg[-1500:]}"


def test_config_checks_accept_the_shipped_configs_and_the_opt_in(tmp_path: Path) -> None:
    """Controls: the strict checks do not reject what is meant to work."""
    _check({}, tmp_path)
    _check({"results": "../outside", "allow_results_outside_project": True}, tmp_path)
    _check(
        {"fpga": {"part": "xcu250-figd2104-2L-e", "float_precision": "ap_fixed<18,8>"}}, tmp_path
    )
    for name in ("config.yaml", "paper.yaml"):
        cfg = merge_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
                     yaml.safe_load((REPO / "config" / name).read_text()))  # fmt: skip
        validate(cfg, str(SCHEMA))
        plan.check_config(cfg, root=tmp_path)


def test_hls_config_rejects_strings_that_would_reach_generated_files() -> None:
    """The library checks too, for callers that bypass the schema (notebooks, scripts)."""
    from jetdistill.fpga.hls import HLSConfig, convert_float

    with pytest.raises(InputError, match=r"fpga\.part: expected a string matching"):
        HLSConfig(part='xcvu9p" [exec touch /tmp/pwned] "')
    with pytest.raises(InputError, match=r"fpga\.float_precision"):
        convert_float(None, (4,), np.zeros((1, 4)), "/nonexistent", precision="ap_fixed<8,3>;x")


def test_bad_tracking_uri_names_the_field(tmp_path: Path) -> None:
    from jetdistill.tracking.config import TrackingConfig

    for uri in ("file:///tmp/mlruns", "mlruns", "sqlite:mlflow.db"):
        with pytest.raises(InputError, match=r"config: tracking\.uri"):
            TrackingConfig.from_dict({"uri": uri}, root=tmp_path)


# --------------------------------------------------------------------------- data cases
def _generic(tmp: Path, x: np.ndarray | None = None, y: np.ndarray | None = None, **kw) -> Path:
    gx, gy = generic_arrays(n=60, d=5, k=3)
    return write_generic_file(tmp / "data.h5", gx if x is None else x, gy if y is None else y, **kw)


def _hls(tmp: Path, cons: np.ndarray | None = None, jets: np.ndarray | None = None, **kw) -> Path:
    c, j = synthetic_jets(4, max_constituents=10)
    return write_hls4ml_file(tmp / "jets_150p_0.h5", c if cons is None else cons,
                             j if jets is None else jets, **kw)  # fmt: skip


def _nan_features(tmp: Path) -> Path:
    x, y = generic_arrays(n=60, d=5, k=3)
    x[17, 2] = np.nan
    return _generic(tmp, x, y)


def _inf_features(tmp: Path) -> Path:
    x, y = generic_arrays(n=60, d=5, k=3)
    x[33, 0] = np.inf
    return _generic(tmp, x, y)


def _empty(tmp: Path) -> Path:
    p = tmp / "data.h5"
    p.write_bytes(b"")
    return p


def _truncated(tmp: Path) -> Path:
    p = _generic(tmp)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _random_bytes(tmp: Path) -> Path:
    p = tmp / "data.h5"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def _corrupt_chunk(tmp: Path) -> Path:
    x, y = generic_arrays(n=4000, d=16, k=3)
    p = tmp / "data.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("features", data=x, compression="gzip", chunks=(400, 16))
        f.create_dataset("labels", data=y)
    raw = bytearray(p.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 2000] = bytes(2000)
    p.write_bytes(bytes(raw))
    return p


def _two_hot_jets(tmp: Path) -> Path:
    c, j = synthetic_jets(4, max_constituents=10)
    j[5, JET_FEATURES.index(LABEL_COLUMNS[0])] = 1.0
    j[5, JET_FEATURES.index(LABEL_COLUMNS[1])] = 1.0
    return _hls(tmp, c, j)


def _two_hot_generic(tmp: Path) -> Path:
    _, y = generic_arrays(n=60, d=5, k=3)
    onehot = np.eye(3, dtype=np.int64)[y]
    onehot[9] = [1, 1, 0]
    return _generic(tmp, None, onehot)


def _no_top_label(tmp: Path) -> Path:
    c, j = synthetic_jets(4, max_constituents=10)
    keep = [i for i, n in enumerate(JET_FEATURES) if n != "j_t"]
    return _hls(tmp, c, j[:, keep], jet_names=[JET_FEATURES[i] for i in keep])


def _nan_constituents(tmp: Path) -> Path:
    c, j = synthetic_jets(4, max_constituents=10)
    c[7, 0, 3] = np.nan
    return _hls(tmp, c, j)


# id, builder(tmp) -> file, source kind, data config, substrings (besides the file name)
DATA_CASES: list[tuple[str, Callable[[Path], Path], str, dict, list[str]]] = [
    ("D01", lambda t: t / "absent.h5", "generic", {}, ["an existing HDF5 file", "missing file"]),
    ("D02", _empty, "generic", {}, ["a readable HDF5 file"]),
    ("D03", _truncated, "generic", {}, ["a readable HDF5 file", "truncated"]),
    ("D04", _random_bytes, "generic", {}, ["a readable HDF5 file"]),
    ("D05", _corrupt_chunk, "generic", {}, ["dataset 'features'", "readable data"]),
    ("D06", _generic, "generic", {"generic": {"labels_key": "y"}}, ["dataset 'y'", "datasets ["]),
    ("D07", lambda t: _generic(t, np.arange(60.0), None), "generic", {},
     ["dataset 'features'", "shape (N, D, ...)"]),
    ("D08", lambda t: _generic(t, None, np.arange(50) % 3), "generic", {},
     ["dataset 'labels'", "matching 'features'"]),
    ("D09", _nan_features, "generic", {}, ["dataset 'features'", "finite", "row 17"]),
    ("D10", _inf_features, "generic", {}, ["dataset 'features'", "finite", "row 33"]),
    ("D11", lambda t: _generic(t, None, (np.arange(60) % 3) + 0.5), "generic", {},
     ["dataset 'labels'", "integer labels"]),
    ("D12", lambda t: _generic(t, None, np.where(np.arange(60) == 4, 5, np.arange(60) % 3)),
     "generic", {"generic": {"class_names": ["a", "b", "c"]}}, ["dataset 'labels'", "[0, 3)", "5 at row 4"]),
    ("D13", lambda t: _generic(t, None, np.arange(60) % 2), "generic",
     {"generic": {"class_names": ["a", "b", "c"]}}, ["class 'c'", "at least one"]),
    ("D14", _two_hot_generic, "generic", {}, ["dataset 'labels'", "one-hot", "row 9"]),
    ("D15", lambda t: _generic(t, np.array([["a"] * 5] * 60, dtype="S1"), None), "generic", {},
     ["dataset 'features'", "numeric"]),
    ("D16", _two_hot_jets, "hls4ml", {}, ["dataset 'jets'", "one-hot", "row 5"]),
    ("D17", lambda t: _hls(t, synthetic_jets(4, max_constituents=10)[0][:, :, 0]), "hls4ml", {},
     ["dataset 'jetConstituentList'", "shape"]),
    ("D18", _no_top_label, "hls4ml", {}, ["dataset 'jetFeatureNames'", "j_t"]),
    ("D19", _nan_constituents, "hls4ml", {}, ["dataset 'jetConstituentList'", "finite", "row 7"]),
    ("D20", lambda t: _hls(t, skip=["jets"]), "hls4ml", {}, ["dataset 'jets'"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, build, kind, data_cfg, needles", DATA_CASES, ids=[c[0] for c in DATA_CASES]
)
def test_bad_data_fails_when_opened_naming_the_file_and_dataset(
    case: str, build: Callable[[Path], Path], kind: str, data_cfg: dict, needles: list[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    path = build(tmp_path)
    with pytest.raises(InputError) as info:
        src = open_source(kind, [str(path)], data_cfg)
        src.labels()
        src.check_values()
    msg = str(info.value)
    assert str(path) in msg, f"{case}: file not named in {msg}"
    for needle in needles:
        assert needle in msg, f"{case}: {needle!r} not in {msg}"


# --------------------------------------------------------------------------- tracking
@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(5)
    for c in conns:
        c.close()
    srv.close()


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unresponsive_tracking_server_fails_the_probe_in_its_timeout(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jetdistill.tracking.config import TrackingConfig
    from jetdistill.tracking.probe import check as probe

    _server_password(monkeypatch)
    cfg = TrackingConfig.from_dict({"uri": f"http://127.0.0.1:{silent_server}", "timeout_s": 2})
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"config: tracking\.uri.*no answer after") as info:
        probe(cfg)
    assert time.monotonic() - t0 < 6
    assert "tracking.timeout_s" in str(info.value)
    assert SECRET not in str(info.value) and "bob" not in str(info.value)


def test_refused_tracking_port_fails_at_once() -> None:
    from jetdistill.tracking.config import TrackingConfig
    from jetdistill.tracking.probe import check as probe

    cfg = TrackingConfig.from_dict({"uri": f"http://127.0.0.1:{_refused_port()}", "timeout_s": 20})
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"config: tracking\.uri.*(Connection refused|Errno 111)"):
        probe(cfg)
    assert time.monotonic() - t0 < 3


def test_sqlite_store_that_cannot_be_created_fails_the_probe(tmp_path: Path) -> None:
    from jetdistill.tracking.config import TrackingConfig
    from jetdistill.tracking.probe import check as probe

    (tmp_path / "afile").write_text("not a folder")
    cfg = TrackingConfig.from_dict({"uri": "sqlite:///afile/mlflow.db"}, root=tmp_path)
    with pytest.raises(InputError, match=r"config: tracking\.uri.*afile is not a folder"):
        probe(cfg)


@pytest.mark.slow
def test_snakemake_with_unresponsive_server_fails_within_60s(
    silent_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real workflow: onstart probes the server once; no job starts, no 20-minute hang."""
    work = copy_workflow(tmp_path / "proj")
    _server_password(monkeypatch)  # snakemake_env() passes it on
    uri = f"http://127.0.0.1:{silent_server}"
    extra = tmp_path / "tracking.yaml"  # outside the project, like a user's own config file
    extra.write_text(yaml.safe_dump({"tracking": {"uri": uri, "timeout_s": 5}}))
    # what parsing the workflow alone costs on this machine now (a loaded CI box is slow)
    t0 = time.monotonic()
    run_snakemake(work, "-n", "--configfile", "config/test.yaml", str(extra), timeout=600)
    parse = time.monotonic() - t0
    t0 = time.monotonic()
    proc = run_snakemake(work, "--cores", "1", "--configfile", "config/test.yaml", str(extra),
                         timeout=600, check=False)  # fmt: skip
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "config: tracking.uri" in out and "no answer after" in out, out[-3000:]
    waited = float(re.search(r"no answer after ([0-9.]+) s", out).group(1))
    assert waited < 10, waited  # the probe's own bound (timeout_s: 5)
    # the whole run fails within 60 s on top of parsing the workflow (~15 s in all when idle)
    assert took - parse < 60, f"took {took:.0f} s, parsing alone {parse:.0f} s"
    assert SECRET not in out
    assert not (work / "results" / "data").exists()  # nothing ran


# --------------------------------------------------------------------------- slow tracking server
# (slow-loris) A server that answers one byte every 2 s: the per-read socket timeout never
# trips, so only a bound on each call's total time (jetdistill.tracking.deadline) fails it.
DRIBBLE_S = 2.0


@pytest.fixture
def dribbling_server() -> Iterator[int]:
    """127.0.0.1:PORT: reads each request, then answers a valid HTTP 200 one byte every 2 s."""
    body = b'{"experiment": {"experiment_id": "1", "name": "jetdistill"}}'
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def dribble(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(1 << 16)
            for i in range(len(answer)):
                if stop.wait(DRIBBLE_S):
                    return
                conn.sendall(answer[i : i + 1])

    def accept() -> None:
        while not stop.is_set():
            try:
                conn = srv.accept()[0]
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=dribble, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.parametrize("call", ["probe", "init_store", "job_run"])
def test_slow_tracking_server_fails_each_call_within_its_timeout(
    dribbling_server: int, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The onstart probe and the MLflow calls jobs make, each bounded by tracking.timeout_s."""
    from jetdistill.tracking import probe, runs, store
    from jetdistill.tracking.config import TrackingConfig

    timeout = 4.0  # > DRIBBLE_S: no single socket read ever waits this long
    _server_password(monkeypatch)
    cfg = TrackingConfig.from_dict(
        {"uri": f"http://127.0.0.1:{dribbling_server}", "timeout_s": timeout}
    )
    calls = {
        "probe": lambda: probe.check(cfg),
        "init_store": lambda: store.init_store(cfg),
        "job_run": lambda: runs.job_run(cfg, name="j", rule="r", wildcards={}, role="student",
                                        method="solo").__enter__(),
    }  # fmt: skip
    t0 = time.monotonic()
    with pytest.raises(
        InputError, match=r"config: tracking\.uri \(http://127\.0\.0\.1:\d+\).*no answer after"
    ) as info:
        calls[call]()
    took = time.monotonic() - t0
    assert took < timeout + 2, f"{call}: {took:.1f} s for tracking.timeout_s {timeout}"
    assert "tracking.timeout_s" in str(info.value)
    assert SECRET not in str(info.value)


# --------------------------------------------------------------------------- credentials
def test_credentials_are_masked_in_params_tags_artifacts_and_marker(tmp_path: Path) -> None:
    """Library level, on a real SQLite store: every way a URI reaches MLflow or a file."""
    from jetdistill.jobs.context import JobContext
    from jetdistill.jobs.invocation import init_tracking
    from jetdistill.tracking.config import TrackingConfig
    from jetdistill.tracking.query import download_artifacts, run_info
    from jetdistill.tracking.runs import job_run
    from jetdistill.tracking.store import init_store

    cfg = TrackingConfig.from_dict({"experiment": "mask"}, root=tmp_path)
    init_store(cfg)
    uri = f"http://alice:{SECRET}@tracking.example:5000"  # text a job logs, not tracking.uri
    config = {"tracking": {"uri": uri}, "note": f"see {uri}/#/experiments"}
    with job_run(cfg, name="mask", rule="r", wildcards={}, role="test", method="m",
                 tags={"source": uri}) as run:  # fmt: skip
        run.log_params(config)
        run.log_dict(config, "config/resolved_config.json")
        run_id = run.run_id
    info = run_info(cfg, run_id)
    dumped = json.dumps(info)
    assert SECRET not in dumped and "http://***@tracking.example" in dumped
    art = download_artifacts(cfg, run_id, "config/resolved_config.json", tmp_path / "dl")
    assert SECRET not in art.read_text() and "http://***@" in art.read_text()
    # the marker file written by rule init_tracking (a database user name is masked too)
    masked = TrackingConfig.from_dict({"uri": "postgresql://alice@db.example/mlflow"}).display_uri
    assert masked == "postgresql://***@db.example/mlflow"
    marker = tmp_path / "experiment.json"
    tracking_params = {"uri": cfg.uri, "experiment": "mask",
                       "artifact_location": str(tmp_path / "mlruns")}  # fmt: skip
    ctx = JobContext(rule="init_tracking", wildcards={}, input={},
                     output={"marker": str(marker)}, params={"tracking": tracking_params})  # fmt: skip
    init_tracking(ctx)
    assert json.loads(marker.read_text())["uri"] == cfg.uri


def test_protect_keeps_the_secret_in_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library caller that skipped the config checks: the config still gets the masked URI,
    and building the settings from it refuses it, naming MLflow's variables."""
    from jetdistill.tracking.config import TrackingConfig

    shown = uris.protect({"uri": f"http://alice:{SECRET}@127.0.0.1:5000", "experiment": "x"})
    assert shown["uri"] == "http://***@127.0.0.1:5000"
    assert os.environ[uris.ENV_SECRET_URI].endswith("@127.0.0.1:5000")
    with pytest.raises(
        InputError, match=r"config: tracking\.uri.*MLFLOW_TRACKING_PASSWORD"
    ) as info:
        TrackingConfig.from_dict(shown)
    assert SECRET not in str(info.value)


def _start_mlflow_server(workdir: Path, port: int) -> subprocess.Popen:
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "jetdistill.cli", "server", "--port", str(port),
         "--backend-store-uri", "sqlite:///srv.db", "--artifacts-destination", "./art",
         "--workers", "1"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _wait_for(url: str, proc: subprocess.Popen, log: Path, deadline_s: float = 600) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.slow
def test_password_in_tracking_uri_never_reaches_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real server, real Snakemake (the tracking rule and its parent run): a password in
    tracking.uri is refused; given as MLFLOW_TRACKING_PASSWORD it is in no file."""
    srv = tmp_path / "srv"
    srv.mkdir()
    port = _refused_port()
    server = _start_mlflow_server(srv, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}", server, srv / "server.log")
        work = copy_workflow(tmp_path / "proj")
        extra = tmp_path / "tracking.yaml"  # outside the project and the server's folder
        uri = f"http://alice:{SECRET}@127.0.0.1:{port}"
        extra.write_text(yaml.safe_dump({"tracking": {"uri": uri, "experiment": "masked"}}))
        proc = run_snakemake(work, "results/tracking/experiment.json", "--cores", "1",
                             "--configfile", "config/test.yaml", str(extra), timeout=600,
                             check=False)  # fmt: skip
        assert proc.returncode != 0 and "config: tracking.uri" in proc.stderr, proc.stderr[-3000:]
        assert SECRET not in proc.stdout + proc.stderr
        uri = f"http://127.0.0.1:{port}"
        extra.write_text(yaml.safe_dump({"tracking": {"uri": uri, "experiment": "masked"}}))
        monkeypatch.setenv(uris.ENV_USERNAME, "alice")  # snakemake_env() passes them on
        monkeypatch.setenv(uris.ENV_PASSWORD, SECRET)
        proc = run_snakemake(work, "results/tracking/experiment.json", "--cores", "1",
                             "--configfile", "config/test.yaml", str(extra), timeout=600)  # fmt: skip
        marker = json.loads((work / "results" / "tracking" / "experiment.json").read_text())
        assert marker["uri"] == uri
        assert SECRET not in proc.stdout + proc.stderr
        leaks = [p for p in [*work.rglob("*"), *srv.rglob("*")]
                 if p.is_file() and SECRET.encode() in p.read_bytes()]  # fmt: skip
        assert not leaks, leaks
    finally:
        _stop(server)


# --------------------------------------------------------------------------- killed runs
ORPHAN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from jetdistill.tracking import config, parents, runs, store
    cfg = config.TrackingConfig.from_dict({"experiment": "orphans"}, root=sys.argv[1])
    store.init_store(cfg)
    run_id = parents.ensure_parent_run(cfg, "killed-invocation")
    parents.claim_invocation(cfg, run_id)
    os.environ[config.ENV_INVOCATION] = "killed-invocation"
    os.environ[config.ENV_PARENT_RUN] = run_id
    with runs.job_run(cfg, name="job", rule="train", wildcards={}, role="student", method="solo"):
        print(run_id, flush=True)
        time.sleep(600)
    """
)


def test_new_invocation_fails_the_parent_run_of_a_killed_one(tmp_path: Path) -> None:
    from jetdistill.tracking import config, parents, query

    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True, env=snakemake_env())  # fmt: skip
    try:
        killed_parent = proc.stdout.readline().strip()
        assert killed_parent, "the predecessor did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    cfg = config.TrackingConfig.from_dict({"experiment": "orphans"}, root=tmp_path)
    assert query.run_info(cfg, killed_parent)["status"] == "RUNNING"
    current = parents.ensure_parent_run(cfg, "new-invocation")
    parents.claim_invocation(cfg, current)
    assert parents.close_orphaned_invocations(cfg, "new-invocation") == [killed_parent]
    parent = query.run_info(cfg, killed_parent)
    assert parent["status"] == "FAILED" and "new-invocation" in parent["tags"]["jetdistill.error"]
    jobs = query.search(cfg, invocation_id="killed-invocation")
    assert list(jobs["status"]) == ["FAILED"]
    assert query.run_info(cfg, current)["status"] == "RUNNING"  # the live one is left alone
    assert parents.close_orphaned_invocations(cfg, "new-invocation") == []


# --------------------------------------------------------------------------- copied project
def test_copied_project_writes_artifacts_into_its_own_mlruns(tmp_path: Path) -> None:
    from jetdistill.tracking import config, query, runs, store

    orig, copy_dir = tmp_path / "orig", tmp_path / "copy"
    orig.mkdir()
    cfg = config.TrackingConfig.from_dict({"experiment": "proj"}, root=orig)
    store.init_store(cfg)
    shutil.copytree(orig, copy_dir)
    cfg2 = config.TrackingConfig.from_dict({"experiment": "proj"}, root=copy_dir)
    store.init_store(cfg2)
    with runs.job_run(cfg2, name="j", rule="r", wildcards={}, role="test", method="m") as run:
        run.log_dict({"a": 1}, "x.json")
        run_id = run.run_id
    assert query.run_info(cfg2, run_id)["artifact_uri"].startswith((copy_dir / "mlruns").as_uri())
    assert list(copy_dir.rglob("x.json")) and not list(orig.rglob("x.json"))


def test_shared_store_pointing_elsewhere_needs_an_explicit_artifact_location(
    tmp_path: Path,
) -> None:
    from jetdistill.tracking import config, store

    db = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    store.init_store(config.TrackingConfig.from_dict({"uri": db}, root=tmp_path / "a"))
    with pytest.raises(InputError, match=r"config: tracking\.artifact_location"):
        store.init_store(config.TrackingConfig.from_dict({"uri": db}, root=tmp_path / "b"))
    explicit = str(tmp_path / "a" / "mlruns")
    store.init_store(config.TrackingConfig.from_dict({"uri": db, "artifact_location": explicit},
                                                     root=tmp_path / "b"))  # fmt: skip


# --------------------------------------------------------------------------- disk full
DISK_FULL_SCRIPT = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from jetdistill.data.prepare import prepare_view
    from jetdistill.runtime import setup_logging
    from jetdistill.data.splits import SPLITS
    d = Path(sys.argv[1])
    setup_logging(str(d / "job.log"))
    # a real write limit: files may not grow past 200 kB; writes beyond it fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    data = {"source": "generic", "generic": {"file": str(d / "in.h5")}, "splits": {"seed": 1}}
    outs = {s: d / "view" / f"{s}.h5" for s in SPLITS}
    prepare_view(d / "splits.h5", {"features": []}, outs, d / "view" / "norm.json", data,
                 view_name="v")
    """
)


def test_disk_full_while_writing_a_view_is_one_error_and_leaves_no_temp_files(
    tmp_path: Path,
) -> None:
    from jetdistill.data.splits import split_data

    x, y = generic_arrays(n=6000, d=32, k=3)
    write_generic_file(tmp_path / "in.h5", x, y)
    data = {
        "source": "generic",
        "generic": {"file": str(tmp_path / "in.h5")},
        "splits": {"seed": 1},
    }
    split_data([str(tmp_path / "in.h5")], tmp_path / "splits.h5", data)
    proc = subprocess.run([sys.executable, "-c", DISK_FULL_SCRIPT, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=snakemake_env(),
                          check=False)  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])  # not SIGSEGV (-11)
    log = (tmp_path / "job.log").read_text()
    errors = [ln for ln in log.splitlines() if "cannot write" in ln]
    assert len(errors) == 1, log[-3000:]
    assert re.search(r"cannot write .*/view/\w+\.h5: File too large", errors[0]), errors[0]
    assert "temporary file(s) removed" in errors[0]
    left = sorted(p.name for p in (tmp_path / "view").iterdir())
    assert not [n for n in left if ".tmp" in n], left
    assert not [n for n in left if n.endswith(".h5")], left


def test_write_error_outside_hdf5_is_an_output_write_error(tmp_path: Path) -> None:
    """Without HDF5 involved the error simply propagates (no exit), and the temp is gone."""
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from jetdistill.io import OutputWriteError, write_json
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            write_json(Path(sys.argv[1]) / "big.json", {"x": list(range(10000))})
        except OutputWriteError as exc:
            print("ERR", exc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env=snakemake_env(), check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ERR" in proc.stdout and "big.json" in proc.stdout and "File too large" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_of_a_killed_attempt_is_removed_on_the_next(tmp_path: Path) -> None:
    from jetdistill.io import write_json

    stale = tmp_path / ".out.json.abc123.tmp.json"
    stale.write_text("half")
    write_json(tmp_path / "out.json", {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


# --------------------------------------------------------------------------- real dry run
@pytest.mark.slow
def test_model_typo_fails_the_dry_run_and_a_rerun_keeps_earlier_outputs(tmp_path: Path) -> None:
    """``models.mlp.hiden`` fails `snakemake -n`; a real rerun fails before any job, so
    Snakemake never deletes the outputs of the job that would have trained the model."""
    work = copy_workflow(tmp_path / "proj")
    (work / "typo.yaml").write_text("models:\n  mlp:\n    hiden: [8]\n")
    earlier = work / "results" / "students" / "solo" / "mlp" / "seed0" / "model.pt"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"a good earlier model")
    for flags in (["-n"], ["--cores", "1"]):
        proc = run_snakemake(work, *flags, "--configfile", "config/test.yaml", "typo.yaml",
                             timeout=300, check=False)  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "models.mlp.hiden" in out and "hidden" in out, out[-3000:]
    assert earlier.read_bytes() == b"a good earlier model"


# --------------------------------------------------------------------------- the table
EXTRA_CASES = {
    "H01": test_hls_config_rejects_strings_that_would_reach_generated_files,
    "T01": test_unresponsive_tracking_server_fails_the_probe_in_its_timeout,
    "T02": test_refused_tracking_port_fails_at_once,
    "T03": test_sqlite_store_that_cannot_be_created_fails_the_probe,
    "T04": test_snakemake_with_unresponsive_server_fails_within_60s,
    "T05": test_bad_tracking_uri_names_the_field,
    "T06": test_credentials_are_masked_in_params_tags_artifacts_and_marker,
    "T07": test_password_in_tracking_uri_never_reaches_a_file,
    "T08": test_new_invocation_fails_the_parent_run_of_a_killed_one,
    "T09": test_copied_project_writes_artifacts_into_its_own_mlruns,
    "T10": test_shared_store_pointing_elsewhere_needs_an_explicit_artifact_location,
    "T11": test_slow_tracking_server_fails_each_call_within_its_timeout,
    "W01": test_disk_full_while_writing_a_view_is_one_error_and_leaves_no_temp_files,
    "W02": test_write_error_outside_hdf5_is_an_output_write_error,
    "W03": test_stale_temp_of_a_killed_attempt_is_removed_on_the_next,
    "S01": test_model_typo_fails_the_dry_run_and_a_rerun_keeps_earlier_outputs,
}


def test_docs_table_lists_every_case() -> None:
    ids = [c[0] for c in CONFIG_CASES] + [c[0] for c in DATA_CASES] + list(EXTRA_CASES)
    assert len(ids) == len(set(ids)) and len(ids) >= 25
    rows = re.findall(r"^\| `?([A-Z]\d\d)`? \|", DOC.read_text(), flags=re.MULTILINE)
    assert sorted(rows) == sorted(ids), set(rows) ^ set(ids)


# =========================================================================== tracking faults
# Data layout by name, view keys and strings checked while parsing, results without braces,
# --config numbers, output modes. Kept in one block; its ids join EXTRA_CASES at its end.
def _dropped_first_column(tmp: Path) -> Path:
    """The probe's file: j1_px removed from the array, particleFeatureNames left as it was
    (read by position, every j1_ptrel was a j1_eta)."""
    c, j = synthetic_jets(4, max_constituents=10)
    return _hls(tmp, c[..., 1:], j)


def _dropped_column_and_name(tmp: Path) -> Path:
    c, j = synthetic_jets(4, max_constituents=10)
    return _hls(tmp, c[..., 1:], j, particle_names=list(PARTICLE_FEATURE_NAMES[1:]))


def _renamed_column(tmp: Path) -> Path:
    names = ["j1_pt_rel" if n == "j1_ptrel" else n for n in PARTICLE_FEATURE_NAMES]
    return _hls(tmp, particle_names=names)


def _extra_column(tmp: Path) -> Path:
    """A 17th column for j1_pdgid (the layout names it but gives it no column)."""
    c, j = synthetic_jets(4, max_constituents=10)
    return _hls(tmp, np.concatenate([c, np.zeros((*c.shape[:2], 1))], axis=-1), j)


LAYOUT = "'jetConstituentList'"
# id, builder(tmp) -> file, substrings (besides the file name)
LAYOUT_CASES: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    ("D21", _dropped_first_column,
     [LAYOUT, "'particleFeatureNames'", "(20, 10, 15)", "15 columns for the 16 column names"]),
    ("D22", _dropped_column_and_name, [LAYOUT, "15 columns (the layout has 16)", "missing names ['j1_px']"]),
    ("D23", _renamed_column, [LAYOUT, "missing names ['j1_ptrel']", "extra names ['j1_pt_rel']"]),
    ("D24", _extra_column, [LAYOUT, "(20, 10, 17)", "17 columns for the 16 column names"]),
]  # fmt: skip


@pytest.mark.parametrize("case, build, needles", LAYOUT_CASES, ids=[c[0] for c in LAYOUT_CASES])
def test_file_off_the_layout_fails_split_data_naming_file_dataset_and_names(
    case: str, build: Callable[[Path], Path], needles: list[str], tmp_path: Path
) -> None:
    """The rule itself (``split_data``) refuses it before writing anything: features are read
    by name, and name i of particleFeatureNames must name column i."""
    from jetdistill.data.splits import split_data

    path = build(tmp_path)
    out = tmp_path / "splits.h5"
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        split_data([str(path)], out, {"source": "hls4ml"})
    assert time.monotonic() - t0 < 5
    msg = str(info.value)
    assert str(path) in msg, f"{case}: file not named in {msg}"
    for needle in needles:
        assert needle in msg, f"{case}: {needle!r} not in {msg}"
    assert not out.exists() and not list(tmp_path.glob(".splits.h5.*"))


# id, bad input (merged over config/test.yaml), substrings the error must contain
PARSE_CASES: list[tuple[str, dict, list[str]]] = [
    ("C33", {"views": {"c4": {"log_features": ["j1_ptrell"]}}},
     ["config: views.c4.log_features", "'j1_ptrell'", "did you mean 'j1_ptrel'?"]),
    ("C34", {"views": {"c4": {"log_features": ["j1_pt"]}}},
     ["config: views.c4.log_features", "among features", "j1_pt"]),
    ("C35", {"views": {"hlf": {"features": ["j_mass", "j_mass_mmdtt"]}}},
     ["config: views.hlf.features", "'j_mass_mmdtt'", "did you mean 'j_mass_mmdt'?"]),
    ("C36", {"data": {"splits": {"exclude_from_transfer": ["tpo"]}}},
     ["config: data.splits.exclude_from_transfer[0]", "'tpo'", "did you mean 'top'?"]),
    ("C37", {"data": {"generate": {"classes": ["W", "top"]}, "splits": {"exclude_from_transfer": ["W", "top"]}}},
     ["config: data.splits.exclude_from_transfer", "at least one of the classes"]),
    ("C38", {"results": "res{x}"}, ["config: results", "'{'", "wildcards", "'res{x}'"]),
    ("C39", {"fpga": {"part": "xcvu13p-flga2577-2-e\n"}},
     ["config: fpga.part", "line breaks", "block scalar", "'xcvu13p-flga2577-2-e\\n'"]),
    ("C40", {"fpga": {"float_precision": "ap_fixed<16,6>\n"}}, ["config: fpga.float_precision", "line breaks"]),
]  # fmt: skip


def _assert_parse_error(case: str, extra: dict, needles: list[str], tmp_path: Path) -> None:
    """``extra`` over config/test.yaml fails the parse-time checks (_check) with every needle in its message."""
    with pytest.raises(InputError) as info:
        _check(extra, tmp_path)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{case}: {needle!r} not in {msg[-1500:]}"


@pytest.mark.parametrize("case, extra, needles", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_bad_view_results_or_string_fails_while_parsing(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _assert_parse_error(case, extra, needles, tmp_path)


def test_excluding_a_class_from_the_transfer_set_is_accepted(tmp_path: Path) -> None:
    """``exclude_from_transfer: [top]`` was an AttributeError (plan.check_config reused the
    loop name ``c`` of ``cfg["compression"]``); now the config passes and the split has no
    top jet in the transfer set only."""
    from jetdistill.data.splits import SplitConfig, make_splits

    _check({"data": {"splits": {"exclude_from_transfer": ["top"]}}}, tmp_path)
    labels = np.repeat(np.arange(5), 40)
    splits = make_splits(labels, SplitConfig(exclude_from_transfer=("top",)), CLASS_NAMES)
    assert 4 not in labels[splits["transfer"]] and 4 in labels[splits["test"]]


def test_results_with_braces_is_refused_even_outside_the_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config: results"):
        _check({"results": "/tmp/{x}", "allow_results_outside_project": True}, tmp_path)


def _cli(*entries: str) -> tuple[dict, dict]:
    """(merged config, --config values) exactly as Snakemake parses ``--config`` entries."""
    from snakemake.cli import parse_config

    given = parse_config(list(entries))
    return merge_config(_config({}), given), given


def test_nested_config_numbers_are_coerced_as_the_schema_asks(tmp_path: Path) -> None:
    """``--config 'tracking={"timeout_s": 5}'`` reached the schema as '5' (Snakemake's
    BaseLoader keeps nested scalars strings); the schema now guides them back."""
    cfg, given = _cli('tracking={"timeout_s": 5}', 'compression={"bits": [4, 6]}',
                      'fpga={"yosys": false}', 'data={"generate": {"pthat_min": null}}')  # fmt: skip
    assert given["tracking"]["timeout_s"] == "5"  # what Snakemake hands over
    with pytest.raises(Exception, match=r"is not of type 'number'"):
        validate(copy.deepcopy(cfg), str(SCHEMA))
    changed = plan.coerce_cli_numbers(cfg, SCHEMA, given)
    assert sorted(changed) == ["compression.bits[0]", "compression.bits[1]",
                               "data.generate.pthat_min", "fpga.yosys", "tracking.timeout_s"]  # fmt: skip
    assert cfg["tracking"]["timeout_s"] == 5 and cfg["compression"]["bits"] == [4, 6]
    assert cfg["fpga"]["yosys"] is False and cfg["data"]["generate"]["pthat_min"] is None
    validate(cfg, str(SCHEMA))
    plan.check_config(cfg, root=tmp_path)
    # a string the schema wants stays one; a config file's own quoted "5" is not touched
    cfg, given = _cli('data={"splits": {"exclude_from_transfer": ["3"]}}')
    assert plan.coerce_cli_numbers(cfg, SCHEMA, given) == []
    cfg = _config({"tracking": {"timeout_s": "5"}})
    assert plan.coerce_cli_numbers(cfg, SCHEMA, {}) == []


def test_nested_config_number_without_a_schema_type_says_to_use_a_file() -> None:
    cfg, given = _cli('models={"mlp": {"dropout": 0.1}}')
    with pytest.raises(InputError) as info:
        plan.coerce_cli_numbers(cfg, SCHEMA, given)
    msg = str(info.value)
    assert "config: models.mlp.dropout (from --config)" in msg and "--configfile" in msg


@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_outputs_get_the_mode_the_umask_gives(
    umask: int, file_mode: int, dir_mode: int, tmp_path: Path
) -> None:
    """mkstemp made every output 0600 (113 files of a test run); JSON, HDF5 and the folders
    made for them now get what ``open()``/``mkdir`` give under the umask."""
    from jetdistill.data.splits import write_splits
    from jetdistill.io import write_json

    before = os.umask(umask)
    try:
        write_json(tmp_path / "new" / "dir" / "m.json", {"a": 1})
        splits = {s: np.arange(2) for s in plan.SPLITS}
        write_splits(tmp_path / "s" / "splits.h5", splits, np.zeros(2), [], ["a"], "generic")
    finally:
        os.umask(before)
    for p in (tmp_path / "new" / "dir" / "m.json", tmp_path / "s" / "splits.h5"):
        assert p.stat().st_mode & 0o777 == file_mode, (p, oct(p.stat().st_mode))
    for d in (tmp_path / "new", tmp_path / "new" / "dir", tmp_path / "s"):
        assert d.stat().st_mode & 0o777 == dir_mode, (d, oct(d.stat().st_mode))


@pytest.mark.slow
def test_view_typo_fails_the_dry_run_and_a_rerun_keeps_the_views_files(tmp_path: Path) -> None:
    """``views.c4.log_features: [j1_ptrell]`` passed `snakemake -n`, and a rerun over a finished
    run deleted the view's five files before prepare_view failed; now both stop while parsing."""
    work = copy_workflow(tmp_path / "proj")
    (work / "typo.yaml").write_text("views:\n  c4:\n    log_features: [j1_ptrell]\n")
    view = work / "results" / "data" / "views" / "c4"
    view.mkdir(parents=True)
    names = [*(f"{s}.h5" for s in plan.SPLITS), "norm.json"]
    for n in names:
        (view / n).write_text(f"a good earlier {n}")
    for flags in (["-n"], ["--cores", "1"]):
        t0 = time.monotonic()
        proc = run_snakemake(work, *flags, "--configfile", "config/test.yaml", "typo.yaml",
                             timeout=300, check=False)  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "views.c4.log_features" in out and "did you mean 'j1_ptrel'?" in out, out[-3000:]
        assert time.monotonic() - t0 < 60
    assert [(view / n).read_text() for n in names] == [f"a good earlier {n}" for n in names]


@pytest.mark.slow
def test_nested_config_numbers_reach_the_real_dry_run(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "proj")
    proc = run_snakemake(work, "-n", "--configfile", "config/test.yaml",
                         "--config", 'tracking={"timeout_s": 5}', timeout=300)  # fmt: skip
    assert "is not of type" not in proc.stdout + proc.stderr
    proc = run_snakemake(work, "-n", "--configfile", "config/test.yaml",
                         "--config", 'models={"mlp": {"dropout": 0.1}}', timeout=300, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "models.mlp.dropout (from --config)" in proc.stdout + proc.stderr


EXTRA_CASES.update(
    {c[0]: test_file_off_the_layout_fails_split_data_naming_file_dataset_and_names
     for c in LAYOUT_CASES}
    | {c[0]: test_bad_view_results_or_string_fails_while_parsing for c in PARSE_CASES}
    | {
        "C41": test_nested_config_numbers_are_coerced_as_the_schema_asks,
        "C42": test_nested_config_number_without_a_schema_type_says_to_use_a_file,
        "C43": test_excluding_a_class_from_the_transfer_set_is_accepted,
        "W04": test_outputs_get_the_mode_the_umask_gives,
        "S02": test_view_typo_fails_the_dry_run_and_a_rerun_keeps_the_views_files,
    }
)  # fmt: skip


# =========================================================================== chip targets
# Chip targets whose model type has no quantised twin or no converter, refused while parsing
# (the supported types come from the model registry's quant_twin / chip flags), and tracer
# errors that name the op and the model. Its ids join EXTRA_CASES at its end.
DS = {"type": "deepsets", "view": "c4", "phi_hidden": [8], "rho_hidden": [8]}
SETM = {"type": "set", "view": "c4", "phi_hidden": [8], "context_widths": [8], "rho_hidden": [8],
        "pooling": "sum", "context_pooling": "sum"}  # fmt: skip


def _chip_target(student: str) -> dict:
    return {"students": ["mlp", student], "compression": {"students": ["mlp", student]},
            "fpga": {"targets": [{"student": student, "mode": "kd", "bits": 6, "sparsity": 0.5,
                                  "seed": 0}]}}  # fmt: skip


# id, bad input (merged over config/test.yaml), substrings the error must contain
CHIP_CASES: list[tuple[str, dict, list[str]]] = [
    ("C44", {"students": ["mlp", "jedinet"], "compression": {"students": ["mlp", "jedinet"]}},
     ["config: compression.students[1]", "quantised twin", "'mlp'", "'set'",
      "'jedinet' (models.jedinet.type: interaction_network)"]),
    ("C45", merge_config(_chip_target("st"), {"models": {"st": {"type": "set", "view": "c4", "context_pooling": "mean"}}}),
     ["config: models.st.context_pooling (fpga.targets[0])", "sum or max on a chip target",
      "divides by their count: a divider", "mask_padding: false", "got 'mean'"]),
    ("C46", merge_config(_chip_target("st"), {"models": {"st": SETM}, "fpga": {"rtl": False}}),
     ["config: fpga.targets[0].student", "rtl is off: fpga.rtl is false", "'st' (models.st.type: set)"]),
    ("C47", {"models": {"st": SETM}, "students": ["mlp", "st"], "fpga": {"float_students": ["st"]}},
     ["config: fpga.float_students[0]", "converts with hls4ml (['mlp'])", "'st' (models.st.type: set)"]),
    ("C49", merge_config(_chip_target("ds"), {"models": {"ds": DS | {"view": "c3"}}, "views": {"c3": {
        "n_constituents": 3, "features": ["j1_ptrel", "j1_etarel", "j1_phirel"]}}}),
     ["config: models.ds.pooling (fpga.targets[0])", "a mean over 3 constituents", "power-of-two"]),
    ("C50", {"fpga": {"frontier_seeds": [0, 3]}},
     ["config: fpga.frontier_seeds[1]", "seeds among compression.seeds [0]", "got 3"]),
]  # fmt: skip


@pytest.mark.parametrize("case, extra, needles", CHIP_CASES, ids=[c[0] for c in CHIP_CASES])
def test_chip_target_without_a_twin_or_converter_fails_while_parsing(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _assert_parse_error(case, extra, needles, tmp_path)


def test_set_student_is_a_chip_target_through_rtl_only(tmp_path: Path) -> None:
    """The registry's flags decide: the set student reaches the chip through da4ml RTL, the
    MLP through hls4ml and RTL (plan.fpga_backends is what the DAG should build)."""
    extra = merge_config(_chip_target("st"), {"models": {"st": SETM}})
    _check(extra, tmp_path)
    cfg = _config(extra)
    assert plan.fpga_backends(cfg, "st") == ("rtl",)
    assert plan.fpga_backends(cfg, "mlp") == ("hls4ml", "rtl")
    assert plan.chip_model_types() == ["deepsets", "mlp", "set"]
    assert plan.chip_model_types("hls4ml") == ["mlp"]
    # Deep Sets over 4 constituents: its default mean pool is a shift
    _check(merge_config(_chip_target("ds"), {"models": {"ds": DS}}), tmp_path)


def test_rtl_op_the_tracer_does_not_know_names_the_op_and_the_model(tmp_path: Path) -> None:
    """A real Brevitas graph with a Tanh (no da4ml handler) through the real RTL entry point."""
    import torch
    from brevitas.nn import QuantIdentity, QuantLinear
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias
    from torch import nn

    from jetdistill.fpga import rtl
    from jetdistill.fpga.qonnx import UnsupportedGraphError

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Flatten(),
        QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        QuantLinear(
            12, 4, bias=True, weight_quant=Int8WeightPerTensorFixedPoint, bias_quant=Int16Bias
        ),
        nn.Tanh(),
    ).eval()
    x = np.random.default_rng(0).normal(size=(20, 4, 3)).astype(np.float32)
    t0 = time.monotonic()
    with pytest.raises(UnsupportedGraphError) as info:
        rtl.estimate_rtl(net, (4, 3), x, tmp_path, yosys=False, verilator=False, model_name="tanh4")
    assert time.monotonic() - t0 < 30
    msg = str(info.value)
    assert "ONNX op Tanh" in msg and "of Sequential 'tanh4'" in msg and "@register_rtl_op" in msg


def test_masked_mean_set_student_rtl_names_the_divider_and_the_model(tmp_path: Path) -> None:
    import torch

    from jetdistill.compress.quant import build_quant_model, calibrate
    from jetdistill.fpga import rtl
    from jetdistill.fpga.qonnx import UnsupportedGraphError

    spec = {k: v for k, v in SETM.items() if k != "view"} | {
        "pooling": "mean",
        "context_pooling": "mean",
    }
    torch.manual_seed(0)
    q = calibrate(build_quant_model(spec, (4, 3), 5, 5, 8), torch.randn(64, 4, 3))
    x = np.random.default_rng(0).normal(size=(20, 4, 3)).astype(np.float32)
    with pytest.raises(UnsupportedGraphError) as info:
        rtl.estimate_rtl(q, (4, 3), x, tmp_path, yosys=False, verilator=False, model_name="st")
    msg = str(info.value)
    assert "Div node" in msg and "QuantSetStudent 'st'" in msg and "needs a divider" in msg


EXTRA_CASES.update(
    {c[0]: test_chip_target_without_a_twin_or_converter_fails_while_parsing for c in CHIP_CASES}
    | {
        "C48": test_set_student_is_a_chip_target_through_rtl_only,
        "R01": test_rtl_op_the_tracer_does_not_know_names_the_op_and_the_model,
        "R02": test_masked_mean_set_student_rtl_names_the_divider_and_the_model,
    }
)  # fmt: skip


# =========================================================================== transfer set and specialists
# The students' transfer set (distillation.transfer_splits) and the KD/solo training budget,
# checked while parsing (jetdistill.plan.check_transfer_splits / check_student_budget).
def _splits(*names: str, **data_splits: object) -> dict:
    extra: dict = {"distillation": {"transfer_splits": list(names)}}
    if data_splits:
        extra["data"] = {"splits": data_splits}
    return extra


# id, bad input (merged over config/test.yaml), substrings the error must contain
KD_CASES: list[tuple[str, dict, list[str]]] = [
    ("K01", _splits("transfer", "val"),
     ["config: distillation.transfer_splits[1]", "would leak", "early stopping watches it", "'val'"]),
    ("K02", _splits("test"),
     ["config: distillation.transfer_splits[0]", "would leak", "the reported accuracy", "'test'"]),
    ("K03", _splits("transfer", "teacher_train", "transfer"),
     ["config: distillation.transfer_splits", "each split at most once", "repeated: ['transfer']"]),
    ("K04", _splits("transfer", "teacher_trian"),
     ["config: distillation.transfer_splits[1]", "'teacher_trian'", "did you mean 'teacher_train'?"]),
    ("K05", _splits("transfer", "teacher_train", overlap_transfer_with_teacher=True),
     ["config: distillation.transfer_splits", "overlap_transfer_with_teacher", "jets would repeat"]),
    ("K06", _splits("transfer", "teacher_train", exclude_from_transfer=["top"]),
     ["config: distillation.transfer_splits", "exclude_from_transfer", "excluded classes ['top']"]),
    ("K07", {"training": {"distill": {"epochs": 8}}},
     ["config: training.distill.epochs", "same value as training.student.epochs (2)", "got 8"]),
    ("K08", {"training": {"student": {"patience": 3}}},
     ["config: training.distill.patience", "same value as training.student.patience (3)", "got 0"]),
    ("K11", {"training": {"per_student": {"mpl": {"epochs": 3}}}},
     ["config: training.per_student.mpl", "expected one of [", "got 'mpl' (did you mean 'mlp'?)"]),
]  # fmt: skip


@pytest.mark.parametrize("case, extra, needles", KD_CASES, ids=[c[0] for c in KD_CASES])
def test_bad_transfer_set_or_unequal_budget_fails_while_parsing(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _assert_parse_error(case, extra, needles, tmp_path)


def test_empty_transfer_set_is_a_schema_error(tmp_path: Path) -> None:
    """K09: ``transfer_splits: []`` (the schema's minItems, before any plan check)."""
    with pytest.raises(Exception) as info:
        _check(_splits(), tmp_path)
    assert "transfer_splits" in str(info.value) and "[]" in str(info.value)


def test_transfer_and_teacher_train_are_accepted(tmp_path: Path) -> None:
    """K10: the two valid choices parse; disabled distillation skips the budget check."""
    _check(_splits("transfer", "teacher_train"), tmp_path)
    _check(_splits("teacher_train"), tmp_path)
    _check({"distillation": {"enabled": False}, "compression": {"enabled": False},
            "fpga": {"enabled": False}, "learning_curve": {"enabled": False},
            "training": {"distill": {"epochs": 9}}}, tmp_path)  # fmt: skip


EXTRA_CASES.update(
    {c[0]: test_bad_transfer_set_or_unequal_budget_fails_while_parsing for c in KD_CASES}
    | {"K09": test_empty_transfer_set_is_a_schema_error,
       "K10": test_transfer_and_teacher_train_are_accepted}
)  # fmt: skip


# --------------------------------------------------------------------------- consistent views
# id, bad input (merged over config/test.yaml), substrings the error must contain
VIEWS_CASES: list[tuple[str, dict, list[str]]] = [
    ("V01", {"distillation": {"views": {"k": 2, "transforms": ["eta_flp"]}}},
     ["config: distillation.views.transforms", "'eta_flp'", "did you mean 'eta_flip'"]),
    ("V02", {"distillation": {"views": {"k": 2}}, "students": ["mlp", "hlf_mlp"], "baselines": []},
     ["config: distillation.views (model hlf_mlp, view hlf)", "constituent-level views only",
      "level 'jet'"]),
    ("V03", {"distillation": {"views": {"k": 2, "transforms": [], "pt_smear": 0.0}}},
     ["config: distillation.views", "at least one transform or pt_smear > 0"]),
]  # fmt: skip


@pytest.mark.parametrize("case, extra, needles", VIEWS_CASES, ids=[c[0] for c in VIEWS_CASES])
def test_bad_views_fail_while_parsing(
    case: str, extra: dict, needles: list[str], tmp_path: Path
) -> None:
    _assert_parse_error(case, extra, needles, tmp_path)


def test_views_off_adds_no_param_and_on_reaches_the_right_jobs(tmp_path: Path) -> None:
    """k = 0 (the default) adds nothing a rule compares (no rerun of an existing run); k > 0
    gives the soft targets, the KD students and the students' solo twins (not the baselines)
    the same views settings."""
    cfg = _config({})
    assert plan.views_settings(cfg) is None
    assert plan.soft_target_params(cfg) == {} and plan.solo_params(cfg) == {}
    cfg = _config({"distillation": {"views": {"k": 3, "transforms": ["phi_flip"]}}})
    _check({"distillation": {"views": {"k": 3, "transforms": ["phi_flip"]}}}, tmp_path)
    views = plan.views_settings(cfg)
    assert views == {"k": 3, "transforms": ["phi_flip"], "pt_smear": 0.0, "seed": 0}
    cfg["data"]["generate"].setdefault("classes", list(CLASS_NAMES))  # a schema default
    assert plan.soft_target_params(cfg)["views"] == views
    job = next(iter(plan.kd_jobs(cfg)))
    assert plan.kd_job_settings(cfg, job)["views"] == views
    solo = plan.solo_params(cfg)["views"]
    assert solo(SimpleNamespace(student="mlp")) == views
    assert solo(SimpleNamespace(student="hlf_mlp")) is None


# =========================================================================== unlabelled jets
# distillation.unlabelled (unlabelled transfer jets): the multiple, its source, its files, and
# the KD losses that can train on jets without labels. Its ids join EXTRA_CASES at its end.
def _unlabelled(**u) -> dict:
    return {"distillation": {"unlabelled": u}}


def _hls4ml_dir(tmp: Path) -> Path:
    """A directory with one file the hls4ml glob matches (only globbed while parsing)."""
    d = tmp / "hls4ml"
    d.mkdir(exist_ok=True)
    (d / "jets_150p_1.h5").write_bytes(b"")
    return d


UNLABELLED_CASES: list[tuple[str, Callable[[Path], dict], list[str]]] = [
    ("U01", lambda tmp: _unlabelled(multiple=-1),
     ["distillation", "unlabelled", "multiple", "-1 is less than the minimum of 0"]),
    ("U02", lambda tmp: _unlabelled(multiple="two"),
     ["distillation", "unlabelled", "multiple", "'two' is not of type 'number'"]),
    ("U03", lambda tmp: _unlabelled(multiple=True),
     ["distillation", "unlabelled", "multiple", "True is not of type 'number'"]),
    ("U04", lambda tmp: merge_config(_unlabelled(multiple=1), {
        "data": {"source": "generic", "generic": {"file": str(REPO / "README.md")}}, **MLP_TEACHER}),
     ["config: distillation.unlabelled.multiple", "0 for data.source generic", "got 1"]),
    ("U05", lambda tmp: merge_config(_unlabelled(multiple=1), {"distillation": {"methods": ["hinton", "dkd"]}}),
     ["config: distillation.methods[1] (distillation.unlabelled)", "labels only through its CE term",
      "got 'dkd'"]),
    ("U06", lambda tmp: _unlabelled(multiple=1, files="/x/*.h5"),
     ["config: distillation.unlabelled.files", "no files with data.source generate"]),
    ("U07", lambda tmp: merge_config(_unlabelled(multiple=1),
                               {"data": {"source": "hls4ml", "hls4ml": {"files": str(_hls4ml_dir(tmp))}}}),
     ["config: distillation.unlabelled.files", "a directory or glob of hls4ml jet files"]),
    ("U08", lambda tmp: merge_config(_unlabelled(multiple=1, files=str(_hls4ml_dir(tmp))),
                               {"data": {"source": "hls4ml", "hls4ml": {"files": str(_hls4ml_dir(tmp))}}}),
     ["config: distillation.unlabelled.files", "disjoint from data.hls4ml.files", "jets_150p_1.h5"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, make, needles", UNLABELLED_CASES, ids=[c[0] for c in UNLABELLED_CASES]
)
def test_bad_unlabelled_setting_fails_while_parsing(
    case: str, make: Callable[[Path], dict], needles: list[str], tmp_path: Path
) -> None:
    with pytest.raises(Exception) as info:  # schema errors are WorkflowErrors, others InputErrors
        _check(make(tmp_path), tmp_path)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{case}: {needle!r} not in {msg[-1500:]}"


def test_unlabelled_settings_that_are_meant_to_work_pass(tmp_path: Path) -> None:
    """Controls: the default (off), a fractional multiple, and hls4ml with files of their own."""
    _check(_unlabelled(multiple=0), tmp_path)
    _check(_unlabelled(multiple=0.5), tmp_path)
    own = tmp_path / "unlabelled"
    own.mkdir()
    (own / "more_150p_1.h5").write_bytes(b"")
    _check(merge_config(_unlabelled(multiple=3, files=str(own)),
                  {"data": {"source": "hls4ml", "hls4ml": {"files": str(_hls4ml_dir(tmp_path))}}}),
           tmp_path)  # fmt: skip


EXTRA_CASES.update(
    {c[0]: test_bad_unlabelled_setting_fails_while_parsing for c in UNLABELLED_CASES}
)


EXTRA_CASES.update({c[0]: test_bad_views_fail_while_parsing for c in VIEWS_CASES})
