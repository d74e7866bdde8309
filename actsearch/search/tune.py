"""``actsearch tune``: Optuna multi-objective search over a space (accuracy up, cost down).

Optuna's pruners refuse multi-objective studies, so pruning lives in the evaluator (median rule
on the accuracy curve); a pruned candidate is told to Optuna as PRUNED, which every sampler
accepts. The study lives in SQLite inside the run folder unless ``--storage`` names another,
so runs resume and several processes (or machines) can share one study.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from actsearch.errors import ActsearchError, ConfigError
from actsearch.analysis.front import RunAnalysis
from actsearch.search.objectives import cost_value
from actsearch.rundir import RunLock
from actsearch.search.base import GracefulStop, Search, SearchSettings
from actsearch.search.space import Dimension

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    "nsga3": lambda seed: optuna.samplers.NSGAIIISampler(seed=seed),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class TuneSettings(SearchSettings):
    sampler: str = "tpe"
    trials: int = 30  # total finished (complete or pruned) trials the study should reach
    timeout: float | None = None  # seconds for this invocation
    storage: str | None = None  # any Optuna storage URL; default SQLite in the run folder
    study: str = "actsearch"
    workers: int = 1


def _storage(settings: TuneSettings, search: Search):
    if settings.storage is None:
        url = f"sqlite:///{(search.run_dir / 'study.db').resolve()}"
        # Several local workers write one SQLite file: wait for the lock instead of failing.
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    if settings.storage.startswith(("sqlite", "postgresql", "mysql")):
        # Heartbeats let any worker mark a trial of a killed process on another machine failed.
        return optuna.storages.RDBStorage(settings.storage, heartbeat_interval=30, grace_period=90)
    if settings.storage.startswith("journal:"):
        path = settings.storage.split(":", 1)[1]
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    raise ConfigError(f"--storage {settings.storage!r}: give an Optuna RDB URL (sqlite:///, postgresql://, "
                      "mysql://) or journal:PATH")


def _study(settings: TuneSettings, search: Search, worker: int) -> optuna.Study:
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    where = settings.storage or "the run folder's study.db"
    try:
        return optuna.create_study(
            storage=_storage(settings, search), study_name=settings.study, load_if_exists=True,
            directions=["maximize", "minimize"], sampler=SAMPLERS[settings.sampler](settings.seed + worker),
        )
    except ImportError as exc:
        raise ConfigError(f"--storage {where}: {exc}; install the database driver (e.g. pip install "
                          "psycopg2-binary for PostgreSQL, pymysql for MySQL)") from None
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open the study in {where}: {first}; check the URL and that the "
                          "database server is running") from None
    except ValueError as exc:  # e.g. an existing study with other directions
        raise ConfigError(f"cannot open study '{settings.study}' in {where}: {exc}") from None


def _suggest(trial: optuna.Trial) -> Callable[[Dimension], Any]:
    def suggest(d: Dimension) -> Any:
        if d.choices:
            return trial.suggest_categorical(d.name, list(d.choices))
        if d.type == "int":
            return trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        return trial.suggest_float(d.name, d.low, d.high, log=d.log, step=d.step)

    return suggest


def _objective(search: Search, study: optuna.Study):
    def objective(trial: optuna.Trial):
        values = search.space.sample(_suggest(trial))
        activation = search.space.to_activation(values)
        trial.set_user_attr("activation", activation)
        history = [t.user_attrs["curve"] for t in study.get_trials(deepcopy=False, states=FINISHED)
                   if "curve" in t.user_attrs]
        record = search.record(search.evaluator.score(activation, history=history),
                               role="search", trial=trial.number, params=values)
        if record["status"] == "failed":
            return math.nan, math.nan  # Optuna marks the trial FAIL and goes on
        for key in ("curve", "status", "test_acc", "test_loss", "dead_ratio", "flops", "activation_flops",
                    "epoch_to_90", "time_s"):
            trial.set_user_attr(key, record.get(key))
        if record["status"] == "pruned":
            raise optuna.TrialPruned()
        acc = record["test_acc"] if record["status"] == "ok" else 0.0
        return acc, cost_value(record, search.objective)

    return objective


def _fail_stale(study: optuna.Study, search: Search) -> int:
    """Trials left RUNNING by a killed process become FAIL, with a failed line in results.jsonl."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        search.record({"activation_config": t.user_attrs.get("activation", {}), "status": "failed",
                       "reason": "the process running it was killed"}, role="search", trial=t.number)
    return len(stale)


def _run_worker(settings: TuneSettings, search: Search, worker: int, stop: GracefulStop,
                on_trial: Callable[[optuna.Study], None] | None = None, n_trials: int | None = None) -> None:
    study = _study(settings, search, worker)

    def after_trial(study: optuna.Study, trial) -> None:
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        if on_trial:
            on_trial(study)
        if stop.requested or finished >= settings.trials:
            study.stop()

    if len(study.get_trials(deepcopy=False, states=FINISHED)) >= settings.trials:
        return
    study.optimize(_objective(search, study), n_trials=n_trials, timeout=settings.timeout,
                   callbacks=[after_trial], gc_after_trial=False)


def _worker_process(settings: TuneSettings, worker: int) -> None:
    """Entry point of a local worker process (spawned, so it imports a fresh actsearch)."""
    search = Search("tune", replace(settings), {})  # identity already checked by the parent
    with GracefulStop() as stop:
        _run_worker(settings, search, worker, stop)


def tune(settings: TuneSettings, progress: Callable[[dict[str, Any]], None] | None = None,
         on_stop_request: Callable[[], None] | None = None) -> tuple[Search, RunAnalysis]:
    """Run (or resume) a tune search and confirm its front. Returns the search and its analysis."""
    if settings.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{settings.sampler}'; choose one of: {', '.join(SAMPLERS)}")
    if settings.trials < 1 or settings.workers < 1 or settings.confirm < 0:
        raise ConfigError("--trials and --workers must be >= 1 and --confirm >= 0")
    backend = {"sampler": settings.sampler, "study": settings.study}
    search = Search("tune", settings, backend)
    local = settings.storage is None
    lock = RunLock(search.run_dir) if local else None
    with lock or contextlib.nullcontext():
        study = _study(settings, search, 0)
        if lock is not None and lock.stale:
            _fail_stale(study, search)
        elif not local and isinstance(study._storage, optuna.storages.RDBStorage):
            optuna.storages.fail_stale_trials(study)  # heartbeats (see _storage) tell dead workers
        search.ensure_baseline()
        if settings.warm_start and not study.trials:
            for point in search.space.warm_start:
                study.enqueue_trial(point, skip_if_exists=True)

        def report_progress(study: optuna.Study) -> None:
            if progress:
                done = study.get_trials(deepcopy=False, states=FINISHED)
                complete = [t for t in done if t.state == TrialState.COMPLETE]
                progress({"done": len(done), "total": settings.trials,
                          "best_acc": max((t.values[0] for t in complete), default=None),
                          "front": len(study.best_trials) if complete else 0})

        report_progress(study)
        with GracefulStop(on_stop_request) as stop:
            if settings.workers == 1:
                _run_worker(settings, search, 0, stop, report_progress)
            else:
                # SQLite ignores Optuna's SELECT ... FOR UPDATE, so two processes can pop one
                # enqueued trial (optuna#4002): run the warm-start points here, before the pool.
                waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
                if waiting:
                    _run_worker(settings, search, 0, stop, report_progress, n_trials=waiting)
                if not stop.requested:
                    _run_pool(settings, search, study, stop, report_progress)
            interrupted = stop.requested
        if not interrupted:
            search.confirm_front()
    from actsearch.analysis.front import analyse

    return search, analyse(search.run_dir)


def _run_pool(settings: TuneSettings, search: Search, study: optuna.Study, stop: GracefulStop,
              report_progress: Callable[[optuna.Study], None]) -> None:
    """N spawned processes on one study, the CPU threads split between them."""
    threads = max(1, (search.base.threads or 1) // settings.workers)
    worker_settings = replace(settings, train=replace(search.base, threads=threads),
                              run_dir=str(search.run_dir), warm_start=False)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker_process, args=(worker_settings, i), daemon=False)
             for i in range(settings.workers)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(1.0)
            report_progress(study)
    finally:
        for p in procs:
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed and not stop.requested:
        raise ActsearchError(f"{len(failed)} worker process(es) exited with an error; see their output above")
