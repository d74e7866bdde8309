"""The one contract every search backend follows.

A backend only proposes points and hears their scores::

    class Backend:
        command: str                         # "tune", "evolve": names the run folder kind
        local: bool                          # False when several processes share its state
        def identity(self) -> dict           # its settings that define a run (checked on resume)
        def open(self, search, warm) -> None # create or resume its state; ``warm``: points to try first
        def ask(self) -> list[Proposal]      # the next points to score; [] when it is finished
        def remaining(self) -> int | None    # how many proposals are left, if it knows
        def tell(self, proposal, record, value, cost) -> None
        def abandon(self, proposals, exc) -> None   # a fault of the machine: these end failed
        def close(self) -> None

``Search.run`` owns everything else, once for every backend: the run folder and its lock, the
thread split, the ReLU baseline, scoring (never the same config and seed twice, pool workers,
the rung rule, the cost limit), stopping (Ctrl-C, consecutive failures), racing the front over
more seeds, the held-out seeds, and progress events with one set of keys:

    phase   loading | baseline | search | racing | holdout | done
    done, total, failed, pruned, infeasible   counts of this phase (total None when open-ended)
    best    the best validation difference from ReLU so far (points), or None
    message what is being trained now
"""

from __future__ import annotations

import contextlib
import concurrent.futures as futures
import math
import multiprocessing as mp
import signal
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from actsearch.activations import describe
from actsearch.choices import RANKS, unknown
from actsearch.errors import ActsearchError, ConfigError
from actsearch.results import append_result, read_results
from actsearch.rundir import RunLock, io_errors, machine_fault, new_run_dir, open_run, run_identity
from actsearch.search.objectives import Evaluator, Rungs, cost_value, parse_objectives, relu_equal
from actsearch.search.space import SearchSpace, config_key, load_space
from actsearch.training.config import TrainConfig

RELU = {"name": "relu"}
GELU = {"name": "gelu", "approximate": "none"}
BASELINE_SEEDS = 3  # ReLU seeds trained before the search: the rung rule's margin needs a spread
HOLDOUT_OFFSET = 1000  # held-out seeds start here above the search seed: never used to choose
LCB_Z = 1.0  # --rank lcb tells the sampler mean - LCB_Z standard errors


@dataclass
class SearchSettings:
    space: str = "bounded_negative"
    train: TrainConfig = field(default_factory=TrainConfig)
    objectives: str = "accuracy,activation_flops"
    prune: bool = True
    warm_start: bool = True
    confirm: int = 5  # racing: up to this many extra seeds for each front member
    confirm_budget: int | None = None  # racing: at most this many training jobs (None: no limit)
    holdout: int = 6  # seeds the search never sees, for the final test-split comparison
    rank: str = "mean"  # what the sampler is told: mean paired difference, or its lower bound
    max_cost: float | None = None  # candidates costlier than this multiple of ReLU are infeasible
    max_failures: int = 5  # consecutive failed candidates that stop the search
    workers: int | None = None  # processes scoring in parallel; None: default_workers
    run_dir: str | None = None

    @property
    def seed(self) -> int:
        """One seed fixes the run: the sampler or the evolution, and every proxy job."""
        return self.train.seed

    def check(self) -> None:
        if self.rank not in RANKS:
            raise ConfigError(unknown("--rank", self.rank, RANKS))
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.confirm < 0:
            raise ConfigError(f"--confirm must be >= 0, got {self.confirm}")
        if self.confirm_budget is not None and self.confirm_budget < 1:
            raise ConfigError(f"--confirm-budget must be at least one training job, got {self.confirm_budget}")
        if self.holdout < 0:
            raise ConfigError(f"--holdout must be >= 0, got {self.holdout}")
        if self.max_cost is not None and not (math.isfinite(self.max_cost) and self.max_cost > 0):
            raise ConfigError(f"--max-cost must be a positive multiple of ReLU's cost (e.g. 1.5), got {self.max_cost}")
        if self.max_failures < 1:
            raise ConfigError(f"--max-failures must be >= 1, got {self.max_failures}")


MAX_DEFAULT_WORKERS = 8  # each worker process holds its own copy of the data set


def default_workers(base: TrainConfig) -> int:
    """On a CPU, one process per thread of ``--threads`` (up to MAX_DEFAULT_WORKERS), each job on
    one thread: a small proxy job gains little from intra-op threads and waits at their barrier
    on every op, so two one-thread processes ran 1.35-2.3x more trials per second than one
    two-thread process on an idle 2-core machine (benchmarks/threads.py, README). On an
    accelerator, one process: the device is the shared resource."""
    from actsearch.training.trainer import resolve_device

    if resolve_device(base.device).type != "cpu":
        return 1
    return max(1, min(base.threads, MAX_DEFAULT_WORKERS))


@dataclass
class Proposal:
    point: dict[str, Any]  # the search point (switches included)
    trial: int | None = None  # the backend's number (Optuna's); None: the run numbers it
    warm: bool = False  # a warm-start point: never stopped early
    handle: Any = None  # the backend's own object (an Optuna trial, DEAP individuals)


class Backend(Protocol):
    command: str
    local: bool

    def identity(self) -> dict[str, Any]: ...
    def open(self, search: Search, warm: list[dict[str, Any]]) -> None: ...
    def ask(self) -> list[Proposal]: ...
    def remaining(self) -> int | None: ...
    def tell(self, proposal: Proposal, record: dict[str, Any], value: float | None, cost: float | None) -> None: ...
    def abandon(self, proposals: list[Proposal], exc: BaseException) -> None: ...
    def close(self) -> None: ...


Progress = Callable[[dict[str, Any]], None]


class Search:
    """A prepared run: its folder, space, evaluator and what the folder already holds."""

    def __init__(self, settings: SearchSettings, backend: Backend):
        settings.check()
        self.settings = settings
        self.backend = backend
        self.space: SearchSpace = load_space(settings.space)
        self.objective = parse_objectives(settings.objectives)[1]
        self.base = settings.train.resolved()
        if not self.base.val_subset:
            raise ConfigError("a search chooses on a validation split; give --val-subset N (N > 0)")
        self.workers = settings.workers or default_workers(self.base)
        threads = max(1, self.base.threads // self.workers)
        self.job_config = replace(self.base, threads=threads)
        self.run_dir = Path(settings.run_dir) if settings.run_dir else new_run_dir(backend.command, self.base.task)
        identity = run_identity(self.base, space=self.space.name, space_definition=self.space.definition,
                                objectives=settings.objectives, rank=settings.rank, max_cost=settings.max_cost,
                                **backend.identity())
        self.resumed = open_run(self.run_dir, backend.command, identity)
        self.snapshot_settings = identity  # what run.yaml holds: the analysis reads the run by it
        self.evaluator = Evaluator(self.job_config, self.objective)
        self._costs: dict[str, float | None] = {}
        # scale-out: a study in a shared database is the truth; the folder's log holds this process's records
        self.store = backend.shared_store(self) if hasattr(backend, "shared_store") else None
        self.stop: GracefulStop | None = None
        self.reload()
        self.rungs: Rungs | None = None

    def reload(self) -> None:
        """Read the records again (after a repair appended to the log, or other processes wrote
        to the shared study)."""
        self.records: list[dict[str, Any]] = (self.store.records() if self.store is not None
                                              else read_results(self.run_dir)[0])
        self._scored: dict[tuple[str, int], dict[str, Any]] = {}
        for r in self.records:
            self._remember(r)
        self.next_trial = 1 + max((r["trial"] for r in self.records if r.get("role") == "search"), default=-1)

    # --- what the folder holds ---------------------------------------------------------------

    def _remember(self, record: dict[str, Any]) -> None:
        if record.get("status") in ("ok", "pruned", "diverged", "failed") and "activation_config" in record:
            self._scored.setdefault((config_key(record["activation_config"]), record.get("seed")), record)

    def record(self, record: dict[str, Any], **extra: Any) -> dict[str, Any]:
        record = {**record, **extra}
        if self.store is not None:  # scale-out
            self.store.write(record)
        append_result(self.run_dir, record)
        self.records.append(record)
        self._remember(record)
        return record

    def record_again(self, record: dict[str, Any], role: str, trial: int | None) -> dict[str, Any]:
        """Record a job's result under a later role (a racing or held-out seed), without the
        search-only fields of a record it may have been answered from."""
        kept = {k: v for k, v in record.items() if k not in ("reused", "role", "trial", "point")}
        return self.record(kept, role=role, trial=trial)

    def confirm(self, members: list, seed: int, pool) -> None:
        """Train racing ``members`` (front candidates) on ``seed`` and record them as confirmations."""
        for c, rec in zip(members, self.score_many([(c.activation, seed, False) for c in members], pool)):
            self.record_again(rec, role="confirm", trial=c.trial)

    def relu_val(self) -> dict[int, dict[str, Any]]:
        return {r["seed"]: r for r in self.records if r.get("role") == "baseline" and r.get("status") == "ok"}

    def value(self, trial_records: list[dict[str, Any]]) -> float | None:
        """What the sampler is told: the mean paired validation difference from ReLU (points),
        or its lower confidence bound under ``--rank lcb``."""
        relu = self.relu_val()
        diffs = [r["val_acc"] - relu[r["seed"]]["val_acc"] for r in trial_records
                 if r.get("status") == "ok" and r["seed"] in relu]
        if not diffs:
            return None
        mean = statistics.fmean(diffs)
        if self.settings.rank == "mean":
            return mean
        spread = [relu[s]["val_acc"] for s in sorted(relu)]
        sd = max(statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                 statistics.stdev(spread) if len(spread) > 1 else 0.0)
        return mean - LCB_Z * sd / math.sqrt(len(diffs))

    # --- scoring -------------------------------------------------------------------------------

    def cost(self, activation: dict[str, Any]) -> float | None:
        key = config_key(activation)
        if key not in self._costs:
            self._costs[key] = self.evaluator.cost(activation)
        return self._costs[key]

    def feasible(self, activation: dict[str, Any]) -> tuple[bool, float | None]:
        """(within --max-cost, the cost as a multiple of ReLU's)."""
        if self.settings.max_cost is None:
            return True, None
        own, relu = self.cost(activation), self.cost(RELU)
        if own is None or not relu:
            return True, None
        ratio = own / relu
        return ratio <= self.settings.max_cost, ratio

    def score_many(self, jobs: list[tuple[dict[str, Any], int, bool]], pool) -> list[dict[str, Any]]:
        """Score (activation, seed, may_stop) jobs, each config and seed trained at most once in
        the run: an earlier record of the same job is returned, not retrained."""
        out: list[dict[str, Any] | None] = [None] * len(jobs)
        todo: dict[tuple[str, int], list[int]] = {}
        for i, (act, seed, _) in enumerate(jobs):
            known = self._scored.get((config_key(act), seed))
            if known is not None:
                out[i] = {**known, "reused": True}
            else:
                todo.setdefault((config_key(act), seed), []).append(i)
        args = []
        for (_, seed), idx in todo.items():
            act, _, may_stop = jobs[idx[0]]
            rungs = self.rungs if (may_stop and self.settings.prune and not relu_equal(act)) else None
            args.append((self.job_config, self.objective, act, seed, rungs))
        def train(batch):
            return list(pool.map(_score_job, batch) if pool is not None else map(_score_job, batch))

        # scale-out: with a shared store each job is trained once in the whole study (claimed there)
        results = (self.store.score(list(todo), args, train, self.workers)
                   if self.store is not None else train(args))
        for ((key, seed), idx), record in zip(todo.items(), results):
            for i in idx:
                out[i] = record if i == idx[0] else {**record, "reused": True}
            self._scored[(key, seed)] = record
            if self.rungs is not None and record.get("val_curve"):
                self.rungs.add(seed, record["val_curve"], self.base.epochs)
        return out  # type: ignore[return-value]

    # --- the run ----------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None, on_stop_request: Callable[[], None] | None = None):
        """Run (or resume) the search to its end, race its front, score the held-out seeds and
        return the analysis. Ctrl-C finishes the jobs under way and stops; rerun to resume."""
        from actsearch.analysis.front import analyse_records

        emit = progress or (lambda event: None)
        backend, settings = self.backend, self.settings
        lock = RunLock(self.run_dir) if backend.local else None
        pool = (futures.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
                if self.workers > 1 else None)
        try:
            with (lock or contextlib.nullcontext()), GracefulStop(on_stop_request) as stop:
                self.stop = stop
                self.ensure_baseline(range(self.base.seed, self.base.seed + BASELINE_SEEDS), emit, pool)
                relu = self.relu_val()
                self.rungs = Rungs([r["val_curve"] for r in relu.values()],
                                   {s: r["val_curve"] for s, r in relu.items()})
                for r in self.records:
                    if r.get("role") == "search" and r.get("val_curve") and not r.get("reused"):
                        self.rungs.add(r["seed"], r["val_curve"], self.base.epochs)
                with io_errors(self.run_dir):  # warm starts and stale trials write to the study
                    backend.open(self, list(self.space.warm_start) if settings.warm_start else [])
                self._search(emit, stop, pool)
                if not stop.requested:
                    self.sync()  # scale-out: race the whole study's front
                    self.race(emit, stop, pool)
                if not stop.requested:
                    self.score_holdout(emit, stop, pool)
                interrupted = stop.requested
        finally:
            backend.close()
            if pool is not None:
                pool.shutdown()
        emit({"phase": "done", "done": 0, "total": 0, "interrupted": interrupted})
        self.sync()
        return analyse_records(self.records, self.snapshot_settings, self.run_dir)

    def sync(self) -> None:
        """scale-out: read every process's records back from the shared store (no-op without one)."""
        if self.store is not None:
            self.reload()

    def _search(self, emit: Progress, stop: GracefulStop, pool) -> None:
        counts = {"done": 0, "failed": 0, "pruned": 0, "infeasible": 0}
        total = self.backend.remaining()
        failures_in_row, first_failure = 0, None
        best = max((v for v in (self.value([r]) for r in self.records if r.get("role") == "search")
                    if v is not None), default=None)
        first = True
        while not stop.requested:
            with io_errors(self.run_dir):  # asking creates the trials in the study
                batch = self.backend.ask()
            if not batch:
                if first:
                    emit({"phase": "search", **counts, "total": 0, "best": best,
                          "message": f"nothing left to do: the run already holds the {self.next_trial} trial(s) "
                                     "asked for"})
                break
            first = False
            jobs, slots = [], []
            records: list[dict[str, Any] | None] = [None] * len(batch)
            for i, p in enumerate(batch):
                act = self.space.to_activation(p.point)
                ok, ratio = self.feasible(act)
                if not ok:
                    records[i] = {"activation_config": act, "seed": self.base.seed, "status": "infeasible",
                                  "reason": f"cost {ratio:.3g}x ReLU > --max-cost {self.settings.max_cost:g}",
                                  "cost_ratio": ratio}
                else:
                    jobs.append((act, self.base.seed, not p.warm))
                    slots.append(i)
            emit({"phase": "search", **counts, "total": total, "best": best,
                  "message": f"{len(jobs)} candidate(s)" if len(jobs) != 1 else "1 candidate"})
            told = 0
            try:
                for i, rec in zip(slots, self.score_many(jobs, pool)):
                    records[i] = rec
                for p, rec in zip(batch, records):
                    best = self._finish(p, rec, counts, best)
                    told += 1
                    failures_in_row, first_failure = ((0, None) if rec["status"] not in ("failed", "diverged") else
                                                      (failures_in_row + 1, first_failure or rec.get("reason")))
                    emit({"phase": "search", **counts, "total": total, "best": best, "trial": self.records[-1]})
            except Exception as exc:
                if machine_fault(exc) is None:
                    raise
                # Out of space, read-only, ...: the trials under way end failed (in the study and
                # the log where the machine still lets us write), then one error line.
                self.backend.abandon(batch[told:], exc)
                with io_errors(self.run_dir):
                    raise
            if failures_in_row >= self.settings.max_failures:
                raise ActsearchError(f"{failures_in_row} candidates in a row failed, the first with: {first_failure}; "
                                     "fix the cause (see results.jsonl) and rerun to resume, or raise --max-failures")

    def _finish(self, p: Proposal, rec: dict[str, Any], counts: dict[str, int], best: float | None) -> float | None:
        """Log one proposal's record, tell the backend, count it; returns the best value so far."""
        trial = p.trial if p.trial is not None else self.next_trial
        self.next_trial = max(self.next_trial, trial + 1)
        rec = self.record({k: v for k, v in rec.items() if k not in ("role", "trial", "point", "warm")},
                          role="search", trial=trial, point=p.point, warm=p.warm)
        value = self.value([rec]) if rec["status"] == "ok" else None
        cost = cost_value(rec, self.objective) if rec["status"] in ("ok", "infeasible") else None
        if rec["status"] == "infeasible" and cost is None:
            cost = self.cost(rec["activation_config"])
        self.backend.tell(p, rec, value, cost)
        counts["done"] += 1
        if rec["status"] in ("pruned", "infeasible"):
            counts[rec["status"]] += 1
        if rec["status"] in ("failed", "diverged"):
            counts["failed"] += 1
        return best if value is None else value if best is None else max(best, value)

    def ensure_baseline(self, seeds, emit: Progress, pool) -> None:
        """ReLU under the same settings on each seed, trained once per run and reused."""
        seeds = [s for s in seeds if s not in self.relu_val()]
        if not seeds:
            return
        emit({"phase": "baseline", "done": 0, "total": len(seeds), "message": f"ReLU on seed(s) {seeds}"})
        for seed, rec in zip(seeds, self.score_many([(RELU, s, False) for s in seeds], pool)):
            self.record({k: v for k, v in rec.items() if k != "reused"}, role="baseline", trial=None)
        emit({"phase": "baseline", "done": len(seeds), "total": len(seeds)})

    # --- racing -----------------------------------------------------------------------------------

    def race(self, emit: Progress, stop: GracefulStop, pool) -> None:
        """Give the front more seeds while its decisions are open (SMAC's intensification, irace).

        The field is fixed when racing starts (no cascade: a confirmed member's lower mean does
        not let a lucky single-seed trial in). Each round adds the same seed to every member still
        racing, so members are always compared on equal seed sets. A member leaves when another
        member at no higher cost is significantly better on their common seeds; it stops getting
        seeds when its difference from ReLU is decided. ``confirm`` bounds the seeds and
        ``confirm_budget`` the training jobs.
        """
        from actsearch.analysis.front import race_field, race_state

        field_ = race_field(self.records, self.snapshot_settings)
        if not field_:
            return
        seeds = [self.base.seed + k for k in range(1, self.settings.confirm + 1)]
        budget = self.settings.confirm_budget
        jobs_done = 0
        for round_, seed in enumerate(seeds, 1):
            state = race_state(self.records, self.snapshot_settings, field_, seeds_left=len(seeds) - round_ + 1)
            need = [c for c in state.alive if c.trial not in state.decided]
            if not need or stop.requested:
                break
            self.ensure_baseline([seed], emit, pool)
            todo = [c for c in need if seed not in c.val_by_seed]
            if budget is not None:
                todo = todo[: max(0, budget - jobs_done)]
                if not todo:
                    break
            emit({"phase": "racing", "done": round_ - 1, "total": len(seeds),
                  "message": f"seed {seed}: {len(todo)} candidate(s) still racing"})
            self.confirm(todo, seed, pool)
            jobs_done += len(todo)
        emit({"phase": "racing", "done": len(seeds), "total": len(seeds)})

    def score_holdout(self, emit: Progress, stop: GracefulStop, pool) -> None:
        """The racing survivors, ReLU and GELU on seeds the search never used: the only numbers
        the report states a gain with (test split)."""
        from actsearch.analysis.front import race_field, race_state

        if not self.settings.holdout:
            return
        settings = self.snapshot_settings
        survivors = race_state(self.records, settings, race_field(self.records, settings)).alive
        seeds = [self.base.seed + HOLDOUT_OFFSET + k for k in range(self.settings.holdout)]
        entries = [(RELU, None), (GELU, None)] + [(c.activation, c.trial) for c in survivors]
        done = {(config_key(r["activation_config"]), r["seed"]) for r in self.records if r.get("role") == "holdout"}
        jobs = [(act, trial, s) for s in seeds for act, trial in entries if (config_key(act), s) not in done]
        for k in range(0, len(jobs), self.workers):
            if stop.requested:
                return
            chunk = jobs[k: k + self.workers]
            emit({"phase": "holdout", "done": k, "total": len(jobs),
                  "message": ", ".join(f"{describe(a)} on held-out seed {s}" for a, _, s in chunk)})
            for (act, trial, seed), rec in zip(chunk, self.score_many([(a, s, False) for a, _, s in chunk], pool)):
                self.record_again(rec, role="holdout", trial=trial)
        emit({"phase": "holdout", "done": len(jobs), "total": len(jobs)})


def _score_job(args: tuple) -> dict[str, Any]:
    """One training job (module level so a process pool can pickle it)."""
    base, objective, activation, seed, rungs = args
    return Evaluator(base, objective).score(activation, seed=seed, stop=rungs.should_stop if rungs else None)


class GracefulStop:
    """First Ctrl-C (or SIGTERM): finish the jobs under way, then stop. Second: stop now."""

    def __init__(self, on_first: Callable[[], None] | None = None):
        self.requested = False
        self.on_first = on_first
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.on_first:
            self.on_first()

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. inside a test runner's thread)
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
