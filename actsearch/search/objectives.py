"""What a search optimizes, the evaluator every backend uses to score one candidate, and the
rung rule that stops hopeless candidates early.

The first objective is accuracy on the validation split, told to the sampler as the candidate's
paired difference from ReLU trained on the same seed (same initialization stream and data order),
which cancels the part of the seed noise the two share. The second is a cost (minimized), known
before training (FLOPs, latency) except the dead-unit ratio.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from actsearch.choices import COSTS as COST_NAMES
from actsearch.errors import ActsearchError, ConfigError

COSTS = {  # name: (record field, unit)
    "activation_flops": ("activation_flops", "FLOP-eq / sample"),
    "model_flops": ("flops", "FLOPs / sample (model + activations)"),
    "latency": ("latency", "x ReLU, activation fwd+bwd"),
    "dead_ratio": ("dead_ratio", "share of units"),
}
assert tuple(COSTS) == COST_NAMES


def parse_objectives(text: str) -> tuple[str, str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] != "accuracy" or names[1] not in COSTS:
        raise ConfigError(f"--objectives {text!r}: give 'accuracy,COST' with COST one of {', '.join(COSTS)}")
    return names[0], names[1]


def cost_value(record: dict[str, Any], objective: str) -> float | None:
    value = record.get(COSTS[objective][0])
    return None if value is None else float(value)


def activation_latency(base, activation: dict[str, Any]) -> float:
    """The activation's fwd+bwd time as a multiple of ReLU's (interleaved in this process), on
    one batch of the elements the task's model sends through its activation sites."""
    from actsearch.activations.latency import relative_latency
    from actsearch.training.trainer import model_costs

    elements = model_costs(replace(base, activation={"name": "relu"})).activation_elements
    return relative_latency(activation, (base.resolved().batch_size, elements))


@dataclass
class Rungs:
    """Successive halving on validation accuracy, as a stopping rule.

    At each rung epoch (1, 2, 4, 8, ...) a candidate's paired difference from ReLU (same seed,
    same epoch) is compared with those of earlier candidates at that rung. It stops when it is
    below the top ``1/eta`` of them by more than ``margin`` points, the seed-to-seed spread of
    ReLU's own validation accuracy at that epoch: a candidate only a seed's noise behind the
    leaders goes on. Nothing is stopped before ``min_peers`` earlier candidates reached the rung.
    """

    relu_curves: list[list[float]]  # ReLU's validation curve per baseline seed
    relu_by_seed: dict[int, list[float]]
    eta: int = 3
    min_peers: int = 4
    history: dict[int, list[float]] = field(default_factory=dict)  # rung epoch -> differences seen

    @staticmethod
    def epochs(total: int) -> list[int]:
        out, e = [], 1
        while e < total:
            out.append(e)
            e *= 2
        return out

    def margin(self, epoch: int) -> float:
        at = [c[epoch - 1] for c in self.relu_curves if len(c) >= epoch]
        return statistics.stdev(at) if len(at) >= 2 else 0.0

    def diff(self, seed: int, epoch: int, acc: float) -> float | None:
        relu = self.relu_by_seed.get(seed)
        return acc - relu[epoch - 1] if relu and len(relu) >= epoch else None

    def should_stop(self, seed: int, epoch: int, acc: float) -> bool:
        diff = self.diff(seed, epoch, acc)
        peers = self.history.get(epoch, [])
        if diff is None or len(peers) < self.min_peers:
            return False
        leaders = sorted(peers, reverse=True)[: max(1, len(peers) // self.eta)]
        return diff < leaders[-1] - self.margin(epoch)

    def add(self, seed: int, curve: list[float], total_epochs: int) -> None:
        """Enter a finished (or stopped) candidate's curve at every rung it reached."""
        for epoch in self.epochs(total_epochs):
            if len(curve) >= epoch:
                diff = self.diff(seed, epoch, curve[epoch - 1])
                if diff is not None:
                    self.history.setdefault(epoch, []).append(diff)


class Evaluator:
    """Scores activation configs under one base TrainConfig and writes nothing itself."""

    def __init__(self, base, objective: str):
        self.base = base
        self.objective = objective

    def score(self, activation: dict[str, Any], seed: int | None = None,
              stop: Callable[[int, int, float], bool] | None = None) -> dict[str, Any]:
        """Train one candidate; return its results.jsonl record (status ok, pruned, diverged or
        failed: a crash in one candidate must not end a search, a user error still does).

        ``stop(seed, epoch, val_acc)`` returning True ends the job after that epoch (pruned).
        """
        from actsearch.training.trainer import train

        cfg = replace(self.base, activation=activation, seed=self.base.seed if seed is None else seed)
        callback = (lambda epoch, acc: stop(cfg.seed, epoch, acc)) if stop else None
        try:
            result = train(cfg, callback=callback)
        except ActsearchError:
            raise
        except Exception as exc:  # a bug or a numerical failure of this candidate only
            return {"activation_config": activation, "seed": cfg.seed, "status": "failed", "reason": repr(exc)}
        record = result.record()
        if self.objective == "latency":
            record["latency"] = activation_latency(self.base, record["activation_config"])
        return record

    def cost(self, activation: dict[str, Any]) -> float | None:
        """The cost objective of a config without training it (None for the dead ratio, which
        only training tells)."""
        if self.objective == "dead_ratio":
            return None
        if self.objective == "latency":
            return activation_latency(self.base, activation)
        from actsearch.training.trainer import model_costs

        costs = model_costs(replace(self.base, activation=activation))
        if self.objective == "activation_flops":
            return float(costs.activation_flops)
        return float(costs.model_flops + costs.activation_flops)


def relu_equal(config: dict[str, Any]) -> bool:
    """Whether a config computes exactly ReLU (in eval and in training)."""
    from actsearch.activations import ACTIVATIONS

    name = config.get("name")
    if name == "relu":
        return True
    family_point = getattr(ACTIVATIONS.get(name), "family_point", None)
    if family_point is None:
        return False
    p = family_point(config)
    linear_zero = p["shape"] == "zero" or (p["shape"] == "linear" and p["alpha"] == 0)
    noisy = p["sigma"] > 0 or (p["sigma_end"] > 0 and p["sigma_schedule"] != "constant")
    return linear_zero and not noisy and p["eps"] == 0 and not p["eps_learnable"]
