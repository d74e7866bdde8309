"""``actsearch tune``: Optuna proposes points (ask), the run scores them, Optuna hears (tell).

Two objectives: the paired validation difference from ReLU (maximized) and a cost (minimized).
Optuna's pruners refuse multi-objective studies, so early stopping lives in the run (the rung
rule of ``objectives.Rungs``); a stopped candidate is told as PRUNED, which every sampler
accepts. ``--max-cost`` reaches the samplers that take constraints (TPE, NSGA-II/III, GP) through
``constraints_func``. The study lives in SQLite inside the run folder unless ``--storage`` names
another, so runs resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from actsearch.choices import SAMPLERS, unknown
from actsearch.errors import ConfigError, RunDirError
from actsearch.rundir import machine_fault, write_atomic
from actsearch.search.base import Proposal, Search, SearchSettings
from actsearch.search.objectives import parse_objectives
from actsearch.search.space import Dimension
from actsearch.search.store import (GRACE, HEARTBEAT, METADATA, POLL, RECORDS, JOBS, SETTINGS_ATTR, StudyStore,
                                    _alive_here, database_error, database_lock, is_database, redact)

WORST = -1e9  # the accuracy value told for an infeasible candidate (it is never trained)


@dataclass
class TuneSettings(SearchSettings):
    sampler: str = "tpe"
    trials: int = 30  # trials of this study in a terminal state (complete, pruned, failed, infeasible)
    timeout: float | None = None  # seconds for this invocation
    storage: str | None = None  # any Optuna storage URL; default SQLite in the run folder
    study: str = "actsearch"


def _constraints(trial) -> list[float]:
    return trial.user_attrs.get("constraint", [0.0])


def _trial_constraints() -> bool:
    """Optuna 5 takes constraints from the trial (``set_constraint``); 4 from ``constraints_func``."""
    import optuna

    return hasattr(optuna.trial.Trial, "set_constraint")


def _sampler(name: str, seed: int, constrained: bool, shared: bool = False):
    import optuna

    kw: dict[str, Any] = {"seed": seed}
    if shared and name == "tpe":
        kw["constant_liar"] = True  # trials running elsewhere count as bad guesses: spreads the processes
    if constrained and name in ("tpe", "nsga2", "nsga3", "gp") and not _trial_constraints():
        kw["constraints_func"] = _constraints
    factories: dict[str, Callable[..., Any]] = {
        "tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
        "nsga3": optuna.samplers.NSGAIIISampler, "gp": optuna.samplers.GPSampler,
        "random": optuna.samplers.RandomSampler,
    }
    if name == "random":
        kw.pop("constraints_func", None)
    return factories[name](**kw)


def _suggest(trial) -> Callable[[Dimension], Any]:
    def suggest(d: Dimension) -> Any:
        if d.choices:
            return trial.suggest_categorical(d.name, list(d.choices))
        if d.type == "int":
            return trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        return trial.suggest_float(d.name, d.low, d.high, log=d.log, step=d.step)

    return suggest


class OptunaBackend:
    """Optuna ask-and-tell. ``--trials`` counts the study's trials in a terminal state, as
    Optuna's ``n_trials`` does; a point already scored still counts (it is answered from the log).

    With ``--storage`` naming a database (PostgreSQL, MySQL, or an explicit SQLite file) several
    processes on several machines share the study, and the database is the truth
    (``actsearch.search.store``): the schema and the study are set up under a database lock, the
    run's settings are a study attribute every process must match, each process has its own
    sampler stream, asks are counted under the lock against the trials finished *and* running in
    every process (no machine overshoots ``--trials``), and running trials carry heartbeats.
    """

    command = "tune"

    def __init__(self, settings: TuneSettings):
        if settings.sampler not in SAMPLERS:
            raise ConfigError(unknown("sampler", settings.sampler, SAMPLERS))
        if settings.trials < 1:
            raise ConfigError(f"--trials must be >= 1, got {settings.trials}")
        if settings.timeout is not None and not settings.timeout > 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, got {settings.timeout}")
        if settings.storage is not None and not (is_database(settings.storage)
                                                 or settings.storage.startswith("journal:")):
            raise ConfigError(f"--storage {settings.storage!r}: give an Optuna RDB URL (sqlite:///, postgresql://, "
                              "mysql://) or journal:PATH")
        self.settings = settings
        self.local = settings.storage is None
        self.shared = is_database(settings.storage)
        self.study = None
        self.store: StudyStore | None = None
        self.started = 0.0

    def identity(self) -> dict[str, Any]:
        return {"sampler": self.settings.sampler, "study": self.settings.study}

    def _storage(self, search: Search):
        import optuna

        url = self.settings.storage
        if url is None:
            path = (search.run_dir / "study.db").resolve()
            return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 120}})
        if is_database(url):
            kwargs: dict[str, Any] = {"heartbeat_interval": HEARTBEAT, "grace_period": GRACE}
            if url.startswith("sqlite"):
                kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
            else:
                kwargs["engine_kwargs"] = {"pool_pre_ping": True}
            return _rdb_storage(url, kwargs)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url.split(":", 1)[1]))

    # --- opening the study ------------------------------------------------------------------------

    def shared_store(self, search: Search) -> StudyStore | None:
        """For ``Search``: the store of a database study (opened now, so the baseline is shared
        too), or None when the run folder is the truth."""
        if not self.shared:
            return None
        self._open_study(search)
        return self.store

    def _open_study(self, search: Search) -> None:
        import optuna
        import sqlalchemy.exc

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        url = self.settings.storage
        where = redact(url) if url else "the run folder's study.db"
        constrained = search.settings.max_cost is not None
        seed = search.settings.seed if not self.shared else process_seed(search.settings.seed, search.run_dir)
        try:
            storage = self._storage(search)
            engine = getattr(storage, "engine", None)
            with (database_lock(engine) if self.shared else contextlib.nullcontext()):
                if self.shared:
                    METADATA.create_all(engine, checkfirst=True)
                fresh = self.settings.study not in optuna.study.get_all_study_names(storage)
                self.study = optuna.create_study(
                    storage=storage, study_name=self.settings.study, load_if_exists=True,
                    directions=["maximize", "minimize"],
                    sampler=_sampler(self.settings.sampler, seed, constrained, shared=self.shared))
                self._check_settings(search, fresh)
                if self.shared:
                    self.store = StudyStore(self.study._storage, self.study._study_id, url, engine)
                    if fresh:  # a study id the database reuses must not inherit old rows
                        _forget(engine, self.study._study_id)
        except ImportError as exc:
            raise database_error(exc, url or "sqlite://") from None
        except (sqlalchemy.exc.SQLAlchemyError, OSError, optuna.exceptions.StorageInternalError) as exc:
            fault = machine_fault(exc)
            if url is None and fault is not None:  # the run folder's own study: a fault of the machine
                raise RunDirError(f"cannot write {fault[0] or search.run_dir / 'study.db'}: {fault[1]}") from None
            if url is None or not self.shared:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"cannot open the study in {where}: {first}; check the URL and that the "
                                  "database server is running") from None
            raise database_error(exc, url) from None
        except ConfigError:
            raise
        except ValueError as exc:  # e.g. an existing study with other directions
            raise ConfigError(f"cannot open study '{self.settings.study}' in {where}: {exc}") from None
        if self.store is not None:
            self.store.start()

    def _check_settings(self, search: Search, fresh: bool) -> None:
        """The run's settings as study attributes (optuna-dashboard shows them); a process whose
        settings differ from the study's is refused, and so is a study another tool made."""
        study = self.study
        mine = json.loads(json.dumps(search.snapshot_settings, default=str))
        attrs = study.user_attrs
        theirs = attrs.get(SETTINGS_ATTR)
        where = f"study '{self.settings.study}' in {redact(self.settings.storage)}" if self.settings.storage else \
            f"the study of {search.run_dir}"
        if theirs is None:
            if self.settings.storage is not None and not fresh and (study.trials or attrs):
                raise ConfigError(f"{where} was not made by actsearch (it has trials but no actsearch settings); "
                                  "use another --study")
            train = mine.get("train", {})
            readable = {"task": train.get("task"), "model": train.get("model"), "budget": train.get("budget"),
                        "seed": train.get("seed"), "space": mine.get("space"), "objectives": mine.get("objectives"),
                        "sampler": self.settings.sampler, "rank": mine.get("rank"), "max_cost": mine.get("max_cost")}
            for key, value in readable.items():
                study.set_user_attr(key, value)
            study.set_user_attr(SETTINGS_ATTR, mine)
            study.set_metric_names(["val_diff_vs_relu", parse_objectives(mine["objectives"])[1]])
            return
        if not isinstance(theirs, dict):
            raise ConfigError(f"{where} holds an unreadable '{SETTINGS_ATTR}' attribute; use another --study")
        diff = _first_difference(theirs, mine)
        if diff is not None:
            key, old, new = diff
            raise ConfigError(f"{where} was started with {key}={old!r}, not {new!r}; run every process with the "
                              "same options, or use another --study")

    def open(self, search: Search, warm: list[dict[str, Any]]) -> None:
        import time

        self.search = search
        if self.study is None:
            self._open_study(search)
        with self._lock():
            self._fail_stale(search)
            self._enqueue_warm(search, warm)
        self.started = time.monotonic()

    def _enqueue_warm(self, search: Search, warm: list[dict[str, Any]]) -> None:
        """Warm-start points come out first; those never tried (a resumed or rebuilt study) are
        enqueued again, never more than the trials left (a waiting trial past --trials never runs)."""
        from optuna.trial import TrialState

        from actsearch.search.space import config_key

        if not warm or self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return
        tried = {config_key(r["activation_config"]) for r in search.records if r.get("role") == "search"}
        todo = [p for p in warm if config_key(search.space.to_activation(search.space.active_values(p))) not in tried]
        for point in todo[: self.remaining()]:
            self.study.enqueue_trial(point, skip_if_exists=True)

    def _lock(self):
        return database_lock(self.store.engine) if self.store is not None else contextlib.nullcontext()

    def _fail_stale(self, search: Search) -> None:
        """Trials left RUNNING by a killed process end. In the run folder's own study: the check
        module finishes them (told from the log where their record reached it, else FAIL) and
        checks the study against the log, repairing the side that lost something. With a shared
        database: this run folder's own trial at once when its process is dead on this host; any
        other only when its heartbeats stopped (Optuna's ``fail_stale_trials``)."""
        import optuna
        from optuna.trial import TrialState

        from actsearch.check import fail_stale, reconcile

        if self.local:
            fail_stale(self.study, search.run_dir)
            reconcile(search.run_dir, self.study)
            search.reload()  # what the repairs appended
            return
        if self.shared:
            mine = process_identity(search.run_dir)
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                owner = t.user_attrs.get("process") or {}
                if owner.get("id") == mine and _alive_here(owner.get("owner", "")) is False:
                    self._fail_killed(search, t)
        if isinstance(getattr(self.study._storage, "_backend", self.study._storage), optuna.storages.RDBStorage):
            optuna.storages.fail_stale_trials(self.study)  # heartbeats tell dead processes

    def _fail_killed(self, search: Search, t) -> None:
        from optuna.trial import TrialState

        search.record({"activation_config": t.user_attrs.get("activation", {"name": "relu"}), "seed": search.base.seed,
                       "status": "failed", "reason": "the process running it was killed"},
                      role="search", trial=t.number, point=dict(t.params))
        self.study.tell(t.number, state=TrialState.FAIL)

    def _counts(self) -> tuple[int, int, int]:
        """(finished, running, waiting) trials of the study, every process together."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        return finished, running, waiting

    def _finished(self) -> int:
        return self._counts()[0]

    def remaining(self) -> int:
        return max(0, self.settings.trials - self._finished())

    def ask(self) -> list[Proposal]:
        import time

        import optuna

        deadline = time.monotonic() + 30 * 24 * 3600
        while time.monotonic() < deadline:
            if self.settings.timeout is not None and time.monotonic() - self.started > self.settings.timeout:
                return []
            stop = getattr(self.search, "stop", None)
            if stop is not None and stop.requested:
                return []
            with self._lock():
                if self.shared:
                    optuna.storages.fail_stale_trials(self.study)
                finished, running, waiting = self._counts()
                # other processes' running trials are theirs to finish: counting them keeps every
                # machine within --trials (a killed process's trial turns FAIL when its heartbeat stops)
                left = self.settings.trials - finished - (running if self.shared else 0)
                if left > 0:
                    return self._ask(min(left, self.search.workers), waiting)
            if not self.shared or running == 0:
                return []
            time.sleep(POLL * 2)  # the study is full but others still run: wait for their trials (racing needs them)
        return []

    def _ask(self, n: int, waiting: int) -> list[Proposal]:
        batch = []
        owner = None
        if self.store is not None:
            owner = {"id": process_identity(self.search.run_dir), "owner": self.store.owner,
                     "run_dir": str(self.search.run_dir)}
        for _ in range(n):
            warm = waiting > 0  # enqueued points come out first
            waiting -= 1
            trial = self.study.ask()
            if self.store is not None:
                self.store.trial_started(trial._trial_id)
                trial.set_user_attr("process", owner)
            point = self.search.space.sample(_suggest(trial))
            activation = self.search.space.to_activation(point)
            trial.set_user_attr("activation", activation)
            trial.set_user_attr("label", _label(activation))
            batch.append(Proposal(point=point, trial=trial.number, warm=warm, handle=trial))
        return batch

    def tell(self, proposal: Proposal, record: dict[str, Any], value: float | None, cost: float | None) -> None:
        from optuna.trial import TrialState

        trial = proposal.handle
        for key in ("status", "val_acc", "test_acc", "val_curve", "dead_ratio", "activation_flops", "flops",
                    "latency", "time_s"):
            if record.get(key) is not None:
                trial.set_user_attr(key, record[key])
        if self.search.settings.max_cost is not None:
            ratio = record.get("cost_ratio")
            if ratio is None:
                ratio = self.search.feasible(record["activation_config"])[1] or 0.0
            violation = float(ratio) - self.search.settings.max_cost  # feasible when <= 0
            if _trial_constraints():
                trial.set_constraint("max_cost", violation)
            else:
                trial.set_user_attr("constraint", [violation])
        status = record["status"]
        if status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif status == "infeasible":
            self.study.tell(trial, [WORST, cost if cost is not None else math.inf])
        elif status == "ok" and value is not None and cost is not None:
            self.study.tell(trial, [value, cost])
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        if self.store is not None:
            self.store.trial_finished(trial._trial_id)

    def abandon(self, proposals: list[Proposal], exc: BaseException) -> None:
        """The trials under way when the machine failed end FAIL in the study and the log (or,
        where it cannot write now, on the next resume)."""
        from actsearch.check import fail_trial

        for p in proposals:
            fail_trial(self.study, self.search.run_dir, p.trial, exc, seed=self.search.base.seed)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _label(activation: dict[str, Any]) -> str:
    from actsearch.activations import describe

    return describe(activation)


def _first_difference(theirs: dict[str, Any], mine: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first setting (training settings by their own name) two run identities differ in."""
    for key in sorted(set(theirs) | set(mine), key=lambda k: (k != "train", k)):  # training settings first
        a, b = theirs.get(key), mine.get(key)
        if key == "train" and isinstance(a, dict) and isinstance(b, dict):
            # the options a user types first; a budget also changes the epochs, batch size, ... it sets
            for k in sorted(set(a) | set(b), key=lambda k: (k not in ("task", "model", "budget", "seed"), k)):
                if a.get(k) != b.get(k):
                    return k, a.get(k), b.get(k)
        elif a != b:
            if key == "space_definition":
                return key, "(the study's space)", "(another definition)"
            return key, a, b
    return None


def process_identity(run_dir) -> str:
    """A stable name for the process searching from this run folder: made once, kept in the
    folder, so a restart is the same process (its own stale trial is failed at once)."""
    import uuid
    from pathlib import Path

    path = Path(run_dir) / ".process-id"
    try:
        text = path.read_text().strip()
        if text:
            return text
    except OSError:
        pass
    write_atomic(path, uuid.uuid4().hex)  # processes starting together: the last rename wins
    return path.read_text().strip()


def process_seed(seed: int, run_dir) -> int:
    """Each process's own sampler stream: derived from the run's seed and the process identity,
    so processes on one study do not propose the same points."""
    digest = hashlib.sha256(f"{seed}:{process_identity(run_dir)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _rdb_storage(url: str, kwargs: dict[str, Any]):
    """Optuna's RDB storage, created under the database lock: processes starting together on a
    fresh database would otherwise race creating Optuna's tables (pg_type unique violation)."""
    import optuna
    import sqlalchemy as sa
    import sqlalchemy.exc

    if url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url, **kwargs)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with database_lock(engine):
            for attempt in range(3):
                try:
                    return optuna.storages.RDBStorage(url, **kwargs)
                except sqlalchemy.exc.IntegrityError:  # another tool created the schema at the same moment
                    if attempt == 2:
                        raise
                    import time

                    time.sleep(0.5)
    finally:
        engine.dispose()
    raise AssertionError("unreachable")


def _forget(engine, study_id: int) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        for table in (JOBS, RECORDS):
            conn.execute(sa.delete(table).where(table.c.study_id == study_id))


def tune(settings: TuneSettings, progress=None, on_stop_request=None):
    """Run (or resume) a tune search; returns (search, analysis)."""
    backend = OptunaBackend(settings)
    search = Search(settings, backend)
    return search, search.run(progress, on_stop_request)
