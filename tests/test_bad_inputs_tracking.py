"""Bad tracking inputs: secrets in ``tracking.uri``, a locked or damaged ``mlflow.db``, and an
experiment name that is a path.

Nothing of MLflow is mocked: the stores are real SQLite files, the lock is a real
``BEGIN EXCLUSIVE`` held by a second process, Snakemake runs as a real subprocess. Every case
asserts that the error names the config key or the file and comes within 60 s. The cases and
what they print are in ``docs/bad_inputs.md`` ("Tracking: secrets and store faults").
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from conftest import copy_workflow, run_snakemake, snakemake_env
from snakemake.utils import validate

from jetdistill import plan
from jetdistill.errors import InputError
from jetdistill.tracking import config as tracking_config
from jetdistill.tracking import probe, store, uris
from jetdistill.tracking.config import TrackingConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SECRET = "pw-7c1e-secret"
TOKEN = "tok-5d2a-secret"
#: every error must come within this many seconds, and fit on a screen
FAIL_WITHIN_S = 60
SCREEN_LINES = 8


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Own invocation, no credentials or lock-retry setting from the caller's shell."""
    for name in (tracking_config.ENV_INVOCATION, tracking_config.ENV_PARENT_RUN,
                 tracking_config.ENV_EXPERIMENT):  # fmt: skip
        monkeypatch.setenv(name, "")
    for name in (uris.ENV_USERNAME, uris.ENV_PASSWORD, uris.ENV_TOKEN, store.ENV_LOCK_RETRY_S):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.mlflow/credentials of the user


def _config(extra: dict) -> dict:
    """config.yaml <- test.yaml <- extra, merged the way Snakemake merges --configfile."""

    def merge(a: dict, b: dict) -> dict:
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    test = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    return merge(merge(base, test), extra)


def _parse_time_error(tracking: dict, root: Path) -> InputError:
    """What the Snakefile does before building the DAG (schema, then plan.check_config)."""
    cfg = _config({"tracking": tracking})
    validate(cfg, str(SCHEMA))
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        plan.check_config(cfg, root=root)
    assert time.monotonic() - t0 < FAIL_WITHIN_S
    return info.value


def _short(text: str) -> None:
    assert len(text.splitlines()) <= SCREEN_LINES and len(text) < 80 * SCREEN_LINES, text


def _files_holding(secret: str, *roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()]  # fmt: skip


# --------------------------------------------------------------------------- secrets
SECRET_URIS = {
    "user-password": f"http://alice:{SECRET}@127.0.0.1:5998",
    "token-only": f"http://{SECRET}@127.0.0.1:5998",
    "token-as-user": f"https://{SECRET}:x-oauth-basic@tracking.example",
    "database-password": f"postgresql://alice:{SECRET}@db.example/mlflow",
}


@pytest.mark.parametrize("kind", sorted(SECRET_URIS))
def test_secret_in_tracking_uri_is_refused_while_parsing(kind: str, tmp_path: Path) -> None:
    err = str(_parse_time_error({"uri": SECRET_URIS[kind]}, tmp_path))
    assert err.startswith("config: tracking.uri: expected no")
    assert SECRET not in err and "://***@" in err
    if kind == "database-password":
        assert "PGPASSWORD" in err
    else:
        assert all(v in err for v in (uris.ENV_USERNAME, uris.ENV_PASSWORD, uris.ENV_TOKEN))
    _short(err)
    with pytest.raises(InputError, match=r"config: tracking\.uri"):  # library callers too
        TrackingConfig.from_dict({"uri": SECRET_URIS[kind]})


def test_uris_without_a_secret_pass(tmp_path: Path) -> None:
    for uri in ("sqlite:///mlflow.db", "http://127.0.0.1:5000", "postgresql://alice@db/mlflow"):
        cfg = _config({"tracking": {"uri": uri}})
        validate(cfg, str(SCHEMA))
        plan.check_config(cfg, root=tmp_path)


def test_every_user_info_form_is_masked() -> None:
    text = (f"a http://alice:{SECRET}@h:1/x, b http://{TOKEN}@h:2, c https://{TOKEN}:x@h, "
            f"d postgresql://me:{SECRET}@db/m, e https://h/p@v1 me@example.org")  # fmt: skip
    out = uris.scrub(text)
    assert SECRET not in out and TOKEN not in out
    assert out == ("a http://***@h:1/x, b http://***@h:2, c https://***@h, "
                   "d postgresql://***@db/m, e https://h/p@v1 me@example.org")  # fmt: skip
    assert uris.scrub(out) == out


def test_masked_in_params_tags_and_artifacts_of_a_real_store(tmp_path: Path) -> None:
    """Text that mentions a URI with credentials (a user's note, a data source) is masked."""
    from jetdistill.tracking.query import download_artifacts, run_info
    from jetdistill.tracking.runs import job_run

    cfg = TrackingConfig.from_dict({"experiment": "mask"}, root=tmp_path)
    store.init_store(cfg)
    note = {"source": f"http://{TOKEN}@data.example/jets", "mirror": f"http://u:{SECRET}@m/x"}
    with job_run(cfg, name="mask", rule="r", wildcards={}, role="test", method="m",
                 tags={"source": note["source"]}) as run:  # fmt: skip
        run.log_params(note)
        run.log_dict(note, "config/resolved_config.json")
        run_id = run.run_id
    assert TOKEN not in json.dumps(run_info(cfg, run_id))
    art = download_artifacts(cfg, run_id, "config/resolved_config.json", tmp_path / "dl")
    assert "http://***@data.example/jets" in art.read_text()
    assert not _files_holding(TOKEN, tmp_path) and not _files_holding(SECRET, tmp_path)


class _AuthRecorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}'
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def auth_recorder() -> Iterator[int]:
    """127.0.0.1:PORT answering like an MLflow server without the experiment; keeps headers."""
    _AuthRecorder.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _AuthRecorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_probe_sends_the_credentials_mlflow_would(
    auth_recorder: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Environment first (basic, else bearer), then ~/.mlflow/credentials (MLflow's file)."""
    import base64

    cfg = TrackingConfig.from_dict({"uri": f"http://127.0.0.1:{auth_recorder}", "timeout_s": 5})
    probe.check(cfg)
    monkeypatch.setenv(uris.ENV_TOKEN, TOKEN)
    probe.check(cfg)
    monkeypatch.setenv(uris.ENV_USERNAME, "alice")
    monkeypatch.setenv(uris.ENV_PASSWORD, SECRET)
    probe.check(cfg)
    for name in (uris.ENV_USERNAME, uris.ENV_PASSWORD, uris.ENV_TOKEN):
        monkeypatch.delenv(name)
    creds = Path(os.environ["HOME"]) / ".mlflow" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(
        f"[mlflow]\nmlflow_tracking_username = bob\nmlflow_tracking_password = {SECRET}\n"
    )
    probe.check(cfg)
    basic = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    from_file = "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
    assert _AuthRecorder.seen == [None, f"Bearer {TOKEN}", basic, from_file]


def test_no_secret_reaches_a_file_of_a_real_snakemake_run(tmp_path: Path) -> None:
    """Real ``snakemake``: a URI with a secret (``--config``, as typed, and a config file) is
    refused before Snakemake prints its ``Command:`` banner; with the credentials in MLflow's
    environment variables a real run (onstart: store, parent run, resolved config artifact;
    rule init_tracking) writes them to no file: results/, .snakemake/, mlruns/, mlflow.db."""
    work = copy_workflow(tmp_path / "proj")
    extra = tmp_path / "tracking.yaml"  # outside the project, like a user's own config file
    extra.write_text(yaml.safe_dump({"tracking": {"uri": f"http://{TOKEN}@127.0.0.1:5998"}}))
    refused = {
        "--config": ["--config", f'tracking={{"uri": "http://alice:{SECRET}@127.0.0.1:5998"}}'],
        "--configfile": ["--configfile", "config/test.yaml", str(extra)],
    }
    for how, flags in refused.items():
        for mode in (["-n"], ["--cores", "1"]):
            t0 = time.monotonic()
            proc = run_snakemake(work, *mode, "--configfile", "config/test.yaml", *flags,
                                 timeout=300, check=False)  # fmt: skip
            out = proc.stdout + proc.stderr
            assert time.monotonic() - t0 < FAIL_WITHIN_S, how
            assert proc.returncode != 0, out[-3000:]
            assert "config: tracking.uri" in out and uris.ENV_PASSWORD in out, out[-3000:]
            assert SECRET not in out and TOKEN not in out, how
            assert "Command:" not in out  # the banner that would print it never came
    env = {**snakemake_env(), uris.ENV_USERNAME: "alice", uris.ENV_PASSWORD: SECRET,
           uris.ENV_TOKEN: TOKEN}  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--configfile",
         "config/test.yaml", "--", "results/tracking/experiment.json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert (work / "mlflow.db").is_file() and list((work / "mlruns").rglob("resolved_config.json"))
    assert list((work / ".snakemake" / "log").glob("*.snakemake.log"))
    assert SECRET not in out and TOKEN not in out
    leaks = _files_holding(SECRET, work) + _files_holding(TOKEN, work)
    assert not leaks, leaks


# --------------------------------------------------------------------------- store faults
LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@pytest.fixture
def sqlite_store(tmp_path: Path) -> TrackingConfig:
    cfg = TrackingConfig.from_dict({"experiment": "faults"}, root=tmp_path)
    store.init_store(cfg)
    return cfg


def _lock(db: Path, seconds: float) -> subprocess.Popen:
    """A second process holding ``BEGIN EXCLUSIVE`` on ``db`` for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), str(seconds)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_locked_store_is_retried_then_names_tracking_uri_and_the_file(
    sqlite_store: TrackingConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "LOCK_RETRY_S", 4.0)  # promised: ~1 min; shortened for the test
    db = tmp_path / "mlflow.db"
    locker = _lock(db, 120)
    try:
        t0 = time.monotonic()
        with pytest.raises(InputError) as info:
            store.init_store(sqlite_store)
        took = time.monotonic() - t0
    finally:
        locker.kill()
        locker.wait(10)
    err = str(info.value)
    assert err.startswith(f"config: tracking.uri (sqlite:///{db})"), err
    assert f"{db} still locked after" in err and "retried for 4 s" in err
    assert 4.0 <= took < FAIL_WITHIN_S, took
    _short(err)


def test_lock_released_within_the_retry_time_is_waited_for(
    sqlite_store: TrackingConfig, tmp_path: Path
) -> None:
    """The default retry time (store.LOCK_RETRY_S, a minute) outlasts a 6 s lock."""
    assert store.LOCK_RETRY_S >= 60
    locker = _lock(tmp_path / "mlflow.db", 6)
    try:
        t0 = time.monotonic()
        assert store.init_store(sqlite_store) == store.experiment_id(sqlite_store)
        assert 5.0 <= time.monotonic() - t0 < FAIL_WITHIN_S
    finally:
        locker.wait(30)


def test_lock_retry_time_can_be_set_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_LOCK_RETRY_S, "2.5")
    assert store.lock_retry_s() == 2.5


@pytest.mark.parametrize("where", ["probe", "store"])
def test_damaged_store_names_the_file_and_says_to_move_it(where: str, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(os.urandom(8192))
    cfg = TrackingConfig.from_dict({"experiment": "faults"}, root=tmp_path)
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        probe.check(cfg) if where == "probe" else store.init_store(cfg)
    assert time.monotonic() - t0 < FAIL_WITHIN_S
    err = str(info.value)
    assert err.startswith(f"config: tracking.uri (sqlite:///{db})"), err
    assert f"{db} is not an SQLite database" in err and "move it away" in err
    _short(err)


def test_empty_store_file_is_a_new_store(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    cfg = TrackingConfig.from_dict({"experiment": "faults"}, root=tmp_path)
    probe.check(cfg)
    assert store.init_store(cfg)


# --------------------------------------------------------------------------- experiment names
@pytest.mark.parametrize(
    "name", ["..", ".", "../outside", "a/b", "a\\b", "x\x00y", "x\ny", ".hidden", "-x"]
)
def test_experiment_name_that_is_a_path_is_refused_while_parsing(name: str, tmp_path: Path) -> None:
    err = str(_parse_time_error({"experiment": name}, tmp_path))
    assert err.startswith("config: tracking.experiment: expected a name matching")
    assert tracking_config.EXPERIMENT_PATTERN in err and repr(name) in err
    _short(err)
    with pytest.raises(InputError, match=r"config: tracking\.experiment"):
        TrackingConfig.from_dict({"experiment": name}, root=tmp_path)


def test_experiment_names_in_use_pass(tmp_path: Path) -> None:
    for name in ("jetdistill", "kd-study_2", "v1.2", "My runs"):
        TrackingConfig.from_dict({"experiment": name}, root=tmp_path)
