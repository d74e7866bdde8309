"""``actsearch fidelity``: does the cheap proxy rank candidates as a longer training does?

Samples candidates from a space, trains each at a low and a high budget with the same seed,
and measures the agreement of the two rankings (Kendall's tau, Spearman's rho, with p-values).
Run it before a long search: a search can only be as good as its proxy's ranking.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from scipy import stats

from actsearch.training.config import BUDGETS, TrainConfig
from actsearch.errors import ConfigError
from actsearch.results import append_result, read_results
from actsearch.rundir import new_run_dir, open_run, run_identity
from actsearch.search.space import config_key, load_space
from actsearch.activations import describe
from actsearch.training.trainer import train

GOOD_TAU = 0.7
POOR_TAU = 0.5


@dataclass
class Fidelity:
    run_dir: Path
    rows: list[dict[str, Any]]  # label, low acc, high acc
    tau: float
    tau_p: float
    rho: float
    rho_p: float
    verdict: str


def verdict(tau: float, low: str, high: str) -> str:
    if tau >= GOOD_TAU:
        return f"good: the {low} proxy ranks candidates like {high} training (tau >= {GOOD_TAU}); search with --budget {low}"
    if tau >= POOR_TAU:
        return f"fair: the {low} proxy roughly follows {high} (tau {tau:.2f}); confirm the front at a higher budget"
    return (f"poor: tau {tau:.2f} < {POOR_TAU} means the {low} proxy ranks candidates poorly; raise the budget "
            f"(or --epochs) before searching")


def fidelity(base: TrainConfig, space_name: str, n: int, low: str, high: str, run_dir: str | None,
             on_step: Callable[[str, int, int], None] | None = None) -> Fidelity:
    for name in (low, high):
        if name not in BUDGETS:
            raise ConfigError(f"unknown budget '{name}'; choose one of: {', '.join(BUDGETS)}")
    if low == high:
        raise ConfigError("--low and --high must be different budgets")
    if n < 3:
        raise ConfigError("--candidates must be >= 3 to rank anything")
    space = load_space(space_name)
    distinct = space.distinct_points()
    if distinct < n:
        raise ConfigError(f"space '{space.name}' holds {distinct} distinct activation(s), fewer than "
                          f"--candidates {n}; ask for at most {distinct}")
    base = base.resolved()
    folder = Path(run_dir) if run_dir else new_run_dir("fidelity", base.task)
    open_run(folder, "fidelity", run_identity(replace(base, budget=low), space=space.name, candidates=n, low=low,
                                              high=high))
    rng = random.Random(base.seed)
    configs: list[dict[str, Any]] = []
    keys: set[str] = set()
    while len(configs) < n:  # distinct candidates: the count above says there are enough
        config = space.to_activation(space.sample(lambda d: d.random(rng)))
        if config_key(config) not in keys:
            keys.add(config_key(config))
            configs.append(config)
    done = {(r.get("candidate"), r.get("budget")): r for r in read_results(folder)[0] if r.get("role") == "fidelity"}
    step = 0
    for budget in (low, high):
        # Budget presets only: other overrides would make the two levels the same job.
        level = replace(base, budget=budget, epochs=None, train_subset=None, val_subset=None, test_subset=None,
                        width=None)
        for i, config in enumerate(configs):
            step += 1
            if (i, budget) in done:
                continue
            if on_step:
                on_step(f"{budget}: candidate {i + 1}/{n}", step, 2 * n)
            record = train(replace(level, activation=config)).record()
            record.update(role="fidelity", candidate=i)
            append_result(folder, record)
            done[(i, budget)] = record
    # Validation accuracy: what a search at the low budget would choose on.
    low_acc = [done[(i, low)]["val_acc"] for i in range(n)]
    high_acc = [done[(i, high)]["val_acc"] for i in range(n)]
    tau = stats.kendalltau(low_acc, high_acc)
    rho = stats.spearmanr(low_acc, high_acc)
    rows = [{"label": describe(c), "low": a, "high": b} for c, a, b in zip(configs, low_acc, high_acc)]
    t, r = float(tau.statistic), float(rho.statistic)
    if t != t:  # NaN: every accuracy tied at one level
        t, r = 0.0, 0.0
    return Fidelity(folder, rows, t, float(tau.pvalue), r, float(rho.pvalue), verdict(t, low, high))
