"""Errors raised for bad input: each names the file/key and what was expected."""

from __future__ import annotations


class JetDistillError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(JetDistillError, ValueError):
    """Bad input data or configuration, detected before any compute.

    The message always says *where* (file and dataset/key or config field) and
    *what was expected*, so a user can fix it without reading a traceback.
    """

    def __init__(self, where: str, expected: str, got: str | None = None) -> None:
        msg = f"{where}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg)
        self.where = where
        self.expected = expected
        self.got = got
