"""``results.jsonl``: one JSON line per scored candidate, shared by every command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"


def append_result(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a whole line with a single write, then fsync.

    A crash can at worst leave a torn last line, which ``read_results`` skips and reports.
    """
    path = Path(run_dir) / RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, allow_nan=False, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_results(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[int]]:
    """(records, numbers of the lines skipped because they are not whole JSON objects)."""
    path = Path(run_dir) / RESULTS
    records, bad = [], []
    if not path.is_file():
        return records, bad
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad.append(number)
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad.append(number)
    return records, bad
