"""Credentials and tracking URIs: never in the config, masked wherever a URI is logged or stored.

Why: a tracking URI is configuration, and configuration is copied everywhere: Snakemake's
``Command:`` banner and ``.snakemake/log/*.snakemake.log`` (the ``--config`` text as typed),
``.snakemake/metadata`` (every rule's ``params``), job logs, ``results/tracking/experiment.json``,
MLflow params and the ``resolved_config.json`` artifact. Masking after the fact cannot reach
Snakemake's own banner, so a URI holding a secret is refused while the config is parsed
(:func:`check_uri`), and the credentials come from where MLflow itself reads them
(:func:`server_credentials`): ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, or
``MLFLOW_TRACKING_TOKEN``, in the environment, or ``~/.mlflow/credentials``. This module is
free of MLflow so that the Snakefile can use it while parsing the config:

* :func:`check_uri` refuses ``http://user:password@host``, ``http://TOKEN@host`` and a
  database URI with a password, naming the place to put the secret instead;
* :func:`mask` and :func:`scrub` mask every user-info part (``user:password@``, ``TOKEN@``,
  ``user@``) of any URI in text that is printed or stored: ``scheme://***@host``;
* :func:`protect` (for library callers that skip the checks) keeps an unmasked URI in the
  process environment only.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jetdistill.errors import InputError

#: Environment variable holding the unmasked tracking URI for the jobs of one invocation.
ENV_SECRET_URI = "JETDISTILL_TRACKING_URI"
#: the (masked) ``tracking`` settings, JSON, set by the Snakefile for every job it starts:
#: jobs do not get them as params, so a new experiment or store reruns nothing
ENV_TRACKING = "JETDISTILL_TRACKING"
MASK = "***"
#: where MLflow reads a tracking server's credentials (mlflow.utils.credentials): these
#: variables first, then the ``[mlflow]`` section of ``~/.mlflow/credentials``
ENV_USERNAME = "MLFLOW_TRACKING_USERNAME"
ENV_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
ENV_TOKEN = "MLFLOW_TRACKING_TOKEN"
CREDENTIALS_FILE = "~/.mlflow/credentials"

# scheme://<user-info>@ : everything between "//" and the last "@" before the host's end
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^/\s?#]*)@")

#: what the refusal says instead of the secret: where it goes
SERVER_SECRET_HELP = (
    f"no credentials in the URI (the URI is copied into Snakemake's log and metadata): "
    f"export {ENV_USERNAME} and {ENV_PASSWORD} (or {ENV_TOKEN}) in the shell that runs "
    f"snakemake, or write them to {CREDENTIALS_FILE}"
)
DB_SECRET_HELP = (
    "no password in the URI (the URI is copied into Snakemake's log and metadata): "
    "give it to the database driver instead (PostgreSQL: ~/.pgpass or PGPASSWORD)"
)


def has_userinfo(uri: str) -> bool:
    """True if ``uri`` holds a user-info part (``user:password@``, ``TOKEN@``, ``user@``)."""
    return bool(_USERINFO.search(uri))


def mask(uri: str) -> str:
    """``scheme://user:secret@host/...`` and ``scheme://TOKEN@host/...`` ->
    ``scheme://***@host/...`` (other URIs unchanged)."""
    return scrub(uri)


def scrub(text: str) -> str:
    """Mask every user-info part of every ``scheme://...@`` URI inside arbitrary text.

    The whole user-info is masked, the user name too: ``http://TOKEN@host`` and
    ``https://TOKEN:x-oauth-basic@host`` carry the secret where a user name would be."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def scrub_obj(obj: Any) -> Any:
    """Copy of a JSON-like object (dicts, lists, strings) with every URI credential masked."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        return {k: scrub_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(v) for v in obj]
    return obj


def secret_help(uri: str) -> str | None:
    """Where the secret in ``uri`` belongs instead, or None if ``uri`` holds none.

    ``http(s)``: any user-info is a secret (``user:password@``, or a token as ``TOKEN@``:
    the two cannot be told apart). Databases: a password (``user:password@``); a bare user
    name is not a secret.
    """
    if not has_userinfo(uri):
        try:
            if "@" not in urlsplit(uri).netloc:
                return None
        except ValueError:
            return None
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        return SERVER_SECRET_HELP
    m = _USERINFO.search(uri)
    info = m.group("info") if m else ""
    if not m or ":" in info and info.split(":", 1)[1]:
        return DB_SECRET_HELP
    return None


def check_uri(uri: str, where: str = "config: tracking.uri") -> None:
    """Refuse a tracking URI that holds a secret, saying where to put it; the URI is masked."""
    help_ = secret_help(uri)
    if help_ is not None:
        raise InputError(where, help_, mask(uri))


def server_credentials() -> dict[str, str]:
    """A tracking server's credentials where MLflow reads them, as MLflow picks them.

    ``username``/``password``: the environment first, then ``~/.mlflow/credentials``;
    ``token``: ``MLFLOW_TRACKING_TOKEN``. Only the keys that are set are returned.
    """
    user, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    path = Path(CREDENTIALS_FILE).expanduser()
    if (not user or not password) and path.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            parser = configparser.ConfigParser()
        if parser.has_section("mlflow"):
            user = user or parser["mlflow"].get(ENV_USERNAME.lower())
            password = password or parser["mlflow"].get(ENV_PASSWORD.lower())
    out = {"username": user, "password": password, "token": os.environ.get(ENV_TOKEN)}
    return {k: v for k, v in out.items() if v}


def protect(tracking: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``config["tracking"]`` with a masked ``uri``; the real one goes to the environment.

    Called by the Snakefile right after the config checks, in every Snakemake process. Those
    checks refuse a URI with a secret (:func:`check_uri`), so this only masks for a library
    caller that skipped them: ``params`` and Snakemake's metadata never hold a secret.
    """
    out = dict(tracking)
    uri = str(out.get("uri", ""))
    if secret_help(uri) is not None:
        os.environ[ENV_SECRET_URI] = uri
        out["uri"] = mask(uri)
    return out
