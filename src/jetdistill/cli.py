"""``jetdistill`` command line: tracking server, store initialisation, summary.

Subcommands::

    jetdistill server [--host 127.0.0.1] [--port 5000]
                      [--backend-store-uri sqlite:///mlflow.db | postgresql://user@host/db]
                      [--artifacts-destination ./mlruns] [--workers 1] [--enable-jobs]
                      [-- extra mlflow server options]
        Run ``mlflow server`` (UI + REST API) in the foreground. Binds to 127.0.0.1
        unless told otherwise, so nothing is exposed beyond this machine; for a
        cluster, run it on the login node with ``--host 0.0.0.0`` only behind a
        firewall and set ``tracking.uri: http://<host>:<port>`` in the config.
        Relative SQLite paths and the artifacts destination are made absolute
        against the current directory. PostgreSQL needs ``psycopg2`` installed.
        Artifacts of experiments created through the server are proxied
        (``mlflow-artifacts:/``) into ``--artifacts-destination``. MLflow's GenAI
        job runner (several ``huey`` worker processes) is disabled unless
        ``--enable-jobs``: the workflow never uses it and it costs CPU.
        The process is replaced by ``mlflow server`` (exec), so SIGTERM/SIGINT
        reach MLflow directly.

    jetdistill init-tracking [--config config/config.yaml] [--uri URI]
                             [--artifact-location DIR] [--experiment NAME] [--root DIR]
                             [--invocation ID] [--out marker.json]
        Create the store's tables and the experiment once (the Snakemake rule
        ``init_tracking``); with ``--invocation`` also the invocation's parent run.
        Prints and optionally writes (atomically) ``{"uri", "experiment",
        "experiment_id", "parent_run_id"}``.

    jetdistill summary [--config ...] [--uri ...] [--experiment ...] [--root DIR]
                       [--invocation ID] --out-csv summary.csv [--out-md summary.md]
        One row per model run (latest per rule and wildcards) with test and cost
        metrics; the whole experiment unless ``--invocation`` is given.

    jetdistill digits OUT
        Write scikit-learn's 1,797 8x8 handwritten digits (bundled, offline) to OUT in the
        generic layout (``features`` (N, 64), ``labels`` (N,)) for
        ``config/examples/digits.yaml``.

With no flags, ``mlflow ui`` run in the project root shows the same store as the
workflow's default ``tracking`` config (``sqlite:///mlflow.db``, artifacts in ./mlruns).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jetdistill.errors import InputError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jetdistill", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("server", help="run an MLflow tracking server (127.0.0.1 by default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--backend-store-uri", default="sqlite:///mlflow.db")
    s.add_argument("--artifacts-destination", default="./mlruns")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--enable-jobs", action="store_true", help="keep MLflow's GenAI job runner")
    s.add_argument("--dry-run", action="store_true", help="print the mlflow command and exit")
    s.add_argument("extra", nargs=argparse.REMAINDER, help="after --: passed to mlflow server")

    d = sub.add_parser(
        "digits", help="write scikit-learn's 8x8 digits to the generic HDF5 layout (offline)"
    )
    d.add_argument("out", help="output HDF5 file, e.g. data/digits.h5")

    for name, helptext in (
        ("init-tracking", "create the tracking store and experiment once"),
        ("summary", "write the per-model summary table"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("--config", help="workflow config YAML; its 'tracking' section is used")
        c.add_argument("--uri")
        c.add_argument("--artifact-location")
        c.add_argument("--experiment")
        c.add_argument("--root", default=".", help="project root relative paths resolve against")
        c.add_argument("--invocation", help="invocation id (default: whole experiment / none)")
        if name == "init-tracking":
            c.add_argument("--out", help="write a JSON marker (Snakemake output)")
        else:
            c.add_argument("--out-csv", required=True)
            c.add_argument("--out-md")
    return p


def tracking_config(args: argparse.Namespace) -> Any:
    """TrackingConfig from ``--config``'s ``tracking`` section overridden by flags."""
    from jetdistill.tracking.config import TrackingConfig

    section: dict[str, Any] = {}
    if args.config:
        import yaml

        path = Path(args.config)
        if not path.is_file():
            raise InputError(str(path), "an existing config YAML file", "missing")
        doc = yaml.safe_load(path.read_text()) or {}
        if not isinstance(doc, dict):
            raise InputError(str(path), "a YAML mapping", type(doc).__name__)
        section = dict(doc.get("tracking") or {})
    for key in ("uri", "artifact_location", "experiment"):
        val = getattr(args, key)
        if val:
            section[key] = val
    return TrackingConfig.from_dict(section, root=args.root)


def server_command(args: argparse.Namespace) -> list[str]:
    """The ``mlflow server`` argv for ``args`` (pure, for tests and --dry-run)."""
    from jetdistill.tracking.config import resolve_artifact_location, resolve_store_uri

    root = Path.cwd()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--backend-store-uri",
        resolve_store_uri(args.backend_store_uri, root),
        "--artifacts-destination",
        resolve_artifact_location(args.artifacts_destination, root),
        "--workers",
        str(args.workers),
    ]
    extra = [a for a in args.extra if a != "--"]
    return cmd + extra


def _server(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InputError("--port", "an integer in 1..65535", str(args.port))
    cmd = server_command(args)
    env = dict(os.environ)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if not args.enable_jobs:
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    from jetdistill.tracking.uris import scrub

    print(scrub(" ".join(cmd)), flush=True)  # a postgresql://user:password@ store stays private
    if args.dry_run:
        return 0
    os.execve(sys.executable, cmd, env)
    return 1  # pragma: no cover - exec does not return


def _init_tracking(args: argparse.Namespace) -> int:
    from jetdistill.io import write_json
    from jetdistill.tracking.parents import ensure_parent_run
    from jetdistill.tracking.store import init_store

    cfg = tracking_config(args)
    exp_id = init_store(cfg)
    parent = ensure_parent_run(cfg, args.invocation) if args.invocation else None
    info = {
        "uri": cfg.display_uri,
        "experiment": cfg.experiment,
        "experiment_id": exp_id,
        "parent_run_id": parent,
    }
    if args.out:
        write_json(args.out, info)
    print(json.dumps(info, sort_keys=True))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from jetdistill.report.summary import collect_summary

    cfg = tracking_config(args)
    table = collect_summary(cfg, args.invocation, out_csv=args.out_csv, out_md=args.out_md)
    print(f"{len(table)} model runs -> {args.out_csv}")
    return 0


def _digits(args: argparse.Namespace) -> int:
    from jetdistill.examples import write_digits

    info = write_digits(args.out)
    print(f"{info['n']} digits x {info['n_features']} pixels -> {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``jetdistill`` (``[project.scripts] jetdistill = jetdistill.cli:main``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "server":
            return _server(args)
        if args.command == "init-tracking":
            return _init_tracking(args)
        if args.command == "digits":
            return _digits(args)
        return _summary(args)
    except InputError as exc:
        print(f"jetdistill {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
