"""`actsearch check`, reconcile and fail_stale, output-path checks, and Hypothesis damaging
each run-folder file at any byte."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState
from typer.testing import CliRunner

from actsearch import rundir
from actsearch.check import check, checkpoint_problem, fail_stale, fail_trial, reconcile
from actsearch.cli import app
from actsearch.errors import ConfigError, RunDirError
from actsearch.results import append_result, read_results, seal
from actsearch.rundir import check_output_path, io_errors, open_run, read_snapshot

FAST = ["--task", "digits", "--budget", "tiny", "--threads", "1", "--epochs", "1"]
# ACTSEARCH_LONG=1 for the long run (hundreds of damaged files per test)
EXAMPLES = settings(max_examples=400 if os.environ.get("ACTSEARCH_LONG") else 10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result) -> bool:
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code == 2 and "Traceback" not in result.output and len(lines) == 1 \
        and lines[0].startswith("error:")


@pytest.fixture(scope="module")
def tune_run(tmp_path_factory) -> Path:
    """A finished tiny tune run: 3 trials, one confirmation seed."""
    run = tmp_path_factory.mktemp("tune") / "run"
    result = invoke("tune", *FAST, "--trials", "3", "--confirm", "1", "--sampler", "random", "--run-dir", run)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def evolve_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("evolve") / "run"
    result = invoke("evolve", *FAST, "--population", "4", "--generations", "1", "--confirm", "0", "--run-dir", run)
    assert result.exit_code == 0, result.output
    return run


def copy(run: Path, where: Path) -> Path:
    target = where / "run"
    shutil.copytree(run, target)
    return target


def study_of(run: Path) -> optuna.Study:
    return optuna.load_study(study_name="actsearch", storage=f"sqlite:///{run}/study.db")


def trials_of(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state, t.params, t.values) for t in study.trials]


def test_a_whole_run_passes_and_check_writes_nothing(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    result = invoke("check", run)
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


# --- Why: a record is lost after a torn last line ---------------------------------------------


RECORD = {"role": "train", "status": "ok", "activation_config": {"name": "relu"}, "seed": 0, "test_acc": 90.0}


def test_an_append_after_a_torn_line_starts_a_fresh_line(tmp_path):
    append_result(tmp_path, RECORD)
    with open(tmp_path / "results.jsonl", "ab") as f:
        f.write(b'{"role": "train", "sta')  # a killed writer's fragment
    append_result(tmp_path, {**RECORD, "seed": 1})
    records, bad = read_results(tmp_path)
    assert [r["seed"] for r in records] == [0, 1]
    assert bad == [2]  # the fragment is kept, on its own line, and reported
    assert (tmp_path / "results.jsonl").read_text().splitlines()[1] == '{"role": "train", "sta'


def test_a_record_glued_to_a_fragment_by_older_versions_is_recovered(tmp_path):
    whole = json.dumps(seal({**RECORD, "seed": 1}), sort_keys=True)
    (tmp_path / "results.jsonl").write_text(json.dumps(seal(RECORD)) + "\n" + '{"role": "tr' + whole + "\n")
    records, bad = read_results(tmp_path)
    assert [r["seed"] for r in records] == [0, 1] and bad == [2]


def test_check_reports_and_repairs_a_torn_line(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    records = read_results(run)[0]
    with open(run / "results.jsonl", "ab") as f:
        f.write(b'{"activation_config": {"na')
    result = invoke("check", run)
    assert result.exit_code == 1 and "torn" in result.output and "--repair" in result.output
    assert invoke("check", run, "--repair").exit_code == 0
    assert read_results(run) == (records, [])
    assert (run / "results.damaged").read_text() == '{"activation_config": {"na\n'
    assert invoke("check", run).exit_code == 0


# --- Why: study.db gone with the log kept -------------------------------------------------------


def test_a_missing_study_is_reported_and_rebuilt_from_the_log(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    original = trials_of(study_of(run))
    (run / "study.db").unlink()
    result = invoke("check", run)
    assert result.exit_code == 1 and "study.db: is missing" in result.output
    assert not (run / "study.db").exists()  # check alone writes nothing
    repaired = invoke("check", run, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert trials_of(study_of(run)) == original
    # the resumed search continues the count instead of restarting at trial 0
    resumed = invoke("tune", *FAST, "--trials", "4", "--confirm", "1", "--sampler", "random", "--run-dir", run)
    assert resumed.exit_code == 0, resumed.output
    trials = [r["trial"] for r in read_results(run)[0] if r["role"] == "search"]
    assert sorted(trials) == [0, 1, 2, 3]


def test_reconcile_rebuilds_a_missing_study(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    original = trials_of(study_of(run))
    (run / "study.db").unlink()
    study = optuna.create_study(storage=f"sqlite:///{run}/study.db", study_name="actsearch",
                                directions=["maximize", "minimize"])
    # warm-start points never tried are enqueued again by the next tune, not by the repair
    assert reconcile(run, study) == ["added trial(s) 0, 1, 2 to study.db from results.jsonl"]
    assert trials_of(study) == original
    assert reconcile(run, study) == []  # now they agree


def test_reconcile_appends_what_the_log_lost(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    lines = (run / "results.jsonl").read_text().splitlines(keepends=True)
    lost = next(i for i, line in enumerate(lines)
                if json.loads(line)["role"] == "search" and json.loads(line)["trial"] == 1)
    (run / "results.jsonl").write_text("".join(lines[:lost] + lines[lost + 1:]))
    result = invoke("check", run)
    assert result.exit_code == 1 and "lacks finished trial(s) 1" in result.output
    assert reconcile(run, study_of(run)) == ["appended the record(s) of trial(s) 1 to results.jsonl from study.db"]
    records = [r for r in read_results(run)[0] if r["role"] == "search"]
    assert sorted(r["trial"] for r in records) == [0, 1, 2]
    assert invoke("check", run).exit_code == 0


def test_two_searches_in_one_folder_are_refused_in_one_line(tune_run, tmp_path):
    """Today's outcome of a resume after study.db was deleted: a second study under the same numbers."""
    run = copy(tune_run, tmp_path)
    (run / "study.db").unlink()
    other = optuna.create_study(storage=f"sqlite:///{run}/study.db", study_name="actsearch",
                                directions=["maximize", "minimize"])
    dist = optuna.distributions.CategoricalDistribution(["zero", "cubic"])
    other.add_trial(optuna.trial.create_trial(values=[1.0, 1.0], params={"shape": "cubic"},
                                              distributions={"shape": dist}))
    with pytest.raises(RunDirError) as info:
        reconcile(run, other)
    message = str(info.value)
    assert "\n" not in message and "study.db" in message and "results.jsonl" in message and "trial 0" in message
    result = invoke("check", run)
    assert result.exit_code == 1 and "trial 0 has" in result.output


# --- stale RUNNING trials ---------------------------------------------------------------------


def test_fail_stale_finishes_a_trial_whose_record_reached_the_log(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    study = study_of(run)
    seed_record = next(r for r in read_results(run)[0] if r["role"] == "search" and r["status"] == "ok")
    trial = study.ask({k: study.trials[seed_record["trial"]].distributions[k]
                       for k in study.trials[seed_record["trial"]].params})
    logged = {**seed_record, "trial": trial.number, "point": dict(trial.params)}
    append_result(run, logged)  # killed after the append, before the tell
    other = study.ask()  # killed before its record was written
    assert fail_stale(study, run) == [trial.number, other.number]
    states = {t.number: t.state for t in study_of(run).trials}
    assert states[trial.number] == TrialState.COMPLETE and states[other.number] == TrialState.FAIL
    search = [r for r in read_results(run)[0] if r["role"] == "search"]
    assert [r["trial"] for r in search].count(trial.number) == 1  # no second record
    failed = [r for r in search if r["trial"] == other.number]
    assert len(failed) == 1 and failed[0]["status"] == "failed" and "killed" in failed[0]["reason"]
    assert invoke("check", run).exit_code == 0


def test_fail_trial_marks_the_in_flight_trial_failed_or_leaves_it_to_the_next_resume(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    fault = OSError(errno.ENOSPC, "No space left on device", str(run / "results.jsonl"))
    study = study_of(run)
    trial = study.ask()
    rundir.install_fault(rundir.Fault(1, "enospc"))  # the disk is still full
    try:
        assert fail_trial(study, run, trial.number, fault) is False  # and raises nothing over the first fault
    finally:
        rundir.install_fault(None)
    assert fail_trial(study_of(run), run, trial.number, fault) is True
    assert study_of(run).trials[trial.number].state == TrialState.FAIL
    failed = [r for r in read_results(run)[0] if r["role"] == "search" and r["trial"] == trial.number]
    assert len(failed) == 1 and "disk is full" in failed[0]["reason"]
    assert invoke("check", run).exit_code == 0


def test_check_repair_finishes_stale_trials(tune_run, tmp_path):
    run = copy(tune_run, tmp_path)
    study_of(run).ask()
    result = invoke("check", run)
    assert result.exit_code == 1 and "RUNNING" in result.output
    assert invoke("check", run, "--repair").exit_code == 0
    assert invoke("check", run).exit_code == 0


# --- faults of the machine: one line --------------------------------------------------------------


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "permission denied"), (errno.ENAMETOOLONG, "too long"),
                                        (errno.ENOTDIR, "is a file")])
def test_io_errors_names_the_path_and_the_cause(code, words):
    with pytest.raises(RunDirError) as info:
        with io_errors("runs/x/results.jsonl"):
            raise OSError(code, "boom", "runs/x/results.jsonl")
    assert "runs/x/results.jsonl" in str(info.value) and words in str(info.value)


def test_io_errors_passes_other_exceptions():
    with pytest.raises(FileNotFoundError):
        with io_errors("x"):
            raise FileNotFoundError(errno.ENOENT, "no", "x")
    with pytest.raises(ValueError):
        with io_errors("x"):
            raise ValueError("a bug stays a bug")


def test_output_paths_are_refused_before_any_work(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        check_output_path(a_file)
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        check_output_path(a_file / "run")
    with pytest.raises(RunDirError, match="longer than the file system allows"):
        check_output_path(tmp_path / ("x" * 300))
    monkeypatch.setattr(rundir.os, "access", lambda path, mode: False)  # root may write anywhere
    with pytest.raises(RunDirError, match="permission denied"):
        check_output_path(tmp_path / "run")


@pytest.mark.parametrize("case", ["file", "through-file", "too-long", "read-only"])
def test_tune_into_a_bad_run_dir_is_one_line_before_any_work(case, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    run = {"file": tmp_path / "file", "through-file": tmp_path / "file" / "run",
           "too-long": tmp_path / ("r" * 300), "read-only": tmp_path / "ro" / "run"}[case]
    if case == "read-only":
        (tmp_path / "ro").mkdir()
        real = rundir.os.access
        monkeypatch.setattr(rundir.os, "access", lambda p, mode: False if "ro" in Path(p).parts else real(p, mode))
    import actsearch.training.trainer as trainer

    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("trained before checking the folder"))
    result = invoke("tune", *FAST, "--trials", "1", "--run-dir", run)
    assert one_error_line(result), result.output
    assert str(run)[:40] in result.output.replace("\n", "")


def test_a_full_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    real = rundir.os.statvfs

    class Full:
        def __init__(self, s):
            self.f_flag, self.f_frsize, self.f_bavail = s.f_flag, s.f_frsize, 0

    monkeypatch.setattr(rundir.os, "statvfs", lambda p: Full(real(p)))
    with pytest.raises(RunDirError, match="full"):
        check_output_path(tmp_path / "run")


def test_train_into_a_run_dir_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    import actsearch.training.trainer as trainer

    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("trained before checking --run-dir"))
    result = invoke("train", *FAST, "--run-dir", tmp_path / "file")
    assert one_error_line(result), result.output


def test_train_into_a_run_dir_that_is_a_file_is_one_line(tmp_path):
    """Today the result is lost after training, but with one error line, not a traceback."""
    (tmp_path / "file").write_text("x")
    result = invoke("train", *FAST, "--run-dir", tmp_path / "file")
    assert one_error_line(result), result.output


# --- Hypothesis: each file truncated or corrupted at any byte ------------------------------------


def damage(data: bytes, how: str, at: int, byte: int) -> bytes:
    at = at % (len(data) + (how == "truncate"))
    if how == "truncate":
        return data[:at]
    return data[:at] + bytes([byte]) + data[at + 1:]


def damaged_copy(run: Path, name: str, where: Path, how: str, at: int, byte: int) -> tuple[Path, bytes, bytes]:
    """A copy of ``run`` under ``where`` with its file ``name`` damaged: (copy, original bytes, damaged bytes)."""
    copied = copy(run, where)
    data = (copied / name).read_bytes()
    damaged = damage(data, how, at, byte)
    (copied / name).write_bytes(damaged)
    return copied, data, damaged


HOW = st.sampled_from(["truncate", "corrupt"])


@EXAMPLES
@given(how=HOW, at=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_a_damaged_log_is_reported_and_no_whole_record_is_lost(tune_run, how, at, byte):
    with tempfile.TemporaryDirectory() as tmp:
        run, data, damaged = damaged_copy(tune_run, "results.jsonl", Path(tmp), how, at, byte)
        original, _ = read_results(tune_run)
        kept_lines = damaged.split(b"\n")[:-1] if not damaged.endswith(b"\n") else damaged.split(b"\n")
        whole = [r for r in original if json.dumps(seal(r), sort_keys=True).encode() in kept_lines]
        records, _ = read_results(run)
        result = check(run)
        if damaged != data and records != original:
            # what changed a record is reported, unless it only cut whole lines off the end that
            # nothing else refers to (baseline or confirmation records)
            cut_search = any(r["role"] == "search" and r not in records for r in original)
            assert not result.ok or (not cut_search and data.startswith(damaged)), (result.problems, damaged)
        for r in whole:
            assert r in records  # every line left whole is still read
        check(run, repair=True)
        append_result(run, {**RECORD, "seed": 99})  # the next command appends
        records, _ = read_results(run)
        for r in whole:
            assert r in records
        assert records[-1]["seed"] == 99
        assert check(run).ok, check(run).problems
        search = [r["trial"] for r in records if r["role"] == "search"]
        assert sorted(set(search)) == [0, 1, 2] and len(search) == 3  # rebuilt from the study, once each


@EXAMPLES
@given(how=HOW, at=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_a_damaged_snapshot_is_reported(tune_run, how, at, byte):
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        run, data, damaged = damaged_copy(tune_run, "run.yaml", Path(tmp), how, at, byte)
        try:
            same = yaml.safe_load(damaged.decode()) == yaml.safe_load(data.decode())
        except (yaml.YAMLError, UnicodeDecodeError):
            same = False
        result = check(run)
        assert same or not result.ok
        records = read_results(run)[0]
        assert records == read_results(tune_run)[0]  # damage to one file touches no other
        # the resume's gate: it goes on with the same settings, or is refused in one line
        original = read_snapshot(tune_run)
        try:
            assert open_run(run, "tune", original["settings"]) is True
            assert same
        except (RunDirError, ConfigError) as exc:
            assert "\n" not in str(exc)
        assert read_results(run)[0] == records


@EXAMPLES
@given(how=HOW, at=st.integers(0, 10**6), byte=st.integers(0, 255), sealed=st.booleans())
def test_a_damaged_checkpoint_is_reported(evolve_run, how, at, byte, sealed):
    settings_ = read_snapshot(evolve_run)["settings"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.json"
        doc = json.loads((evolve_run / "checkpoint.json").read_text())
        data = json.dumps(seal(doc) if sealed else doc).encode()
        damaged = damage(data, how, at, byte)
        path.write_bytes(damaged)
        problem = checkpoint_problem(path, settings_)
        try:
            loaded = json.loads(damaged)
        except ValueError:
            loaded = None
        if loaded == json.loads(data):
            assert problem is None  # whitespace only: the same checkpoint
        elif sealed:
            assert problem is not None  # a sealed checkpoint reports every change
        elif problem is None:
            # unsealed (today's evolve): a changed number that is still in range goes unseen
            assert isinstance(loaded, dict) and loaded.keys() == doc.keys()


def test_check_of_an_evolve_run(evolve_run, tmp_path):
    run = copy(evolve_run, tmp_path)
    assert invoke("check", run).exit_code == 0
    (run / "checkpoint.json").write_text((run / "checkpoint.json").read_text()[:-20])
    result = invoke("check", run)
    assert result.exit_code == 1 and "checkpoint.json" in result.output


def test_check_of_a_folder_that_is_not_a_run(tmp_path):
    assert one_error_line(invoke("check", tmp_path / "nothing"))
    (tmp_path / "f").write_text("x")
    assert one_error_line(invoke("check", tmp_path / "f"))
    assert one_error_line(invoke("check", tmp_path))


def test_check_prints_names_verbatim(tune_run, tmp_path):
    run = tmp_path / "[bold]x:smile:"
    shutil.copytree(tune_run, run)
    (run / "study.db").unlink()
    result = invoke("check", run)
    assert "[bold]x:smile:" in result.output


def test_every_single_byte_change_of_a_record_is_seen(tune_run):
    """Exhaustive, for one search record: each byte replaced by a space, a digit, a letter, a
    quote, a brace or a newline either leaves the same record or makes the line damaged."""
    from actsearch.results import parse_line

    line = next(json.dumps(seal(r), sort_keys=True) for r in read_results(tune_run)[0] if r["role"] == "search")
    original = parse_line(line)[0]
    unseen = []
    for i in range(len(line)):
        for c in ' 0a"}\n':
            if line[i] == c:
                continue
            changed = line[:i] + c + line[i + 1:]
            for part in changed.split("\n"):
                record, bad = parse_line(part)
                if record is not None and not bad and record != original:
                    unseen.append((i, c))
    assert not unseen
