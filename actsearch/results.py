"""``results.jsonl``: one JSON line per scored candidate, shared by every command.

Every line is a ``Record``. The R-ReLU seed's aggregation script reads ``activation``,
``test_acc`` (%), ``epoch_to_90`` and ``flops``; the rest is ours. Accuracies are kept apart by
split: ``val_acc`` (carved from the training data) is what searches choose on, ``test_acc`` is
only ever reported.
"""

from __future__ import annotations

import json
import os
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


def record_problems(record: Any) -> list[str]:
    """What makes a parsed line not a usable Record (empty when it is one)."""
    if not isinstance(record, dict):
        return [f"a line holds {type(record).__name__}, not an object"]
    problems = [f"no '{key}'" for key in REQUIRED if key not in record]
    if record.get("role", "search") not in ROLES:
        problems.append(f"unknown role {record.get('role')!r}")
    if record.get("status", "ok") not in STATUSES:
        problems.append(f"unknown status {record.get('status')!r}")
    if record.get("role") in ("search", "confirm") and (isinstance(record.get("trial"), bool)
                                                      or not isinstance(record.get("trial"), int)):
        problems.append("a search record needs an integer 'trial'")
    if record.get("status") == "ok" and not isinstance(record.get("test_acc"), (int, float)):
        problems.append("a scored record needs a numeric 'test_acc'")
    config = record.get("activation_config", {})
    if not isinstance(config, dict) or ("activation_config" in record and not isinstance(config.get("name"), str)):
        problems.append("'activation_config' is not an object with a 'name'")
    for key in NUMBERS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"'{key}' is not a number")
    if record.get("seed") is not None and (isinstance(record["seed"], bool) or not isinstance(record["seed"], int)):
        problems.append("'seed' is not an integer")
    return problems


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


def read_results(run_dir: str | Path) -> tuple[list[Record], list[int]]:
    """(records, numbers of the lines skipped because they are not whole, valid records)."""
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
            if record_problems(record):
                bad.append(number)
            else:
                records.append(record)
    return records, bad
