"""Fault injection, in the spirit of SQLite's crash and I/O-error tests.

Every write to a run folder (actsearch.rundir.write_all) and every write statement of the
Optuna study (an SQLAlchemy event) is a numbered write point. A command is first run with a
counting fault to list its write points; then it is run again with the Nth write failing:
an OSError (ENOSPC, EROFS: sticky, as a full disk or a read-only folder is), a torn write, or
a kill of the process (os._exit, in a subprocess). After every fault:

- the faulted command ended with exit 0, one `error:` line (exit 2), or was killed;
- every record that was whole before the fault is still there;
- `actsearch check` says what is damaged, `check --repair` repairs it, and the next command
  resumes to a folder that `check` passes: trial numbers unique, study and log in agreement,
  the report counting each trial once.

The default suite injects at a few write points; ``-m slow`` at every one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from actsearch import rundir
from actsearch.cli import app
from actsearch.results import read_results
from actsearch.rundir import KILLED, Fault, install_fault

FAST = ["--task", "digits", "--budget", "tiny", "--threads", "1", "--epochs", "1"]
TUNE = ["tune", *FAST, "--trials", "2", "--confirm", "1", "--sampler", "random"]
TRAIN = ["train", *FAST, "--activation", "r_relu"]
COMPARE = ["compare", *FAST, "--activations", "relu,r_relu", "--seeds", "1"]
EVOLVE = ["evolve", *FAST, "--population", "4", "--generations", "1", "--confirm", "0"]
COMMANDS = {"tune": TUNE, "train": TRAIN, "compare": COMPARE, "evolve": EVOLVE}
RUN_OPTION = {"tune": "--run-dir", "train": "--run-dir", "compare": "--run-dir", "evolve": "--run-dir"}



@pytest.fixture(autouse=True)
def _slow_only_when_asked(request):
    """The long runs need `-m slow` (the marker alone does not deselect them)."""
    if request.node.get_closest_marker("slow") and "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long fault-injection run: use -m slow")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def run_args(command: str, run: Path) -> list[str]:
    return [*COMMANDS[command], RUN_OPTION[command], str(run)]


_points: dict[str, list[str]] = {}


def write_points(command: str, tmp_path_factory) -> list[str]:
    """The file of each write point of a fresh run of ``command`` (index 0 is write 1)."""
    if command not in _points:
        folder = tmp_path_factory.mktemp(f"count-{command}")
        log = folder / "points.log"
        install_fault(Fault(0, "count", log))
        try:
            result = invoke(*run_args(command, folder / "run"))
        finally:
            install_fault(None)
        assert result.exit_code == 0, result.output
        _points[command] = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    return _points[command]


def point_number(points: list[str], where: str) -> int:
    """'results.jsonl#2' -> the write number of the 2nd write to results.jsonl;
    'study.db#mid' -> a study write in the middle of the run."""
    name, _, which = where.partition("#")
    numbers = [i + 1 for i, p in enumerate(points) if p == name]
    assert numbers, f"no write to {name} in {points}"
    if which == "mid":
        return numbers[len(numbers) // 2]
    if which == "last":
        return numbers[-1]
    return numbers[int(which or 1) - 1]


def whole_before(points: list[str], n: int) -> int:
    """How many records were whole in results.jsonl before write ``n``."""
    return points[: n - 1].count("results.jsonl")


def one_error_line(output: str) -> bool:
    lines = [line for line in output.splitlines() if line.strip()]
    return "Traceback" not in output and sum(line.startswith("error:") for line in lines) == 1


def records_as_set(run: Path) -> set[str]:
    return {json.dumps(r, sort_keys=True) for r in read_results(run)[0]}


def assert_consistent(run: Path, command: str) -> None:
    """check passes; trial numbers unique; the report counts each trial once."""
    checked = invoke("check", run)
    assert checked.exit_code == 0, checked.output
    records, bad = read_results(run)
    assert not bad
    if command == "tune":
        trials = [r["trial"] for r in records if r.get("role") == "search"]
        assert len(trials) == len(set(trials))
        study = optuna.load_study(study_name="actsearch", storage=f"sqlite:///{run}/study.db")
        finished = [t.number for t in study.trials if t.state.is_finished()]
        assert sorted(finished) == sorted(trials)
        from actsearch.analysis.front import analyse

        assert analyse(run).counts["trials"] == len(set(trials))
        report = invoke("report", run)
        assert report.exit_code == 0, report.output


def recover(run: Path, command: str, before: set[str], direct: bool) -> None:
    """After a fault: check (reports, writes nothing), repair unless ``direct``, resume, verify."""
    if (run / "run.yaml").exists():
        listing = sorted(p.name for p in run.iterdir())
        checked = invoke("check", run)
        assert checked.exit_code in (0, 1), checked.output
        assert sorted(p.name for p in run.iterdir()) == listing  # check alone writes nothing
        if not direct:
            repaired = invoke("check", run, "--repair")
            assert repaired.exit_code == 0, repaired.output
    resumed = invoke(*run_args(command, run))
    assert resumed.exit_code == 0, resumed.output
    assert before <= records_as_set(run), "a record that was whole before the fault is gone"
    assert_consistent(run, command)


def inject(command: str, where: str, kind: str, tmp_path, tmp_path_factory, direct: bool = False):
    points = write_points(command, tmp_path_factory)
    n = point_number(points, where)
    run = tmp_path / "run"
    install_fault(Fault(n, kind))
    try:
        result = invoke(*run_args(command, run))
    finally:
        install_fault(None)
    assert result.exit_code == 2 and one_error_line(result.output), result.output
    assert "disk is full" in result.output or "read-only" in result.output, result.output
    before = records_as_set(run)
    assert len(read_results(run)[0]) == whole_before(points, n)
    recover(run, command, before, direct)
    return points, n


DEFAULT_POINTS = [
    ("tune", "run.yaml#1", "enospc"),
    ("tune", "results.jsonl#2", "enospc"),  # the first search record
    ("tune", "study.db#mid", "erofs"),
    pytest.param("tune", "results.jsonl#last", "erofs", marks=pytest.mark.slow),  # a confirmation
    ("train", "results.jsonl#1", "enospc"),
    ("compare", "results.jsonl#2", "erofs"),
    ("compare", "comparison.md#1", "enospc"),
    ("evolve", "checkpoint.json#1", "erofs"),
]


@pytest.mark.parametrize("command,where,kind", DEFAULT_POINTS)
def test_io_error_at_a_write_point_then_repair_and_resume(command, where, kind, tmp_path, tmp_path_factory):
    inject(command, where, kind, tmp_path, tmp_path_factory)


@pytest.mark.parametrize("where", ["results.jsonl#2", "study.db#mid"])
def test_io_error_then_a_plain_resume(where, tmp_path, tmp_path_factory):
    inject("tune", where, "enospc", tmp_path, tmp_path_factory, direct=True)


@pytest.mark.parametrize("owner,step", [(optuna.study.Study, "enqueue_trial"), (optuna.study.Study, "ask"),
                                        (optuna.trial.Trial, "set_user_attr")])
def test_disk_full_while_the_study_enqueues_or_asks(owner, step, tmp_path, monkeypatch):
    """Found by the slow every-write-point run: a full disk while the study enqueued the warm
    starts or created a trial was reported as an actsearch bug, not as the disk; and a trial
    that failed before it had an activation broke the resume."""
    import sqlite3

    real = getattr(owner, step)

    def full(self, *args, **kwargs):
        if full.armed:
            full.armed = False
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as exc:  # as Optuna's storage raises it
                raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc
        return real(self, *args, **kwargs)

    full.armed = True
    monkeypatch.setattr(owner, step, full)
    run = tmp_path / "run"
    result = invoke(*run_args("tune", run))
    assert result.exit_code == 2 and one_error_line(result.output), result.output
    assert "disk is full" in result.output
    monkeypatch.undo()
    recover(run, "tune", records_as_set(run), direct=True)

def numbered(points: list[str]) -> list[str]:
    """Each write of a run as the fault hook names it: ``file#k``, the k-th write to that file."""
    seen: dict[str, int] = {}
    out = []
    for p in points:
        seen[p] = seen.get(p, 0) + 1
        out.append(f"{p}#{seen[p]}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["enospc", "erofs"])
@pytest.mark.parametrize("command", ["tune", "train", "compare", "evolve"])
def test_io_error_at_every_write_point(command, kind, tmp_path, tmp_path_factory):
    failures = []
    for n, where in enumerate(numbered(write_points(command, tmp_path_factory)), 1):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        try:
            inject(command, where, kind, folder, tmp_path_factory)
        except AssertionError as exc:
            failures.append(f"write {n} ({where}, {kind}): {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


# --- kills: a subprocess dies at the write point ---------------------------------------------------


def run_killed(args: list[str], n: int, kind: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ACTSEARCH_FAULT": f"{n}:{kind}", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "actsearch", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def kill_at(command: str, where: str, kind: str, tmp_path, tmp_path_factory, direct: bool = False) -> None:
    points = write_points(command, tmp_path_factory)
    n = point_number(points, where)
    run = tmp_path / "run"
    proc = run_killed(run_args(command, run), n, kind)
    assert proc.returncode == KILLED, proc.stdout + proc.stderr
    records = read_results(run)[0]
    assert len(records) == whole_before(points, n)
    if kind == "torn" and where.startswith("results.jsonl#"):  # other files tear only a temporary
        assert (run / "results.jsonl").read_bytes()[-1:] != b"\n"
        checked = invoke("check", run)
        assert checked.exit_code == 1 and "torn" in checked.output
    recover(run, command, records_as_set(run), direct)


@pytest.mark.parametrize("where,kind", [
    pytest.param("results.jsonl#2", "torn", marks=pytest.mark.slow),  # the plain resume below covers it
    ("study.db#mid", "kill"),
    ("run.yaml#1", "kill"),  # found by the slow run: the resume left the killed writer's temporary
])
def test_kill_at_a_write_point_then_repair_and_resume(where, kind, tmp_path, tmp_path_factory):
    kill_at("tune", where, kind, tmp_path, tmp_path_factory)


def test_torn_record_then_a_plain_resume_keeps_every_record(tmp_path, tmp_path_factory):
    """Why #1: the record appended after a torn fragment stays whole (no repair in between)."""
    points = write_points("tune", tmp_path_factory)
    n = point_number(points, "results.jsonl#2")
    run = tmp_path / "run"
    assert run_killed(run_args("tune", run), n, "torn").returncode == KILLED
    before = records_as_set(run)
    resumed = invoke(*run_args("tune", run))
    assert resumed.exit_code == 0, resumed.output
    records, bad = read_results(run)
    assert before <= records_as_set(run)
    assert bad[0] == 2  # the fragment, kept on its own line and reported
    lines = (run / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[2])  # the next line is whole: not glued to the fragment
    assert bad == [2]
    assert len(lines) == len(records) + 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["kill", "torn"])
@pytest.mark.parametrize("command", ["tune", "compare", "evolve"])
def test_kill_at_every_write_point(command, kind, tmp_path, tmp_path_factory):
    failures = []
    for n, where in enumerate(numbered(write_points(command, tmp_path_factory)), 1):
        if kind == "torn" and where.startswith("study.db#"):
            continue  # a torn SQLite transaction is a kill
        folder = tmp_path / f"k{n}"
        folder.mkdir()
        try:
            kill_at(command, where, kind, folder, tmp_path_factory)
        except AssertionError as exc:
            failures.append(f"write {n} ({where}, {kind}): {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


# --- the hook itself ------------------------------------------------------------------------------


def test_the_hook_costs_one_test_when_off():
    assert rundir._fault is None  # nothing installed by default (no ACTSEARCH_FAULT)


def test_the_hook_fails_the_nth_write_and_sticks(tmp_path):
    from actsearch.results import append_result

    record = {"role": "train", "status": "ok", "activation_config": {"name": "relu"}, "seed": 0, "test_acc": 1.0}
    install_fault(Fault(2, "enospc"))
    try:
        append_result(tmp_path, record)
        for _ in range(2):  # a full disk stays full
            with pytest.raises(rundir.RunDirError, match="disk is full"):
                append_result(tmp_path, record)
    finally:
        install_fault(None)
    append_result(tmp_path, record)
    assert len(read_results(tmp_path)[0]) == 2


def test_a_study_write_fault_looks_like_sqlite(tmp_path):
    install_fault(Fault(1, "enospc"))
    try:
        with pytest.raises(Exception) as info:
            optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="x")
    finally:
        install_fault(None)
    assert rundir.machine_fault(info.value) is not None


@pytest.mark.parametrize("kind", ["enospc", "through-file"])
def test_export_fault_is_one_line(kind, tmp_path, tmp_path_factory):
    run = tmp_path / "run"
    assert invoke(*run_args("tune", run)).exit_code == 0
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "best.yaml" if kind == "through-file" else tmp_path / "best.yaml"
    install_fault(Fault(1, kind) if kind == "enospc" else None)
    try:
        result = invoke("export", run, "--out", out)
    finally:
        install_fault(None)
    assert result.exit_code == 2 and one_error_line(result.output), result.output


# --- the run lock ---------------------------------------------------------------------------------


@pytest.fixture
def live_pid():
    """A live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_live_lock_holder_is_refused_a_torn_lock_taken_over(tmp_path, live_pid):
    from actsearch.errors import RunDirError
    from actsearch.rundir import LOCK, RunLock

    lock = tmp_path / LOCK
    lock.write_text(f"{live_pid}\n")
    with pytest.raises(RunDirError, match=f"is in use by process {live_pid}"):
        with RunLock(tmp_path):
            pass
    # A kill mid-write leaves a prefix of the pid, which may name another live process:
    # without its newline the lock is torn, so taken over.
    lock.write_text(str(live_pid))
    with RunLock(tmp_path) as taken:
        assert taken.stale and lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()


def test_check_leaves_a_live_writers_temporary_and_repairs_a_dead_ones(tmp_path, live_pid):
    """A `compare` takes no lock, so check must not take its temporary for a kill's leftover."""
    from actsearch.cli import app
    from typer.testing import CliRunner

    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["compare", "--task", "digits", "--budget", "tiny", "--epochs", "1",
                                      "--threads", "1", "--seeds", "1", "--activations", "relu",
                                      "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    live = run / f".results.jsonl.{live_pid}.tmp"
    live.write_text("being written")
    result = CliRunner().invoke(app, ["check", str(run)])
    assert result.exit_code == 0 and live.exists(), result.output
    dead = run / ".results.jsonl.999999999.tmp"  # above any pid_max: no such process
    dead.write_text("left by a kill")
    result = CliRunner().invoke(app, ["check", str(run)])
    assert result.exit_code == 1 and dead.name in result.output and live.name not in result.output
    result = CliRunner().invoke(app, ["check", "--repair", str(run)])
    assert result.exit_code == 0 and not dead.exists() and live.exists(), result.output
