"""Errors raised for bad input: each names the file/key and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Longest message an :class:`InputError` carries. An error is printed at least twice (the job
#: log and the console, each with the traceback), so a listing built from the data (one entry
#: per class or per bad row) must never grow with the data: a label of 10**6 once made an 18.9 MB
#: message, a 37.8 MB job log and 75.6 MB on the console.
MAX_MESSAGE_CHARS = 2000
#: How many bad rows (or classes, files) a message lists before "first N of M".
LIST_FIRST = 5


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f" ... [{len(text) - limit} more characters cut]"
    return text[: max(0, limit - len(note))] + note


def first_few(items: Sequence[Any], total: int | None = None, what: str = "") -> str:
    """``a, b, c`` for up to :data:`LIST_FIRST` items, else the first ones and
    ``(first 5 of N <what>)``: a listing whose length does not grow with the data."""
    total = len(items) if total is None else total
    text = ", ".join(str(i) for i in list(items)[:LIST_FIRST])
    if total > LIST_FIRST:
        text += f" (first {LIST_FIRST} of {total}{' ' + what if what else ''})"
    return text


class JetDistillError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(JetDistillError, ValueError):
    """Bad input data or configuration, detected before any compute.

    The message always says *where* (file and dataset/key or config field) and
    *what was expected*, so a user can fix it without reading a traceback. It is at most
    :data:`MAX_MESSAGE_CHARS` long whatever the parts hold (each part is cut, saying so).
    """

    def __init__(self, where: str, expected: str, got: str | None = None) -> None:
        where, expected = shorten(where, 600), shorten(expected, 600)
        if got is not None:
            got = shorten(got, MAX_MESSAGE_CHARS - len(where) - len(expected) - 20)
        msg = f"{where}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg)
        self.where = where
        self.expected = expected
        self.got = got
