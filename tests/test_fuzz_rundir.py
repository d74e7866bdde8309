"""Fuzz: run-folder files (``results.jsonl`` lines, ``run.yaml`` snapshots) read by ``report`` and
``export``. The readers (actsearch/results.py, rundir.py, analysis/front.py, analysis/export.py)
belong to the run-folder work (issue 17); the holes found here are strict xfails that flip when
fixed. The strategies are in tests/strategies.py (``results_lines``, ``run_snapshots``, ``records``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given

from actsearch.errors import ActsearchError
from actsearch.results import read_results
from tests.strategies import dump_yaml, examples, results_lines, valid_record, valid_snapshot



@examples(60)
@given(raw=results_lines())
def test_read_results_never_raises_and_accounts_for_every_line(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("run")
    (folder / "results.jsonl").write_bytes(raw)
    records, bad = read_results(folder)
    assert all(isinstance(r, dict) for r in records)
    lines = raw.decode("utf-8", errors="replace").splitlines(keepends=True)
    assert len(records) + len(bad) <= len([line for line in lines if line.strip()])


def _folder(tmp_path: Path, snapshot=None, records=None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.yaml").write_text(dump_yaml(valid_snapshot() if snapshot is None else snapshot))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records or [valid_record()]))
    return folder


def _snapshot(**settings):
    snap = valid_snapshot()
    snap["settings"] = settings.pop("whole") if "whole" in settings else {**snap["settings"], **settings}
    return snap


def _record(drop=(), **fields):
    r = {**valid_record(), **fields}
    for key in drop:
        r.pop(key)
    return r


HOLES = {  # input -> the exception it raises today (where), each should be one RunDirError line
    "settings: null": (_snapshot(whole=None), None),  # AttributeError, front.py analyse
    "settings: [1]": (_snapshot(whole=[1]), None),  # AttributeError, front.py analyse
    "objectives: null": (_snapshot(objectives=None), None),  # AttributeError, front.py analyse
    "objectives: accuracy": (_snapshot(objectives="accuracy"), None),  # IndexError, front.py analyse
    "search record without trial": (None, [_record(drop=["trial"])]),  # KeyError, front.py analyse
    "trial: [1]": (None, [_record(trial=[1])]),  # TypeError unhashable, front.py analyse
    "status: [1]": (None, [_record(status=[1])]),  # TypeError unhashable, front.py analyse
    "ok record without test_acc": (None, [_record(drop=["test_acc"])]),  # KeyError, front.py analyse
    "test_acc: 'x'": (None, [_record(test_acc="x")]),  # TypeError, statistics.fmean via front.py
    "baseline test_acc: 'x'": (None, [_record(role="baseline", test_acc="x"), _record()]),  # TypeError, fmean
    "activation_flops: 'x'": (None, [_record(activation_flops="x")]),  # ValueError, objectives.cost_value
    "activation_config: null": (None, [_record(activation_config=None)]),  # TypeError, export.py export
    "activation_config without name": (None, [_record(activation_config={"alpha": 1})]),  # KeyError, export
}


@pytest.mark.parametrize("case", sorted(HOLES))
def test_damaged_run_folder_holes(tmp_path, case):
    from actsearch.analysis.export import export
    from actsearch.analysis.front import analyse

    snapshot, records = HOLES[case]
    folder = _folder(tmp_path, snapshot, records)
    with pytest.raises(ActsearchError):
        export(analyse(folder), "knee", tmp_path / "best.yaml")
