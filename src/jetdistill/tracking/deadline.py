"""One tracking call, bounded in total time.

Why: a socket timeout bounds each *read*, not a request. A tracking server that accepts
the connection and then answers one byte every 2 s never trips a 15 s read timeout, and
MLflow's HTTP client (and ``urllib`` in the probe) waited on it for minutes per call
(a slow-loris server). :func:`within` runs the call in a daemon thread and gives up when the
whole call, retries included, has taken ``seconds``; the error names ``tracking.uri``.
The abandoned thread is a daemon: it dies with the process, which fails right after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from jetdistill.errors import InputError

T = TypeVar("T")


class TrackingTimeout(InputError):
    """The tracking store did not complete one call within ``tracking.timeout_s``."""


def within(seconds: float, fn: Callable[[], T], *, where: str, what: str,
           expected: str | None = None) -> T:  # fmt: skip
    """``fn()``, or :class:`TrackingTimeout` naming ``where`` after ``seconds`` in all.

    ``fn``'s own exceptions propagate unchanged; ``expected`` is the message's "expected" part. The message keeps the probe's wording
    (``no answer after <s> s``) so logs and tests read the same for a silent server and a
    slow one.
    """
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            error.append(exc)
        finally:
            done.set()

    t0 = time.monotonic()
    threading.Thread(target=run, name=f"tracking-{what}", daemon=True).start()
    if not done.wait(seconds):
        raise TrackingTimeout(
            where,
            expected or f"a complete answer within {seconds:g} s (tracking.timeout_s)",
            f"no answer after {time.monotonic() - t0:.1f} s ({what})",
        )
    if error:
        raise error[0]
    return result[0]
