"""``actsearch tune``: Optuna proposes points (ask), the run scores them, Optuna hears (tell).

Two objectives: the paired validation difference from ReLU (maximized) and a cost (minimized).
Optuna's pruners refuse multi-objective studies, so early stopping lives in the run (the rung
rule of ``objectives.Rungs``); a stopped candidate is told as PRUNED, which every sampler
accepts. ``--max-cost`` reaches the samplers that take constraints (TPE, NSGA-II/III, GP) through
``constraints_func``. The study lives in SQLite inside the run folder unless ``--storage`` names
another, so runs resume.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from actsearch.choices import SAMPLERS, unknown
from actsearch.errors import ConfigError
from actsearch.search.base import Proposal, Search, SearchSettings
from actsearch.search.space import Dimension

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


def _sampler(name: str, seed: int, constrained: bool):
    import optuna

    kw: dict[str, Any] = {"seed": seed}
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
    Optuna's ``n_trials`` does; a point already scored still counts (it is answered from the log)."""

    command = "tune"

    def __init__(self, settings: TuneSettings):
        if settings.sampler not in SAMPLERS:
            raise ConfigError(unknown("sampler", settings.sampler, SAMPLERS))
        if settings.trials < 1:
            raise ConfigError(f"--trials must be >= 1, got {settings.trials}")
        if settings.timeout is not None and not settings.timeout > 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, got {settings.timeout}")
        self.settings = settings
        self.local = settings.storage is None
        self.study = None
        self.started = 0.0

    def identity(self) -> dict[str, Any]:
        return {"sampler": self.settings.sampler, "study": self.settings.study}

    def _storage(self, search: Search):
        import optuna

        url = self.settings.storage
        if url is None:
            path = (search.run_dir / "study.db").resolve()
            return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 120}})
        if url.startswith(("sqlite", "postgresql", "mysql")):
            # Heartbeats let any process mark a trial of a killed process on another machine failed.
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=90)
        if url.startswith("journal:"):
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url.split(":", 1)[1]))
        raise ConfigError(f"--storage {url!r}: give an Optuna RDB URL (sqlite:///, postgresql://, mysql://) "
                          "or journal:PATH")

    def open(self, search: Search, warm: list[dict[str, Any]]) -> None:
        import time

        import optuna
        import sqlalchemy.exc

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        where = self.settings.storage or "the run folder's study.db"
        constrained = search.settings.max_cost is not None
        try:
            self.study = optuna.create_study(
                storage=self._storage(search), study_name=self.settings.study, load_if_exists=True,
                directions=["maximize", "minimize"],
                sampler=_sampler(self.settings.sampler, search.settings.seed, constrained))
        except ImportError as exc:
            raise ConfigError(f"--storage {where}: {exc}; install the database driver (pip install psycopg "
                              "for PostgreSQL, pymysql for MySQL)") from None
        except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot open the study in {where}: {first}; check the URL and that the "
                              "database server is running") from None
        except ValueError as exc:  # e.g. an existing study with other directions
            raise ConfigError(f"cannot open study '{self.settings.study}' in {where}: {exc}") from None
        self._fail_stale(search)
        self._enqueue_warm(search, warm)
        self.search = search
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

    def _fail_stale(self, search: Search) -> None:
        """Finish trials a killed process left RUNNING, then check the study against the log
        (repairing the side that lost something, refusing two different searches)."""
        import optuna

        from actsearch.check import fail_stale, reconcile

        if self.local:
            fail_stale(self.study, search.run_dir)
            reconcile(search.run_dir, self.study)
            search.reload()  # what the repairs appended
        elif isinstance(self.study._storage, optuna.storages.RDBStorage):
            optuna.storages.fail_stale_trials(self.study)  # heartbeats tell dead processes

    def _finished(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                  TrialState.FAIL)))

    def remaining(self) -> int:
        return max(0, self.settings.trials - self._finished())

    def ask(self) -> list[Proposal]:
        import time

        from optuna.trial import TrialState

        if self.settings.timeout is not None and time.monotonic() - self.started > self.settings.timeout:
            return []
        left = self.settings.trials - self._finished()
        waiting = len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        batch = []
        for _ in range(max(0, min(left, max(self.search.settings.workers, 1)))):
            warm = waiting > 0  # enqueued points come out first
            waiting -= 1
            trial = self.study.ask()
            point = self.search.space.sample(_suggest(trial))
            trial.set_user_attr("activation", self.search.space.to_activation(point))
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

    def abandon(self, proposals: list[Proposal], exc: BaseException) -> None:
        """The trials under way when the machine failed end FAIL in the study and the log (or,
        where it cannot write now, on the next resume)."""
        from actsearch.check import fail_trial

        for p in proposals:
            fail_trial(self.study, self.search.run_dir, p.trial, exc, seed=self.search.base.seed)

    def close(self) -> None:
        pass


def tune(settings: TuneSettings, progress=None, on_stop_request=None):
    """Run (or resume) a tune search; returns (search, analysis)."""
    backend = OptunaBackend(settings)
    search = Search(settings, backend)
    return search, search.run(progress, on_stop_request)
