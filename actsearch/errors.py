"""Errors a user can act on.

Anything raised as an ``ActsearchError`` reaches the terminal as one line (no traceback) and
exit code 2: its message must say what is wrong and how to fix it.
"""

from __future__ import annotations

import reprlib
from typing import Any


class ActsearchError(Exception):
    """A problem with the user's input, files or environment, not a bug in actsearch."""

    exit_code = 2


class ConfigError(ActsearchError, ValueError):
    """A bad activation config, search space, option value or YAML file.

    A ``ValueError`` too, so library callers can catch the usual exception type.
    """


class DataError(ActsearchError):
    """A data set that is missing, truncated, corrupted or cannot be downloaded."""


class RunDirError(ActsearchError):
    """A run folder, checkpoint or results file that cannot be used."""


def shown(value: Any) -> str:
    """``repr(value)`` for a message: at most about 60 characters, whatever the value (a
    self-referencing or exponentially shared YAML structure, an int of thousands of digits)."""
    limits = reprlib.Repr()
    limits.maxlevel, limits.maxstring, limits.maxother, limits.maxlong = 3, 40, 40, 40
    try:
        text = limits.repr(value)
    except (ValueError, RecursionError):  # str(int) refuses over 4300 digits
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."
