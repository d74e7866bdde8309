"""The run folder every search writes: configuration snapshot with versions, and a lock.

    runs/NAME/
      run.yaml        what produced the run: command, space, task, budget, objectives, versions
      results.jsonl   one line per scored candidate (actsearch.results)
      study.db        tune: the Optuna study (SQLite), unless --storage names another
      checkpoint.json evolve: the last generation
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

import yaml

from actsearch.activations.registry import read_yaml
from actsearch.errors import RunDirError

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
    snapshot = read_snapshot(run_dir)
    if snapshot is None:
        # Hidden files are our own temporaries and lock, e.g. of a process starting beside this one.
        if run_dir.exists() and any(not p.name.startswith(".") for p in run_dir.iterdir()):
            raise RunDirError(f"{run_dir} exists and is not an actsearch run folder; choose another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / SNAPSHOT, yaml.safe_dump(
            {"command": command, "settings": settings, "versions": versions(),
             "created": _dt.datetime.now().isoformat(timespec="seconds"), "argv": sys.argv}, sort_keys=False))
        return False
    if snapshot.get("command") != command:
        raise RunDirError(f"{run_dir} holds an `actsearch {snapshot.get('command')}` run, not `{command}`; "
                          "use another --run-dir")
    old = snapshot["settings"]
    for key, value in settings.items():
        if key in old and old[key] != value:
            raise RunDirError(f"{run_dir} was started with {key}={old[key]!r}, not {value!r}; resume with "
                              "the same options or use another --run-dir")
    return True


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: writers may race
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """One searching process per local run folder. A lock left by a dead process (SIGKILL)
    is taken over, and ``stale`` tells the caller that process's running trial is lost."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK
        self.stale = False

    def __enter__(self) -> RunLock:
        if self.path.exists():
            try:
                pid = int(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise RunDirError(f"{self.path.parent} is in use by process {pid}; wait for it, or use "
                                  "--workers to add workers to one run")
            self.stale = True
        self.path.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
