"""Progress lines with an ETA (jetdistill.progress), driven by a fake clock."""

from __future__ import annotations

import logging
import math

import pytest

from jetdistill.progress import ProgressLog, eta_seconds, format_duration, progress_line


def test_format_duration_and_eta() -> None:
    assert format_duration(0.4) == "0s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(math.nan) == "?" and format_duration(-1) == "?"
    assert eta_seconds(25, 100, 10.0) == pytest.approx(30.0)  # 25 done in 10 s: 75 left
    assert math.isnan(eta_seconds(0, 100, 10.0))
    assert eta_seconds(120, 100, 10.0) == 0.0  # overshoot never gives a negative ETA
    line = progress_line("generate W_0", 120, 300, 10.0, "jets")
    assert line == "generate W_0: 120/300 jets (40%), 12 jets/s, elapsed 10s, ETA 15s"


def test_progress_log_rate_limits_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    p = ProgressLog("epoch 1/2", 1000, "jets", every_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="jetdistill.progress"):
        for _ in range(10):  # 10 updates of 100 jets, 10 s apart: lines at 30 s, 60 s, 90 s
            now[0] += 10.0
            p.update(100)
        p.close()
    lines = [r.getMessage() for r in caplog.records]
    assert p.lines == len(lines) == 4
    assert lines[0] == "epoch 1/2: 300/1000 jets (30%), 10 jets/s, elapsed 30s, ETA 1m10s"
    assert lines[-1].endswith("1000/1000 jets (100%), 10 jets/s, elapsed 1m40s, ETA 0s")
