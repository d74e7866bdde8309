"""What a search optimizes, and the evaluator every backend uses to score one candidate.

The first objective is always test accuracy (maximized); the second a cost (minimized). A cost
is known before training (FLOPs, latency) except the dead-neuron ratio, so only the accuracy
curve is ever pruned.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any, Callable

import torch

from actsearch.activations import build_activation
from actsearch.training.config import TrainConfig
from actsearch.errors import ActsearchError, ConfigError
from actsearch.training.trainer import TrainResult, train

COSTS = {  # name: (results.jsonl field, unit)
    "activation_flops": ("activation_flops", "FLOP-eq / sample"),
    "model_flops": ("flops", "FLOPs / sample"),
    "latency": ("latency_us", "us per 1M elements, fwd+bwd"),
    "dead_ratio": ("dead_ratio", "share of units"),
}


def parse_objectives(text: str) -> tuple[str, str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] != "accuracy" or names[1] not in COSTS:
        raise ConfigError(f"--objectives {text!r}: give 'accuracy,COST' with COST one of {', '.join(COSTS)}")
    return names[0], names[1]


def activation_latency_us(config: dict[str, Any], repeats: int = 7) -> float:
    """Median forward+backward time of the activation on 1M float32 elements, in microseconds."""
    module = build_activation(config).train()
    x = torch.randn(1 << 20, requires_grad=True)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        module(x).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1e6


def cost_value(record: dict[str, Any], objective: str) -> float | None:
    value = record.get(COSTS[objective][0])
    return None if value is None else float(value)


class Evaluator:
    """Scores activation configs under one base TrainConfig and writes nothing itself."""

    def __init__(self, base: TrainConfig, objective: str, prune: bool = False, min_trials: int = 3,
                 warmup_epochs: int = 1):
        self.base = base
        self.objective = objective
        self.prune = prune
        self.min_trials = min_trials
        self.warmup_epochs = warmup_epochs

    def score(self, activation: dict[str, Any], seed: int | None = None,
              history: list[list[float]] | None = None) -> dict[str, Any]:
        """Train one candidate; return its results.jsonl record (status ok, pruned, diverged or
        failed: a crash in one candidate must not end a search, a user error still does).

        ``history``: accuracy curves of earlier finished candidates, for the median pruning rule.
        """
        cfg = replace(self.base, activation=activation, seed=self.base.seed if seed is None else seed)
        callback = self._pruner(history) if self.prune and history else None
        try:
            result: TrainResult = train(cfg, callback=callback)
        except ActsearchError:
            raise
        except Exception as exc:
            return {"activation_config": activation, "seed": cfg.seed, "status": "failed", "reason": repr(exc)}
        record = result.record()
        if self.objective == "latency":
            record["latency_us"] = activation_latency_us(record["activation_config"])
        return record

    def _pruner(self, history: list[list[float]]) -> Callable[[int, float], bool]:
        """Median rule: stop when accuracy at an epoch is below the median of earlier candidates
        at that epoch (after ``warmup_epochs``, once ``min_trials`` curves reach that epoch)."""

        def should_stop(epoch: int, acc: float) -> bool:
            if epoch <= self.warmup_epochs:
                return False
            at_epoch = [c[epoch - 1] for c in history if len(c) >= epoch]
            return len(at_epoch) >= self.min_trials and acc < statistics.median(at_epoch)

        return should_stop
