"""Periodic one-line progress with an ETA, written through ``logging``.

Why not only tqdm: Snakemake jobs write their stderr to the main console (interleaved
with every other job) and the job's ``log:`` file receives only ``logging`` records, so a
tqdm bar is invisible where a user looks (``tail -f results/logs/...``). A log line every
``every_s`` seconds (and one at the end) costs nothing and survives any redirection.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``, ``3725`` -> ``"1h02m"``; ``"?"`` for unknown (NaN/inf/negative)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def eta_seconds(done: float, total: float, elapsed: float) -> float:
    """Remaining time at the mean rate so far (NaN before any progress)."""
    if done <= 0 or total <= 0 or elapsed < 0:
        return math.nan
    return max(total - done, 0.0) * elapsed / done


def progress_line(what: str, done: float, total: float, elapsed: float, unit: str) -> str:
    """``"what: 120/300 jets (40%), 12.0 jets/s, elapsed 10s, ETA 15s"`` (pure)."""
    pct = 100.0 * done / total if total > 0 else math.nan
    rate = done / elapsed if elapsed > 0 else math.nan
    return (
        f"{what}: {done:g}/{total:g} {unit} ({pct:.0f}%), {rate:.3g} {unit}/s, "
        f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta_seconds(done, total, elapsed))}"
    )


class ProgressLog:
    """Counts work done and logs :func:`progress_line` at most every ``every_s`` seconds.

    ``clock`` is injectable so tests can drive time without sleeping.
    """

    def __init__(
        self,
        what: str,
        total: float,
        unit: str = "items",
        every_s: float = 30.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.unit, self.every_s = what, float(total), unit, float(every_s)
        self.done = 0.0
        self._log = logger or log
        self._clock = clock
        self._t0 = clock()
        self._last = self._t0
        self.lines = 0

    def update(self, n: float = 1) -> None:
        self.done += n
        now = self._clock()
        if now - self._last >= self.every_s:
            self._emit(now)

    def close(self) -> None:
        """Log the final line (always, so a short job still says how long it took)."""
        self._emit(self._clock())

    def _emit(self, now: float) -> None:
        self._last = now
        self.lines += 1
        self._log.info(
            "%s", progress_line(self.what, self.done, self.total, now - self._t0, self.unit)
        )
