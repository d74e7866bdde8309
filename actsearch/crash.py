"""The last resort of the command line: an exception that is not an ``ActsearchError`` is a bug.

It is not shown as a traceback. The traceback goes to a log file, in the run folder when the
command has one and it is writable, else in the temporary folder, and the terminal gets one line
naming that file and asking for a bug report; the exit code is 1 (``EXIT_BUG``), distinct from
the 2 of a user error. This is a safety net, not an error message: every input problem a user
can cause has its own ``ActsearchError`` raised where it is understood.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import tempfile
import traceback
from pathlib import Path

EXIT_BUG = 1
LOG_PREFIX = "actsearch-crash-"


def _report(exc: BaseException) -> str:
    import actsearch

    header = [
        f"actsearch {actsearch.__version__} crashed: please report this file as a bug.",
        f"time: {_dt.datetime.now().isoformat(timespec='seconds')}",
        f"argv: {sys.argv!r}",
        f"python: {sys.version.split()[0]} on {platform.platform()}",
        "",
    ]
    return "\n".join(header) + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def write_log(exc: BaseException, run_dir: str | os.PathLike | None = None) -> Path | None:
    """Write the full report of ``exc``; return its path, or None when no folder takes it.

    The run folder is used only when it already exists (a crash never creates one); a new
    file is created, nothing already there is touched.
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folders = []
    if run_dir is not None:
        try:
            if Path(run_dir).is_dir():
                folders.append(Path(run_dir))
        except (OSError, ValueError):  # a name too long, a NUL byte: fall back to the temp folder
            pass
    folders.append(Path(tempfile.gettempdir()))
    text = _report(exc)
    for folder in folders:
        try:  # a new file with a unique name: two crashes in one second keep both logs
            fd, name = tempfile.mkstemp(prefix=f"{LOG_PREFIX}{stamp}-", suffix=".log", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
                f.write(text)
        except (OSError, ValueError):  # read-only, full, permission denied
            continue
        return Path(name)
    return None


def summary(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (at most 200 characters)."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def handle(exc: BaseException, run_dir: str | os.PathLike | None = None, console=None) -> int:
    """Log ``exc``, print the one line, return ``EXIT_BUG``.

    ``console`` is a rich Console on stderr (plain ``sys.stderr`` when None). When no log file
    can be written anywhere, the traceback is printed after the line instead.
    """
    from rich.text import Text

    log = write_log(exc, run_dir)
    where = (f"the full traceback is in {log}" if log is not None
             else "no log file could be written (the traceback follows)")
    line = Text.assemble(("internal error:", "bold red"),
                         f" actsearch crashed ({summary(exc)}); {where} ; this is a bug in actsearch, not in "
                         "your input: please report it with that file.")
    if console is not None:
        console.print(line, soft_wrap=True, highlight=False)
    else:
        print(line.plain, file=sys.stderr)
    if log is None:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return EXIT_BUG
