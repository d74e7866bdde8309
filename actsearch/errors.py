"""Errors a user can act on.

Anything raised as an ``ActsearchError`` reaches the terminal as one line (no traceback) and
exit code 2: its message must say what is wrong and how to fix it.
"""


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
