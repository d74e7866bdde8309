"""What every search backend shares: settings, the run folder, the ReLU baseline, confirmation
of the front, and a clean stop on Ctrl-C."""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from actsearch.training.config import TrainConfig
from actsearch.analysis.front import RunAnalysis, analyse
from actsearch.search.objectives import Evaluator, parse_objectives
from actsearch.results import append_result, read_results
from actsearch.rundir import new_run_dir, open_run
from actsearch.search.space import SearchSpace, load_space


@dataclass
class SearchSettings:
    space: str = "bounded_negative"
    train: TrainConfig = field(default_factory=TrainConfig)
    objectives: str = "accuracy,activation_flops"
    prune: bool = True
    warm_start: bool = True
    confirm: int = 2  # extra seeds for each front member after the search
    run_dir: str | None = None

    @property
    def seed(self) -> int:
        """One seed fixes the run: the sampler or the evolution, and every proxy job."""
        return self.train.seed

    def identity(self, space: SearchSpace, train: TrainConfig, backend: dict[str, Any]) -> dict[str, Any]:
        """The options that define a run; resuming with other values is refused."""
        train = asdict(train)
        for volatile in ("threads", "device", "data_dir", "compile"):  # may change between sessions
            train.pop(volatile, None)
        return {"space": space.name, "space_definition": space.definition, "objectives": self.objectives,
                "seed": self.seed, "train": train, **backend}


class Search:
    """A prepared run folder with its space, evaluator and helpers."""

    def __init__(self, command: str, settings: SearchSettings, backend: dict[str, Any]):
        self.settings = settings
        self.space = load_space(settings.space)
        self.objective = parse_objectives(settings.objectives)[1]
        self.base = settings.train.resolved()
        self.run_dir = Path(settings.run_dir) if settings.run_dir else new_run_dir(command, self.base.task)
        open_run(self.run_dir, command, settings.identity(self.space, self.base, backend))
        self.evaluator = Evaluator(self.base, self.objective, prune=settings.prune)

    def record(self, record: dict[str, Any], **extra: Any) -> dict[str, Any]:
        record.update(extra)
        append_result(self.run_dir, record)
        return record

    def ensure_baseline(self, seeds: list[int] | None = None) -> None:
        """Train ReLU under the same settings, once per seed (default: the search's seed): the
        report's accuracy reference."""
        done = {r.get("seed") for r in read_results(self.run_dir)[0] if r.get("role") == "baseline"}
        for seed in seeds or [self.base.seed]:
            if seed not in done:
                self.record(self.evaluator.score({"name": "relu"}, seed=seed), role="baseline", trial=None)

    def confirm_front(self, on_step: Callable[[str], None] | None = None) -> RunAnalysis:
        """Re-train each front member with ``confirm`` more seeds (skipping those already done).

        Confirmation moves means, and a lower mean can let a not yet confirmed trial onto the
        front, so this repeats until every member of the front has all its seeds.
        """
        seeds = [self.base.seed + k for k in range(1, self.settings.confirm + 1)]
        self.ensure_baseline(seeds)  # the same seeds, so "vs ReLU" compares means over equal seeds
        while True:
            analysis = analyse(self.run_dir)
            records, _ = read_results(self.run_dir)
            done = {(r.get("trial"), r.get("seed")) for r in records if r.get("role") == "confirm"}
            todo = [(m, s) for m in analysis.front for s in seeds if (m.trial, s) not in done]
            if not todo:
                return analysis
            for member, seed in todo:
                if on_step:
                    on_step(f"confirming trial {member.trial} with seed {seed}")
                # No history: score() never prunes a confirmation.
                self.record(self.evaluator.score(member.activation, seed=seed), role="confirm", trial=member.trial)


class GracefulStop:
    """First Ctrl-C: finish the current candidate, then stop. Second Ctrl-C: stop now."""

    def __init__(self, on_first: Callable[[], None] | None = None):
        self.requested = False
        self.on_first = on_first
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.on_first:
            self.on_first()

    def __enter__(self) -> GracefulStop:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread (e.g. inside a test runner's thread)
            self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
