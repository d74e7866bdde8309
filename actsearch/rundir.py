"""The run folder every search writes: configuration snapshot with versions, and a lock.

    runs/NAME/
      run.yaml        what produced the run: command, space, task, budget, objectives, versions
      results.jsonl   one line per scored candidate (actsearch.results)
      study.db        tune: the Optuna study (SQLite), unless --storage names another
      checkpoint.json evolve: the last generation
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

from actsearch.activations.registry import read_yaml
from actsearch.errors import RunDirError
from actsearch.results import seal, seal_problem

SNAPSHOT = "run.yaml"
LOCK = ".lock"


def versions() -> dict[str, str]:
    import numpy
    import optuna
    import torch

    import actsearch

    out = {"actsearch": actsearch.__version__, "python": sys.version.split()[0], "torch": str(torch.__version__),
           "optuna": optuna.__version__, "numpy": numpy.__version__, "platform": platform.platform()}
    try:
        import deap

        out["deap"] = deap.__version__
    except ImportError:  # pragma: no cover - deap is a dependency
        pass
    return out


# TrainConfig fields that may change between sessions of one run without changing its results.
VOLATILE = ("threads", "device", "data_dir", "compile")


def run_identity(train: Any, **extra: Any) -> dict[str, Any]:
    """What defines a run: the whole TrainConfig (resolved) but its volatile fields, plus the
    command's own settings. Every command checks its folder against this on resume."""
    fields = {k: v for k, v in train.to_dict().items() if k not in VOLATILE}
    return {"train": fields, **extra}


def new_run_dir(command: str, task: str, root: str | Path = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{stamp}-{command}-{task}"
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stamp}-{command}-{task}-{n}"
    return path


def read_snapshot(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SNAPSHOT
    if not path.is_file():
        return None
    data = read_yaml(path, "run snapshot")
    if not isinstance(data, dict) or "settings" not in data:
        raise RunDirError(f"{path} is not an actsearch run snapshot; use another --run-dir")
    return data


def open_run(run_dir: Path, command: str, settings: dict[str, Any]) -> bool:
    """Create the run folder or check it belongs to the same search; True when resuming.

    ``settings`` are the options that define the search; resuming with different ones would
    mix two searches in one results file, so that is refused.
    """
    run_dir = check_output_path(run_dir)
    remove_dead_temporaries(run_dir)
    snapshot = read_snapshot(run_dir)
    if snapshot is None:
        # Hidden files are our own temporaries and lock, e.g. of a process starting beside this one.
        if run_dir.exists() and any(not p.name.startswith(".") for p in run_dir.iterdir()):
            raise RunDirError(f"{run_dir} exists and is not an actsearch run folder; choose another --run-dir")
        with io_errors(run_dir):
            run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / SNAPSHOT, yaml.safe_dump(seal(
            {"command": command, "settings": settings, "versions": versions(),
             "created": _dt.datetime.now().isoformat(timespec="seconds"), "argv": sys.argv}), sort_keys=False))
        return False
    damaged = seal_problem(snapshot)
    if damaged:
        raise RunDirError(f"{run_dir / SNAPSHOT} is damaged: {damaged}; see `actsearch check {run_dir}`, "
                          "restore it from a copy, or use another --run-dir")
    if snapshot.get("command") != command:
        raise RunDirError(f"{run_dir} holds an `actsearch {snapshot.get('command')}` run, not `{command}`; "
                          "use another --run-dir")
    old = snapshot["settings"]
    differ = _differences(old, settings)
    if differ:
        key, was, now = differ[0]
        more = f" (and {len(differ) - 1} more setting(s))" if len(differ) > 1 else ""
        raise RunDirError(f"{run_dir} was started with {key}={was!r}, not {now!r}{more}; resume with the same "
                          "options or use another --run-dir")
    return True


def stale_temporaries(run_dir: Path) -> list[Path]:
    """What ``write_atomic`` left of writers that are gone: a kill mid-write leaves
    ``.NAME.PID.tmp`` beside a whole NAME (or none), so nothing is lost. A temporary whose PID
    is alive (another worker's, or a ``compare``'s, which takes no lock) is not stale."""
    stale = []
    for path in sorted(run_dir.glob(".*.tmp")):
        pid = path.name.rsplit(".", 2)[-2]
        if path.is_file() and not (pid.isdigit() and _alive(int(pid))):
            stale.append(path)
    return stale


def remove_dead_temporaries(run_dir: Path) -> None:
    """Delete ``stale_temporaries``: what opening a run folder does before any work."""
    for path in stale_temporaries(run_dir):
        with contextlib.suppress(OSError):  # a read-only folder: `check` reports it
            path.unlink()


def _differences(old: Any, new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(setting, was, now) for each setting that differs, nested ones by their own name (the
    training options sit under ``train``): the message names the one the user changed."""
    out = []
    for key, value in new.items():
        if not isinstance(old, dict) or key not in old or old[key] == value:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict) and key == "train":
            out += _differences(old[key], value)
        else:
            out.append((prefix + key, old[key], value))
    return out


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` whole or not at all: temporary file, fsync, rename, fsync of the folder.

    A crash leaves either the old file or the new one (and at worst a hidden temporary, which
    ``open_run`` and ``actsearch check --repair`` remove once its writer is gone; see
    ``stale_temporaries``). An OSError of the machine
    becomes one RunDirError naming the file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: writers may race
    with io_errors(path):
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, text.encode("utf-8"), path)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut (no-op where folders
    cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


# --- the one I/O layer every run-folder write goes through, and its fault hook -----------------
#
# ``write_all`` is the only place run-folder bytes are written. A test (or the kill loop)
# installs a ``Fault`` to fail the Nth write: raise an OSError (ENOSPC, EROFS, EACCES, EIO),
# tear it (write half, then die) or kill the process there. With no fault installed the hook
# is one ``is None`` test. The same fault also covers the Optuna study's SQLite writes, through
# an SQLAlchemy event that is only registered when a fault is installed.
#
# From the environment (for subprocesses): ACTSEARCH_FAULT="N:KIND" with KIND one of
# enospc, erofs, eacces, eio, kill, torn, count; ACTSEARCH_FAULT_LOG=FILE records every write
# point reached ("n file" per line), which is how tests enumerate the write points of a command.

FAULT_KINDS = ("enospc", "erofs", "eacces", "eio", "kill", "torn", "count")
_ERRNO = {"enospc": errno.ENOSPC, "erofs": errno.EROFS, "eacces": errno.EACCES, "eio": errno.EIO}
_SQLITE_MESSAGE = {"enospc": "database or disk is full", "erofs": "attempt to write a readonly database",
                   "eacces": "attempt to write a readonly database", "eio": "disk I/O error"}
KILLED = 137  # the exit status of a process killed by the hook, as after SIGKILL


class Fault:
    """Fail write number ``n`` (1-based, counting every run-folder write and study statement of
    this process). ``sticky`` faults (a full disk, a read-only folder) also fail every later write."""

    def __init__(self, n: int, kind: str, log: str | Path | None = None, sticky: bool | None = None):
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r}: choose one of {', '.join(FAULT_KINDS)}")
        self.n, self.kind, self.log = n, kind, Path(log) if log else None
        self.sticky = kind in ("enospc", "erofs", "eacces") if sticky is None else sticky
        self.count = 0
        self.fired = False

    def hit(self, where: str) -> str | None:
        """Count one write point; the kind of fault to apply there, or None."""
        self.count += 1
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{self.count} {where}\n")
        if self.kind == "count":
            return None
        if self.count == self.n or (self.sticky and self.fired):
            self.fired = True
            return self.kind
        return None


_fault: Fault | None = None


def install_fault(fault: Fault | None) -> None:
    """Install (or with None remove) the process's fault; tests call this, or set ACTSEARCH_FAULT."""
    global _fault
    _fault = fault
    if fault is not None:
        _listen_sqlalchemy()


def _die() -> None:
    os._exit(KILLED)


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Write every byte of ``data`` to ``fd`` (a file of the run folder at ``path``)."""
    if _fault is not None:
        kind = _fault.hit(Path(path).name)
        if kind in _ERRNO:
            raise OSError(_ERRNO[kind], os.strerror(_ERRNO[kind]), str(path))
        if kind == "torn":
            os.write(fd, data[: max(1, len(data) // 2)])
            os.fsync(fd)
            _die()
        if kind == "kill":
            _die()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _study_write(conn, cursor, statement, parameters, context, executemany) -> None:
    if _fault is None or not statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
        return
    kind = _fault.hit("study.db")
    if kind == "kill" or kind == "torn":  # SQLite's journal makes a torn transaction a lost one
        _die()
    if kind in _SQLITE_MESSAGE:
        import sqlite3

        raise sqlite3.OperationalError(_SQLITE_MESSAGE[kind])


_listening = False


def _listen_sqlalchemy() -> None:
    global _listening
    if _listening:
        return
    try:
        import sqlalchemy
        from sqlalchemy import event
    except ImportError:  # pragma: no cover - optuna depends on it
        return
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", _study_write)
    _listening = True


def _fault_from_env() -> None:
    spec = os.environ.get("ACTSEARCH_FAULT")
    if not spec:
        return
    n, _, kind = spec.partition(":")
    install_fault(Fault(int(n), kind or "count", os.environ.get("ACTSEARCH_FAULT_LOG")))


# --- faults of the machine as one error line -------------------------------------------------

_CAUSES = {
    errno.ENOSPC: "the disk is full; free some space and run the command again (it resumes)",
    errno.EDQUOT: "the disk quota is exceeded; free some space and run the command again (it resumes)",
    errno.EROFS: "the file system is read-only; choose a writable --run-dir / --out",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder, not a file; choose a file name",
    errno.EIO: "an I/O error of the disk; check the disk, then run the command again (it resumes)",
}
_SQLITE_CAUSES = {
    "database or disk is full": errno.ENOSPC,
    "readonly database": errno.EROFS,
    "disk i/o error": errno.EIO,
    "unable to open database file": errno.EACCES,
}


def machine_fault(exc: BaseException) -> tuple[str, str] | None:
    """(path, cause) when ``exc`` (or an exception it was raised from) is a fault of the machine:
    out of space, read-only, permission denied, name too long, a path through a file, an I/O
    error, whether raised by Python or by SQLite under Optuna. None for anything else, which
    stays a bug to report."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _CAUSES:
            return (exc.filename or "", _CAUSES[exc.errno])
        text = str(getattr(exc, "orig", None) or exc).lower()
        for marker, code in _SQLITE_CAUSES.items():
            if marker in text and type(exc).__name__ in ("OperationalError", "StorageInternalError"):
                return ("", _CAUSES[code])
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    return None


@contextlib.contextmanager
def io_errors(path: str | Path) -> Iterator[None]:
    """Turn a fault of the machine under this block into one RunDirError naming the path and the
    cause; every other exception passes unchanged (no blanket wrapping)."""
    try:
        yield
    except RunDirError:
        raise
    except Exception as exc:
        fault = machine_fault(exc)
        if fault is None:
            raise
        where = fault[0] or str(path)
        raise RunDirError(f"cannot write {where}: {fault[1]}") from exc


# --- output paths, checked before any work ---------------------------------------------------

MIN_FREE = 1 << 20  # bytes a run folder needs to start: a snapshot, a study, some records


def check_output_path(path: str | Path, folder: bool = True, option: str = "--run-dir") -> Path:
    """Refuse, before any work, an output path that cannot be written: a name too long, a path
    through a file (or a file where a folder is wanted, or a folder where a file is), a
    read-only or permission-denied folder, a full disk. Writes nothing."""
    path = Path(path)
    name_max = _pathconf(path, "PC_NAME_MAX", 255)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise RunDirError(f"{option} {path}: the name {part[:40]}... is longer than the file system allows "
                              f"({name_max} bytes); choose a shorter path")
    if len(os.fsencode(str(path.absolute()))) >= _pathconf(path, "PC_PATH_MAX", 4096):
        raise RunDirError(f"{option} {path}: the path is longer than the file system allows; choose a shorter path")
    if path.exists():
        if folder and not path.is_dir():
            raise RunDirError(f"{option} {path}: it is a file, not a folder; choose another {option}")
        if not folder and path.is_dir():
            raise RunDirError(f"{option} {path}: it is a folder, not a file; give a file name")
    # the nearest folder that exists must be a folder we may write into
    existing = path if (folder and path.is_dir()) else path.parent
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise RunDirError(f"{option} {path}: {existing} is a file, not a folder; choose another {option}")
    if not folder and path.exists() and not os.access(path, os.W_OK):
        raise RunDirError(f"{option} {path}: permission denied; choose a file you can write")
    try:
        stat = os.statvfs(existing)
    except (OSError, AttributeError):  # no statvfs on Windows
        stat = None
    if stat is not None and stat.f_flag & getattr(os, "ST_RDONLY", 1):
        raise RunDirError(f"{option} {path}: {existing} is on a read-only file system; choose a writable {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"{option} {path}: permission denied in {existing}; choose a folder you can write to")
    if stat is not None and stat.f_bavail * stat.f_frsize < MIN_FREE:
        raise RunDirError(f"{option} {path}: the disk holding {existing} is full; free some space first")
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. ENAMETOOLONG
        return False


def _pathconf(path: Path, name: str, default: int) -> int:
    probe = path
    while not _exists(probe) and probe != probe.parent:
        probe = probe.parent
    try:
        return os.pathconf(probe if probe.is_dir() else probe.parent, name)
    except (OSError, ValueError, AttributeError):
        return default


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_owner(run_dir: Path) -> int | None:
    """The live process (not this one) that holds the run folder's lock, or None.

    The lock holds the pid and a newline: a lock without it was torn by a kill mid-write, and
    its digits (a prefix of the pid) may name some other live process.
    """
    try:
        text = (run_dir / LOCK).read_text()
        pid = int(text) if text.endswith("\n") else 0
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and pid != os.getpid() and _alive(pid) else None


class RunLock:
    """One searching process per local run folder. A lock left by a dead process (SIGKILL)
    is taken over, and ``stale`` tells the caller that process's running trial is lost."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK
        self.stale = False

    def __enter__(self) -> RunLock:
        if self.path.exists():
            pid = lock_owner(self.path.parent)
            if pid is not None:
                raise RunDirError(f"{self.path.parent} is in use by process {pid}; wait for it, or use "
                                  "--workers to add workers to one run")
            self.stale = True
        with io_errors(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, f"{os.getpid()}\n".encode(), self.path)
            finally:
                os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


_fault_from_env()
