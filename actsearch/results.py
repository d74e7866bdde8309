"""``results.jsonl``: one JSON line per scored candidate, shared by every command.

Every line is a ``Record``. The R-ReLU seed's aggregation script reads ``activation``,
``test_acc`` (%), ``epoch_to_90`` and ``flops``; the rest is ours. Accuracies are kept apart by
split: ``val_acc`` (carved from the training data) is what searches choose on, ``test_acc`` is
only ever reported.
"""

from __future__ import annotations

import errno
import json
import os
import zlib
from pathlib import Path
from typing import Any, TypedDict

RESULTS = "results.jsonl"
# Why a job was run: a search proposal, the ReLU reference, an extra seed of a front member
# (racing), a job on a seed the search never saw (holdout), or a row of compare / fidelity / train.
ROLES = ("search", "baseline", "confirm", "holdout", "compare", "fidelity", "train")
STATUSES = ("ok", "pruned", "diverged", "failed", "infeasible")


class Record(TypedDict, total=False):
    role: str  # one of ROLES
    trial: int | None  # the search's trial number; None for the baseline
    seed: int  # model init, data order and noise
    point: dict[str, Any]  # the search point (space values, switches included); search records only
    warm: bool  # a warm-start point (the seed papers' defaults), tried first
    reused: bool  # answered from an earlier record of the same config and seed, not retrained
    activation: str  # a readable label
    activation_config: dict[str, Any]  # what build_activation takes
    status: str  # one of STATUSES
    reason: str | None
    val_acc: float  # % on the validation split after the last epoch run
    val_curve: list[float]  # validation accuracy after each epoch
    test_acc: float  # % on the test split
    curve: list[float]  # test accuracy after each epoch (only the last is ever reported)
    test_loss: float | None
    dead_ratio: float | None
    epoch_to_target: int | None
    epoch_to_90: int | None
    model_flops: int  # per sample, forward: matmuls and convolutions
    activation_flops: int  # per sample, forward at inference
    activation_flops_train: int
    flops: int  # model_flops + activation_flops (the R-ReLU seed's column)
    params: int  # the model's parameter count
    latency: float  # activation fwd+bwd time / ReLU's, when the latency objective is on
    time_s: float
    task: str
    model: str
    budget: str
    train_config: dict[str, Any]  # the resolved TrainConfig


REQUIRED = ("role", "status", "activation_config", "seed")
NUMBERS = ("val_acc", "test_acc", "test_loss", "dead_ratio", "model_flops", "activation_flops",
           "activation_flops_train", "flops", "params", "latency", "time_s", "cost_ratio")
CHECKSUM = "checksum"  # written by append_result, checked and removed by read_results


def _crc(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != CHECKSUM}
    # the JSON form, so a value read back from YAML or JSON (a list for a tuple) sums the same
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return f"crc32:{zlib.crc32(text.encode()):08x}"


def seal(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with a checksum of its JSON form, so that a flipped byte that still
    parses is caught (run.yaml, each results line; evolve may seal its checkpoint too)."""
    return {CHECKSUM: _crc(doc), **doc}  # first: a snapshot cut short keeps it, and fails it


def seal_problem(doc: Any) -> str | None:
    """Why a sealed document's checksum does not match (None when it matches or has none)."""
    if not isinstance(doc, dict):
        return None
    if CHECKSUM not in doc:  # unsealed (older versions), unless the checksum's own key was hit
        hit = any(isinstance(v, str) and v.startswith("crc32:") for v in doc.values())
        return "its checksum's key is damaged" if hit else None
    try:
        expected = _crc(doc)
    except (TypeError, ValueError):
        return "its content is not JSON"
    return None if doc[CHECKSUM] == expected else "its checksum does not match (a byte was changed)"


def relu_val(records: list[Record]) -> dict[int, float]:
    """ReLU's validation accuracy per seed, from the baseline records (a seed logged twice, by two
    processes, counts once)."""
    out: dict[int, float] = {}
    for r in records:
        if r.get("role") == "baseline" and r.get("status") == "ok" and isinstance(r.get("val_acc"), (int, float)):
            out.setdefault(r["seed"], r["val_acc"])
    return out


def record_problems(record: Any) -> list[str]:
    """What makes a parsed line not a usable Record (empty when it is one)."""
    if not isinstance(record, dict):
        return [f"a line holds {type(record).__name__}, not an object"]
    problem = seal_problem(record)
    if problem:
        return [problem]
    problems = [f"no '{key}'" for key in REQUIRED if key not in record]
    if record.get("role", "search") not in ROLES:
        problems.append(f"unknown role {record.get('role')!r}")
    if record.get("status", "ok") not in STATUSES:
        problems.append(f"unknown status {record.get('status')!r}")
    trial = record.get("trial")
    if record.get("role") in ("search", "confirm") and (not isinstance(trial, int) or isinstance(trial, bool)):
        problems.append("a search record needs an integer 'trial'")
    if record.get("status") == "ok" and not isinstance(record.get("test_acc"), (int, float)):
        problems.append("a scored record needs a numeric 'test_acc'")
    config = record.get("activation_config", {})
    named = isinstance(config, dict) and isinstance(config.get("name"), str)
    # a failed record may not know what it was training (a trial killed before it was asked)
    if not isinstance(config, dict) or ("activation_config" in record and not named and record.get("status") != "failed"):
        problems.append("'activation_config' is not an object with a 'name'")
    for key in NUMBERS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"'{key}' is not a number")
    if record.get("seed") is not None and (isinstance(record["seed"], bool) or not isinstance(record["seed"], int)):
        problems.append("'seed' is not an integer")
    return problems


def record_point(record: dict[str, Any]) -> dict[str, Any] | None:
    """The search point of a record: ``point``, or ``params`` where older code wrote it there
    (``params`` is otherwise the model's parameter count, an int)."""
    for key in ("point", "params"):
        if isinstance(record.get(key), dict):
            return record[key]
    return None


def append_result(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a whole line with a single write, then fsync.

    The line always starts on a fresh line: when the file ends in the torn fragment of a killed
    writer, a newline is written first, so the fragment stays on its own line (``read_results``
    and ``actsearch check`` report it) and the new record stays whole. A fault of the machine
    (disk full, read-only folder...) is one RunDirError naming the file.
    """
    from actsearch.rundir import fsync_dir, io_errors, write_all

    path = Path(run_dir) / RESULTS
    line = (json.dumps(seal(record), sort_keys=True, allow_nan=False) + "\n").encode()
    with io_errors(path):
        if path.parent.exists() and not path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end the torn fragment; one write keeps the record whole
            write_all(fd, line, path)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not size:
            fsync_dir(path.parent)  # a new file's name survives a power cut too


def torn_tail(run_dir: str | Path) -> bytes | None:
    """The bytes after the last newline of results.jsonl (a killed writer's fragment), or None."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if not size:
            return None
        f.seek(max(0, size - 65536))
        tail = f.read()
    if tail.endswith(b"\n"):
        return None
    return tail.rsplit(b"\n", 1)[-1]


def parse_line(line: str) -> tuple[Record | None, bool]:
    """(the record a line holds, whether the line is damaged).

    A damaged line may still hold a whole record: the one that older versions appended straight
    after a torn fragment, without a newline. That record is returned (nothing whole is lost)
    and the line is still reported as damaged.
    """
    record = _whole(line)
    if record is not None:
        return record, False
    start = line.find('{"', 1)
    while start != -1:
        glued = _whole(line[start:])
        if glued is not None:
            return glued, True
        start = line.find('{"', start + 1)
    return None, True


def _whole(text: str) -> Record | None:
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if record_problems(record) or seal_problem(record):
        return None
    record.pop(CHECKSUM, None)
    return record


def read_results(run_dir: str | Path) -> tuple[list[Record], list[int]]:
    """(records, numbers of the lines that are not whole, valid records).

    A damaged line's glued whole record (see ``parse_line``) is kept in ``records``.
    """
    path = Path(run_dir) / RESULTS
    records, bad = [], []
    if not path.is_file():
        return records, bad
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            record, damaged = parse_line(line)
            if damaged:
                bad.append(number)
            if record is not None:
                records.append(record)
    return records, bad
