"""Pareto analysis of a run's results.jsonl: candidates, front, knee, hypervolume.

Every search backend writes the same records, so tune and evolve runs are analysed alike.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actsearch.errors import ConfigError, RunDirError
from actsearch.search.objectives import COSTS, cost_value
from actsearch.results import read_results
from actsearch.rundir import read_snapshot


@dataclass
class Candidate:
    trial: int
    activation: dict[str, Any]
    label: str
    status: str  # of the search record: ok, pruned, diverged, failed
    record: dict[str, Any]  # the search record
    accs: list[float] = field(default_factory=list)  # every finished seed
    cost: float | None = None

    @property
    def acc_mean(self) -> float:
        return statistics.fmean(self.accs) if self.accs else float("nan")

    @property
    def acc_std(self) -> float:
        return statistics.stdev(self.accs) if len(self.accs) > 1 else 0.0


@dataclass
class RunAnalysis:
    run_dir: Path
    settings: dict[str, Any]
    objective: str
    candidates: list[Candidate]
    front: list[Candidate]  # sorted by cost
    knee: Candidate | None
    hypervolume: float
    reference: tuple[float, float]  # (accuracy %, cost)
    baseline_acc: float | None  # ReLU under the same settings
    counts: dict[str, int]
    skipped_lines: list[int]


def pareto_front(points: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on both mean accuracy (higher) and cost (lower), by cost."""
    front = [c for c in points if not any(
        (o.acc_mean >= c.acc_mean and o.cost <= c.cost) and (o.acc_mean > c.acc_mean or o.cost < c.cost)
        for o in points)]
    return sorted(front, key=lambda c: (c.cost, -c.acc_mean))


def knee_point(front: list[Candidate]) -> Candidate | None:
    """The member closest to the ideal corner after min-max scaling both objectives."""
    if not front:
        return None
    accs, costs = [c.acc_mean for c in front], [c.cost for c in front]
    a_span = (max(accs) - min(accs)) or 1.0
    c_span = (max(costs) - min(costs)) or 1.0

    def distance(c: Candidate) -> float:
        return ((max(accs) - c.acc_mean) / a_span) ** 2 + ((c.cost - min(costs)) / c_span) ** 2

    return min(front, key=distance)


def hypervolume(front: list[Candidate], reference: tuple[float, float]) -> float:
    """Area dominated by the front up to the reference point (accuracy floor, cost ceiling)."""
    acc_ref, cost_ref = reference
    area, best_acc = 0.0, acc_ref
    for c in sorted(front, key=lambda c: c.cost):  # ascending cost, so accuracy rises along it
        if c.acc_mean > best_acc and c.cost < cost_ref:
            area += (c.acc_mean - best_acc) * (cost_ref - c.cost)
            best_acc = c.acc_mean
    return area


def analyse(run_dir: str | Path) -> RunAnalysis:
    run_dir = Path(run_dir)
    snapshot = read_snapshot(run_dir)
    if snapshot is None:
        raise RunDirError(f"{run_dir} is not an actsearch run folder (no run.yaml); pass a folder that "
                          "`actsearch tune` or `actsearch evolve` wrote")
    if snapshot.get("command") not in ("tune", "evolve"):
        hint = " (its table is comparison.md)" if snapshot.get("command") == "compare" else ""
        raise RunDirError(f"{run_dir} holds an `actsearch {snapshot.get('command')}` run{hint}, not a search; "
                          "report, export and plot read tune and evolve runs")
    settings = snapshot["settings"]
    objective = settings.get("objectives", "accuracy,activation_flops").split(",")[1]
    records, bad = read_results(run_dir)
    candidates: dict[int, Candidate] = {}
    baseline = []
    counts = {"complete": 0, "pruned": 0, "diverged": 0, "failed": 0}
    for r in records:
        role = r.get("role")
        if role == "baseline" and r.get("status") == "ok":
            baseline.append(r["test_acc"])
        elif role == "search":
            status = r.get("status", "failed")
            counts["complete" if status == "ok" else status if status in counts else "failed"] += 1
            candidates[r["trial"]] = Candidate(
                trial=r["trial"], activation=r.get("activation_config", {}), label=r.get("activation", "?"),
                status=status, record=r, cost=cost_value(r, objective),
                accs=[r["test_acc"]] if status == "ok" else [])
    for r in records:
        if r.get("role") == "confirm" and r.get("status") == "ok" and r.get("trial") in candidates:
            candidates[r["trial"]].accs.append(r["test_acc"])
    scored = [c for c in candidates.values() if c.status == "ok" and c.cost is not None]
    front = pareto_front(scored)
    cost_ref = max((c.cost for c in scored), default=1.0) * 1.1 or 1.0
    reference = (0.0, cost_ref)
    return RunAnalysis(
        run_dir=run_dir, settings=settings, objective=objective,
        candidates=sorted(candidates.values(), key=lambda c: c.trial), front=front, knee=knee_point(front),
        hypervolume=hypervolume(front, reference), reference=reference,
        baseline_acc=statistics.fmean(baseline) if baseline else None, counts=counts, skipped_lines=bad,
    )


def pick(analysis: RunAnalysis, how: str) -> Candidate:
    """knee | best-accuracy | min-cost | trial:N"""
    front = analysis.front
    if how.startswith("trial:"):
        try:
            number = int(how.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--pick {how!r}: write trial:N with N a trial number") from None
        match = [c for c in analysis.candidates if c.trial == number]
        if not match:
            raise ConfigError(f"--pick {how}: no trial {number} in {analysis.run_dir}; see `actsearch report`")
        return match[0]
    if how not in ("knee", "best-accuracy", "min-cost"):
        raise ConfigError(f"--pick {how!r}: choose knee, best-accuracy, min-cost or trial:N")
    if not front:
        raise RunDirError(f"{analysis.run_dir} has no completed trial yet; run the search first")
    if how == "knee":
        return analysis.knee  # type: ignore[return-value]
    if how == "best-accuracy":
        return max(front, key=lambda c: c.acc_mean)
    return min(front, key=lambda c: (c.cost, -c.acc_mean))


__all__ = ["COSTS", "Candidate", "RunAnalysis", "analyse", "hypervolume", "knee_point", "pareto_front", "pick"]
