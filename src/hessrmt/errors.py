"""Exceptions that hessrmt raises on bad input.

Every user-facing error is a :class:`HessrmtError` whose message names what is wrong and what to
do. The command line prints that message as one line and exits with status 2.
"""

from __future__ import annotations


class HessrmtError(Exception):
    """Base class of hessrmt's user-facing errors."""


class InputError(HessrmtError, ValueError):
    """An argument or a data file is invalid (wrong shape, non-finite values, bad option...)."""


class DataError(InputError):
    """A data set, checkpoint or file cannot be found or read."""


class ConvergenceError(HessrmtError, RuntimeError):
    """An iterative method did not reach the requested accuracy."""
