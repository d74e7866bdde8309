"""``actsearch check RUN [--repair]``: is every file of a run folder whole, and do they agree?

What is checked:
  run.yaml         parses, is a snapshot, and its checksum matches
  results.jsonl    every line is a whole record (schema and checksum); no torn last line; no trial
                   with two search records
  study.db         (tune) opens; the same trial numbers as the log, with the same parameters and
                   the same outcome; no trial left RUNNING by a process that is gone
  checkpoint.json  (evolve) a whole checkpoint whose candidates all have a record in the log
  .lock, .*.tmp    left by a process that is gone

``--repair`` does only what loses nothing: end a torn last line with a newline (the fragment is
kept), move damaged lines to ``results.damaged`` (a whole record glued to a fragment goes back
to the log on its own line), rebuild a missing study from the log, append to the log what the
study holds and the log lacks, finish or fail trials left RUNNING, remove a dead lock and
dead temporaries. Without ``--repair`` nothing is written.

The search backends call ``reconcile`` and ``fail_stale`` on every resume.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actsearch.errors import RunDirError
from actsearch.results import RESULTS, parse_line, read_results, record_point, relu_val, seal_problem, torn_tail
from actsearch.rundir import LOCK, SNAPSHOT, io_errors, lock_owner, machine_fault, stale_temporaries, write_atomic

STUDY = "study.db"
CHECKPOINT = "checkpoint.json"
DAMAGED = "results.damaged"  # where --repair moves lines that hold no whole record
KILLED_REASON = "the process running it was killed"


@dataclass
class Problem:
    file: str  # the file of the run folder it is in
    what: str  # what is wrong, one line
    fix: str  # what repairs it: "--repair" when check --repair does, else what the user can do
    repairable: bool = True


@dataclass
class CheckResult:
    run_dir: Path
    command: str | None
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # what --repair did
    notes: list[str] = field(default_factory=list)  # facts that are not damage
    records: int = 0
    trials: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def repair_command(self) -> str:
        return f"actsearch check {self.run_dir} --repair"


# --- the log --------------------------------------------------------------------------------------


def search_records(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Search records by trial number, in log order."""
    out: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("role") == "search" and isinstance(r.get("trial"), int):
            out.setdefault(r["trial"], []).append(r)
    return out


def _outcome(record_status: str | None) -> str:
    """A log status as the study state it must agree with."""
    return {"pruned": "PRUNED", "failed": "FAIL"}.get(record_status or "failed", "COMPLETE")


def _decisive(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record that says how a trial ended: the first that is not a 'killed' failure."""
    for r in records:
        if not (r.get("status") == "failed" and r.get("reason") == KILLED_REASON):
            return r
    return records[0]


# --- the study ------------------------------------------------------------------------------------


def _snapshot(run_dir: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((run_dir / SNAPSHOT).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("settings"), dict) else {}


def _space(settings: dict[str, Any]):
    from actsearch.search.space import load_space, parse_space

    if isinstance(settings.get("space_definition"), dict):
        return parse_space(settings["space_definition"], SNAPSHOT)
    return load_space(settings.get("space", "bounded_negative"))


def distributions(space) -> dict[str, Any]:
    """The Optuna distribution of each dimension, as tune's suggest calls declare them."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for d in space.dimensions:
        if d.choices:
            out[d.name] = CategoricalDistribution(list(d.choices))
        elif d.type == "int":
            out[d.name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        else:
            out[d.name] = FloatDistribution(d.low, d.high, log=d.log, step=d.step)
    return out


def _values(record: dict[str, Any], objective: str, relu: dict[int, float]) -> tuple[float, float] | None:
    """(value, cost) as tune tells them for a record (the paired validation difference from
    ReLU on the same seed), None when the record cannot be told."""
    from actsearch.search.objectives import cost_value

    cost = cost_value(record, objective)
    if cost is None or not math.isfinite(cost) or record.get("status") != "ok":
        return None
    acc, base = record.get("val_acc"), relu.get(record.get("seed"))
    if not isinstance(acc, (int, float)) or base is None or not math.isfinite(acc - base):
        return None
    return float(acc - base), cost


USER_ATTRS = ("curve", "status", "test_acc", "test_loss", "dead_ratio", "flops", "activation_flops",
              "epoch_to_90", "time_s")


def _objective(run_dir: Path) -> str:
    objectives = _snapshot(run_dir).get("settings", {}).get("objectives", "accuracy,activation_flops")
    return str(objectives).split(",")[-1].strip()


def _seed(run_dir: Path) -> int:
    settings = _snapshot(run_dir).get("settings", {})
    train = settings.get("train") if isinstance(settings, dict) else None
    seed = train.get("seed", 0) if isinstance(train, dict) else 0
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def disagreements(study, by_trial: dict[int, list[dict[str, Any]]], outcomes: list[str] | None = None) -> list[str]:
    """Where the study and the log disagree on the parameters of a trial both hold (two searches
    in one folder). Trials whose outcome differs (a kill between the log's write and the study's,
    before this version) go to ``outcomes`` when given: the log holds the result, the report
    reads the log, and a finished Optuna trial cannot be changed, so that is no reason to refuse."""
    out = []
    for t in study.get_trials(deepcopy=False):
        records = by_trial.get(t.number)
        if not records or t.state.name in ("RUNNING", "WAITING"):
            continue
        record = _decisive(records)
        point = record_point(record)
        if point is not None:
            differ = sorted(k for k, v in t.params.items() if k not in point or not _same(point[k], v))
            if differ:
                out.append(f"trial {t.number} has {', '.join(f'{k}={t.params[k]!r}' for k in differ)} in "
                           f"{STUDY} but {', '.join(f'{k}={point.get(k)!r}' for k in differ)} in {RESULTS}")
                continue
        if _outcome(record.get("status")) != t.state.name and outcomes is not None:
            outcomes.append(f"trial {t.number} is {t.state.name} in {STUDY} but '{record.get('status')}' in {RESULTS}")
    return out


def _append(run_dir: Path, record: dict[str, Any]) -> None:
    from actsearch.results import append_result

    append_result(run_dir, record)


def fail_stale(study, run_dir: str | Path, objective: str | None = None, seed: int | None = None) -> list[int]:
    """Finish the trials a killed process left RUNNING; returns their numbers.

    Call it only when no live process can be running a trial of this study (a local run folder
    under its lock; scale-out calls it for trials whose heartbeat stopped). A trial whose whole
    search record reached the log is told to the study as that record says (nothing re-trained,
    no second record); any other becomes FAIL in the study and gets a 'failed' record in the log.
    """
    from optuna.trial import TrialState

    run_dir = Path(run_dir)
    objective = objective or _objective(run_dir)
    seed = _seed(run_dir) if seed is None else seed
    records = read_results(run_dir)[0]
    by_trial, relu = search_records(records), relu_val(records)
    done = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = _decisive(by_trial[t.number]) if t.number in by_trial else None
        if record is not None and record.get("status") != "failed":
            for key in USER_ATTRS:
                if key in record:
                    study._storage.set_trial_user_attr(t._trial_id, key, record[key])
            if record.get("status") == "pruned":
                study.tell(t.number, state=TrialState.PRUNED)
                done.append(t.number)
                continue
            values = _values(record, objective, relu)
            if values is not None:
                study.tell(t.number, list(values))
                done.append(t.number)
                continue
        study.tell(t.number, state=TrialState.FAIL)
        if record is None:
            _append(run_dir, {"role": "search", "trial": t.number, "status": "failed", "reason": KILLED_REASON,
                              "activation_config": t.user_attrs.get("activation", {}), "seed": seed,
                              "point": dict(t.params)})
        done.append(t.number)
    return done


def fail_trial(study, run_dir: str | Path, number: int, exc: BaseException, seed: int | None = None) -> bool:
    """Mark the in-flight trial ``number`` failed in the study and the log after a fault of the
    machine ``exc`` (call it in the search's ``except`` before re-raising); True when both were
    written. With the disk still full or read-only, what cannot be written is left for the next
    resume's ``fail_stale``: this never raises a second error over the first."""
    from optuna.trial import TrialState

    run_dir = Path(run_dir)
    reason = machine_fault(exc)
    written = 0
    try:
        trial = study._storage.get_trial(study._storage.get_trial_id_from_study_id_trial_number(
            study._study_id, number))
        if trial.state == TrialState.RUNNING:
            study.tell(number, state=TrialState.FAIL)
        written += 1
        if number not in search_records(read_results(run_dir)[0]):
            _append(run_dir, {"role": "search", "trial": number, "status": "failed", "point": dict(trial.params),
                              "seed": _seed(run_dir) if seed is None else seed,
                              "activation_config": trial.user_attrs.get("activation", {}),
                              "reason": f"a fault of the machine: {reason[1] if reason else type(exc).__name__}"})
        written += 1
    except Exception as again:  # noqa: BLE001 - the first fault is the one to report
        if machine_fault(again) is None:
            raise
    return written == 2


def _record_from_trial(t, seed: int, source: str) -> dict[str, Any]:
    status = {"COMPLETE": t.user_attrs.get("status", "ok"), "PRUNED": "pruned"}.get(t.state.name, "failed")
    record = {"role": "search", "trial": t.number, "status": status, "seed": seed,
              "activation_config": t.user_attrs.get("activation", {}), "point": dict(t.params),
              "reason": f"rebuilt from {source}: the log had lost this trial's record"}
    for key in USER_ATTRS:
        if key in t.user_attrs and key != "status":
            record[key] = t.user_attrs[key]
    if status == "ok" and not isinstance(record.get("test_acc"), (int, float)) and t.values:
        record["test_acc"] = t.values[0]
    if status == "ok" and not isinstance(record.get("test_acc"), (int, float)):
        record["status"] = "failed"
    return record


def _trial_from_records(number: int, records: list[dict[str, Any]] | None, dists: dict[str, Any], objective: str,
                        relu: dict[int, float]):
    """The FrozenTrial that ``study.add_trial`` takes for one logged trial (FAIL when it has none)."""
    from optuna.trial import TrialState, create_trial

    if not records:
        return create_trial(state=TrialState.FAIL)
    record = _decisive(records)
    point = record_point(record) or {}
    params = {k: v for k, v in point.items() if k in dists}
    attrs = {k: record[k] for k in USER_ATTRS if k in record}
    attrs["activation"] = record.get("activation_config", {})
    kwargs = {"params": params, "distributions": {k: dists[k] for k in params}, "user_attrs": attrs}
    try:
        if record.get("status") == "pruned":
            return create_trial(state=TrialState.PRUNED, **kwargs)
        values = _values(record, objective, relu) if record.get("status") != "failed" else None
        if values is None:
            return create_trial(state=TrialState.FAIL, **kwargs)
        return create_trial(state=TrialState.COMPLETE, values=list(values), **kwargs)
    except ValueError:  # a logged value outside the space (edited by hand): keep the number
        return create_trial(state=TrialState.FAIL, user_attrs=attrs)


def reconcile(run_dir: str | Path, study, shared: bool = False) -> list[str]:
    """Check the study against the log on resume, and repair the side that lost something.

    - a study that lacks trials the log holds (study.db deleted, or an older copy): the missing
      trials are added from the log with ``study.add_trial``, numbers kept (a number the log
      lost entirely is added as FAIL and gets a 'failed' record);
    - a log that lacks finished trials the study holds (a record lost with a torn line, or a
      write that failed): their records are appended, rebuilt from the study;
    - the two disagree on a trial's parameters or outcome: RunDirError, one line naming both
      files and the fix.

    With ``shared`` (a database study of several machines, the truth) only the log's own trials
    are checked and nothing is rebuilt. Call ``fail_stale`` first where trials may be stale.
    Returns what was repaired, one line each (empty when both already agreed).
    """
    run_dir = Path(run_dir)
    records = read_results(run_dir)[0]
    by_trial, relu = search_records(records), relu_val(records)
    problems = disagreements(study, by_trial)
    if problems:
        raise RunDirError(f"{run_dir / STUDY} and {run_dir / RESULTS} disagree: {problems[0]}"
                          f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}; they hold "
                          f"two different searches: see `actsearch check {run_dir}`, or use another --run-dir")
    if shared:
        return []
    repaired = []
    trials = study.get_trials(deepcopy=False)
    if by_trial and max(by_trial) >= len(trials):
        settings = _snapshot(run_dir).get("settings", {})
        objective, dists = _objective(run_dir), distributions(_space(settings))
        added = []
        for number in range(len(trials), max(by_trial) + 1):
            study.add_trial(_trial_from_records(number, by_trial.get(number), dists, objective, relu))
            if number not in by_trial:
                _append(run_dir, {"role": "search", "trial": number, "status": "failed", "seed": _seed(run_dir),
                                  "activation_config": {}, "reason": "its record was lost before this repair"})
            added.append(number)
        repaired.append(f"added trial(s) {_ranges(added)} to {STUDY} from {RESULTS}")
        # warm-start points not yet run are enqueued again by the next tune (OptunaBackend.open)
    seed = _seed(run_dir)
    appended = []
    for t in study.get_trials(deepcopy=False):
        if t.number not in by_trial and t.state.name in ("COMPLETE", "PRUNED", "FAIL"):
            _append(run_dir, _record_from_trial(t, seed, STUDY))
            appended.append(t.number)
    if appended:
        repaired.append(f"appended the record(s) of trial(s) {_ranges(appended)} to {RESULTS} from {STUDY}")
    return repaired


def _ranges(numbers: list[int]) -> str:
    numbers = sorted(numbers)
    if len(numbers) > 6:
        return f"{numbers[0]}-{numbers[-1]} ({len(numbers)})"
    return ", ".join(map(str, numbers))


def open_study(run_dir: Path, name: str, writable: bool):
    """The run folder's own SQLite study (read-only unless ``writable``); None when there is none."""
    import optuna

    path = (run_dir / STUDY).resolve()
    if not writable and not path.is_file():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if writable:
        url = f"sqlite:///{path}"
    else:  # a read-only connection: check without --repair writes nothing, not even a table
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=not writable,
                                         skip_table_creation=not writable)
    if writable and not any(s.study_name == name for s in storage.get_all_studies()):
        return optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
    return optuna.load_study(study_name=name, storage=storage)


# --- the whole folder -----------------------------------------------------------------------------


def check(run_dir: str | Path, repair: bool = False) -> CheckResult:
    """Verify every file of a run folder; with ``repair``, also do the repairs that lose nothing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "does not exist" if not run_dir.exists() else "is a file, not a folder"
        raise RunDirError(f"{run_dir} {what}; pass a run folder written by actsearch")
    result = CheckResult(run_dir, None)
    live = lock_owner(run_dir)
    if live:
        if repair:
            raise RunDirError(f"{run_dir} is in use by process {live}; repair it after that process ends")
        result.notes.append(f"in use by process {live}: a search is running, so the files may move")
    snapshot = _check_snapshot(run_dir, result)
    result.command = snapshot.get("command") if snapshot else None
    _check_leftovers(run_dir, result, repair, live)
    _check_log(run_dir, result, repair)
    if result.command == "tune":
        _check_study(run_dir, result, snapshot, repair, live)
    elif result.command == "evolve":
        _check_checkpoint(run_dir, result, snapshot)
    records, _ = read_results(run_dir)
    result.records = len(records)
    result.trials = len(search_records(records))
    return result


def _check_snapshot(run_dir: Path, result: CheckResult) -> dict[str, Any]:
    import yaml

    path = run_dir / SNAPSHOT
    restore = "restore it from a copy of the run, or start a new --run-dir"
    if not path.is_file():
        records = read_results(run_dir)[0]
        if (run_dir / RESULTS).is_file() and all(r.get("role") == "train" for r in records) \
                and not (run_dir / STUDY).exists() and not (run_dir / CHECKPOINT).exists():
            result.notes.append(f"a folder of `actsearch train --run-dir` results (no {SNAPSHOT})")
            return {"command": "train"}
        if any(p.name in (RESULTS, STUDY, CHECKPOINT) for p in run_dir.iterdir()):
            result.problems.append(Problem(SNAPSHOT, "is missing: the run cannot be resumed or reported", restore, False))
        else:
            raise RunDirError(f"{run_dir} is not an actsearch run folder (no {SNAPSHOT})")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        result.problems.append(Problem(SNAPSHOT, f"cannot be read: {first}", restore, False))
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict) or "command" not in data:
        result.problems.append(Problem(SNAPSHOT, "is not an actsearch run snapshot (no command or settings)",
                                       restore, False))
        return {}
    problem = seal_problem(data)
    if problem:
        result.problems.append(Problem(SNAPSHOT, problem, restore + "; a resume with other settings is refused",
                                       False))
    return data


def _check_leftovers(run_dir: Path, result: CheckResult, repair: bool, live: int | None) -> None:
    if live:
        return
    lock = run_dir / LOCK
    leftovers = stale_temporaries(run_dir)
    if lock.exists():
        leftovers.insert(0, lock)
    if not leftovers:
        return
    names = ", ".join(p.name for p in leftovers)
    if repair:
        for p in leftovers:
            with io_errors(p):
                p.unlink(missing_ok=True)
        result.repaired.append(f"removed {names} (left by a process that is gone)")
    else:
        result.problems.append(Problem(names, "left by a process that is gone (a kill mid-run); nothing is lost",
                                       "--repair removes them (so does a resume)"))


def _check_log(run_dir: Path, result: CheckResult, repair: bool) -> None:
    path = run_dir / RESULTS
    if not path.is_file():
        return
    tail = torn_tail(run_dir)
    damaged, salvaged = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record, bad = parse_line(line)
        if bad:
            damaged.append(number)
            salvaged += record is not None
    shown = ", ".join(map(str, damaged[:8])) + (" ..." if len(damaged) > 8 else "")
    glued = f"; {salvaged} of them also hold a whole record, which is kept" if salvaged else ""
    if repair and damaged:  # a torn last line is one of them: it ends up whole in the other file
        _quarantine(run_dir, lines)
        result.repaired.append(f"moved {len(damaged)} damaged line(s) of {RESULTS} to {DAMAGED}"
                               f"{', putting the whole records they held on lines of their own' if salvaged else ''}")
    elif repair and tail is not None:  # a whole record that only lacks its newline
        with io_errors(path), open(path, "ab") as f:
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
        result.repaired.append(f"ended the last line of {RESULTS} with a newline")
    elif tail is not None:
        result.problems.append(Problem(
            RESULTS, f"its last line is torn ({len(tail)} bytes without a newline: a write was cut off)",
            "--repair ends it and keeps the fragment; a resumed search appends after it safely"))
    middle = [n for n in damaged if not (tail is not None and n == len(lines))]
    if middle and not repair:
        result.problems.append(Problem(
            RESULTS, f"line(s) {shown} are not whole records (skipped by report){glued}",
            f"--repair moves them to {DAMAGED}, keeping every whole record"))
    dupes = {n: rs for n, rs in search_records(read_results(run_dir)[0]).items()
             if len([r for r in rs if r.get("reason") != KILLED_REASON]) > 1}
    if dupes:
        n, rs = next(iter(sorted(dupes.items())))
        result.problems.append(Problem(
            RESULTS, f"trial(s) {_ranges(list(dupes))} have more than one search record (trial {n}: "
            f"{', '.join(str(r.get('status')) for r in rs)}): the report counts them twice",
            f"compare with {STUDY} (`actsearch report`), then delete the wrong line by hand", False))


def _quarantine(run_dir: Path, lines: list[str]) -> None:
    """Rewrite results.jsonl with whole records only; damaged lines go, verbatim, to results.damaged."""
    keep, moved = [], []
    for line in lines:
        if not line.strip():
            continue
        record, bad = parse_line(line)
        if not bad:
            keep.append(line if line.endswith("\n") else line + "\n")
            continue
        moved.append(line if line.endswith("\n") else line + "\n")
        if record is not None:
            glued = line[line.index('{"', 1):] if '{"' in line[1:] else line
            while parse_line(glued)[1] and '{"' in glued[1:]:
                glued = glued[glued.index('{"', 1):]
            keep.append(glued if glued.endswith("\n") else glued + "\n")
    damaged = run_dir / DAMAGED
    with io_errors(damaged), open(damaged, "a", encoding="utf-8") as f:  # first, so nothing is ever only in memory
        f.writelines(moved)
        f.flush()
        os.fsync(f.fileno())
    write_atomic(run_dir / RESULTS, "".join(keep))


def _check_study(run_dir: Path, result: CheckResult, snapshot: dict[str, Any], repair: bool,
                 live: int | None) -> None:
    settings = snapshot.get("settings", {}) if snapshot else {}
    argv = snapshot.get("argv") or [] if snapshot else []
    if any(str(a).startswith("--storage") for a in argv):
        result.notes.append("the study lives in the --storage it was started with; only the log was checked")
        return
    by_trial = search_records(read_results(run_dir)[0])
    name = settings.get("study", "actsearch")
    rebuild = f"move {STUDY} aside, then --repair rebuilds it from {RESULTS}"
    try:
        study = open_study(run_dir, name, writable=False)
    except Exception as exc:  # noqa: BLE001 - any failure to open is what check reports
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:  # a study cut off while being created: Optuna completes its tables when it opens it
            study = open_study(run_dir, name, writable=True) if repair else None
        except Exception:  # noqa: BLE001
            study = None
        if study is None:
            result.problems.append(Problem(STUDY, f"cannot be opened: {first}", "--repair opens it for writing, "
                                           "which completes a study cut off while being created; if that fails, "
                                           f"{rebuild}", not repair))
            return
        result.repaired.append(f"completed {STUDY}, cut off while being created")
    if study is None:
        if by_trial:
            if repair:
                repaired = reconcile(run_dir, open_study(run_dir, name, writable=True))
                result.repaired += repaired
            else:
                result.problems.append(Problem(
                    STUDY, f"is missing while {RESULTS} holds {len(by_trial)} trial(s): a resume would start "
                    "the count again at trial 0", f"--repair rebuilds it from {RESULTS}"))
        return
    trials = study.get_trials(deepcopy=False)
    stale = [t.number for t in trials if t.state.name == "RUNNING"] if not live else []
    outcomes: list[str] = []
    problems = disagreements(study, by_trial, outcomes)
    if outcomes:
        result.notes.append(f"{len(outcomes)} trial(s) ended differently in the two files ({outcomes[0]}): a kill "
                            f"between the two writes, before this version; the report reads {RESULTS}")
    for p in problems[:5]:
        result.problems.append(Problem(f"{STUDY} / {RESULTS}", p, "they hold two different searches: keep the "
                                       f"one you trust ({rebuild}), or use another --run-dir", False))
    if len(problems) > 5:
        result.problems.append(Problem(f"{STUDY} / {RESULTS}", f"{len(problems) - 5} more disagreements", "", False))
    missing_in_study = [n for n in by_trial if n >= len(trials)]
    missing_in_log = [t.number for t in trials if t.number not in by_trial
                      and t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    if repair and not problems:
        writable = open_study(run_dir, name, writable=True)
        if stale:
            fail_stale(writable, run_dir)
            result.repaired.append(f"finished trial(s) {_ranges(stale)} left RUNNING by a killed process")
        result.repaired += reconcile(run_dir, writable)
        return
    if stale:
        result.problems.append(Problem(STUDY, f"trial(s) {_ranges(stale)} are RUNNING but no process runs them",
                                       "--repair finishes them from their record, or marks them FAIL "
                                       "(a resume does too)"))
    if missing_in_study:
        result.problems.append(Problem(STUDY, f"lacks trial(s) {_ranges(missing_in_study)} that {RESULTS} holds",
                                       f"--repair adds them from {RESULTS}"))
    if missing_in_log:
        result.problems.append(Problem(RESULTS, f"lacks finished trial(s) {_ranges(missing_in_log)} that "
                                       f"{STUDY} holds", f"--repair appends their records from {STUDY}"))


def _check_checkpoint(run_dir: Path, result: CheckResult, snapshot: dict[str, Any]) -> None:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return
    fix = f"delete {CHECKPOINT}: the evolution restarts, and every candidate already in {RESULTS} is " \
          "answered from the log, not trained again"
    problem = checkpoint_problem(path, snapshot.get("settings", {}) if snapshot else {})
    if problem:
        result.problems.append(Problem(CHECKPOINT, problem, fix, False))


def checkpoint_problem(path: Path, settings: dict[str, Any]) -> str | None:
    """Why an evolve checkpoint is not whole (None when it is)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"cannot be read: {exc}"
    if not isinstance(doc, dict):
        return "is not a checkpoint (not an object)"
    problem = seal_problem(doc)
    if problem:
        return problem
    try:
        from actsearch.search.evolve import CHECKPOINT_FORMAT

        if doc.get("format") != CHECKPOINT_FORMAT:
            return f"has format {doc.get('format')!r}, not {CHECKPOINT_FORMAT!r}"
        generation = doc["generation"]
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            return f"generation {generation!r} is not a count"
        dims = len(_space(settings).dimensions) if settings else None
        population = doc["population"]
        if not isinstance(population, list) or not population:
            return "has no population"
        for i, ind in enumerate(population):
            genome = [float(g) for g in ind["genome"]]
            fitness = [float(v) for v in ind["fitness"]]
            float(ind["crowding"])
            if dims is not None and len(genome) != dims:
                return f"individual {i} has {len(genome)} genes, the space {dims}"
            if len(fitness) != 2 or not all(math.isfinite(v) for v in genome + fitness):
                return f"individual {i} is not a finite genome with two objectives"
        if not isinstance(doc["logbook"], list) or len(doc["logbook"]) != generation + 1:
            return f"its logbook has {len(doc['logbook'])} rows for generation {generation}"
        rng = doc["rng"]
        if not all(k in rng for k in ("python", "numpy", "torch")):
            return "its random state is incomplete"
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return f"is not whole ({type(exc).__name__}: {exc})"
    return None


def render(result: CheckResult) -> list[str]:
    """The lines ``actsearch check`` prints."""
    lines = [f"{result.run_dir}: {result.command or 'unknown'} run, {result.records} record(s), "
             f"{result.trials} search trial(s)"]
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"repaired: {r}" for r in result.repaired]
    for p in result.problems:
        fix = result.repair_command() if p.fix.startswith("--repair") else ""
        how = f"{fix}{p.fix[len('--repair'):]}" if fix else p.fix
        lines.append(f"damaged: {p.file}: {p.what}" + (f"\n  fix: {how}" if how else ""))
    if result.ok:
        lines.append("ok: every file is whole and they agree")
    return lines


__all__ = ["CheckResult", "Problem", "check", "checkpoint_problem", "disagreements", "distributions",
           "fail_stale", "fail_trial", "open_study", "reconcile", "render"]
