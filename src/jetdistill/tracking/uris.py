"""Credentials in URIs: mask them wherever a URI is logged or stored, keep them only in memory.

Why: a tracking URI such as ``http://user:password@host:5000`` or
``postgresql://user:password@db/mlflow`` is configuration, and configuration is copied
everywhere: job logs, ``results/tracking/experiment.json``, MLflow params and the
``resolved_config.json`` artifact, and Snakemake's own ``.snakemake/metadata`` (which
records every rule's ``params``). This module is deliberately free of MLflow so that the
Snakefile can use it while parsing the config:

* :func:`protect` runs once per Snakemake process: it keeps the real URI in the process
  environment (``JETDISTILL_TRACKING_URI``, inherited by local and SLURM jobs) and puts the
  masked URI (``http://user:***@host``) into the config, so nothing downstream ever sees the
  password;
* :func:`reveal` turns the masked URI back into the real one inside a job (only if the
  masks match, so a stale environment cannot redirect a run to another store);
* :func:`mask` and :func:`scrub` are for anything that is printed or stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

#: Environment variable holding the unmasked tracking URI for the jobs of one invocation.
ENV_SECRET_URI = "JETDISTILL_TRACKING_URI"
#: the (masked) ``tracking`` settings, JSON, set by the Snakefile for every job it starts:
#: jobs do not get them as params, so a new experiment or store reruns nothing
ENV_TRACKING = "JETDISTILL_TRACKING"
MASK = "***"

# scheme://user:password@  (the password part is what gets masked; user names are kept)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):(?P<pw>[^\s/]*)@")


def has_password(uri: str) -> bool:
    """True if ``uri`` carries a password in its user-info part."""
    m = _USERINFO.search(uri)
    return bool(m and m.group("pw") and m.group("pw") != MASK)


def mask(uri: str) -> str:
    """``scheme://user:secret@host/...`` -> ``scheme://user:***@host/...`` (other URIs unchanged)."""
    return scrub(uri)


def scrub(text: str) -> str:
    """Mask every ``scheme://user:password@`` password inside arbitrary text."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def scrub_obj(obj: Any) -> Any:
    """Copy of a JSON-like object (dicts, lists, strings) with every URI password masked."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        return {k: scrub_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(v) for v in obj]
    return obj


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http://u:p@host:5000/x`` -> (``http://host:5000/x``, ``u``, ``p``), URL-decoded."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri, None, None
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    plain = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    pw = unquote(parts.password) if parts.password is not None else None
    return plain, user, pw


def protect(tracking: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``config["tracking"]`` with a masked ``uri``; the real one goes to the environment.

    Called by the Snakefile right after validation, in every Snakemake process (the main
    one and each SLURM job, which re-reads the config), so ``params``, the config a job
    receives and Snakemake's metadata only ever hold the masked URI.
    """
    out = dict(tracking)
    uri = str(out.get("uri", ""))
    if has_password(uri):
        os.environ[ENV_SECRET_URI] = uri
        out["uri"] = mask(uri)
    return out


def reveal(uri: str) -> str:
    """The real URI for a masked one, from ``JETDISTILL_TRACKING_URI`` when its mask matches."""
    if MASK not in uri:
        return uri
    secret = os.environ.get(ENV_SECRET_URI, "")
    if secret and mask(secret) == uri:
        return secret
    return uri
