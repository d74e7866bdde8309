"""Analysis of a search's results.jsonl: candidates, racing, front, knee, hypervolume, verdict.

Every backend writes the same records, so tune and evolve runs are analysed alike. One candidate
is one distinct activation config, whatever how many trials proposed it. Choosing uses the
validation split only: a candidate's accuracy is its mean paired difference from ReLU on the
validation split over its seeds. The test split is only reported, and a gain is only stated from
the held-out seeds (seeds the search never used).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actsearch.analysis import stats
from actsearch.errors import ConfigError, RunDirError
from actsearch.results import read_results, relu_val
from actsearch.rundir import read_snapshot
from actsearch.search.objectives import cost_value, parse_objectives, relu_equal
from actsearch.search.space import config_key

ALPHA = 0.05


@dataclass
class Candidate:
    trial: int  # the first trial that proposed it
    activation: dict[str, Any]
    label: str
    status: str  # of its first search record: ok, pruned, diverged, failed, infeasible
    record: dict[str, Any]  # that record
    cost: float | None = None
    trials: list[int] = field(default_factory=list)  # every trial that proposed it
    val_by_seed: dict[int, float] = field(default_factory=dict)  # validation accuracy %, per seed
    test_by_seed: dict[int, float] = field(default_factory=dict)  # test accuracy % of the same jobs
    holdout: dict[int, float] = field(default_factory=dict)  # test accuracy % on held-out seeds
    val_diff: stats.Paired | None = None  # vs ReLU, validation, the seeds it was scored on
    vs_relu: stats.Paired | None = None  # held-out seeds, test split, Holm-adjusted across the front
    vs_gelu: stats.Paired | None = None
    equals_relu: bool = False
    p_adjusted: float | None = None  # vs_relu's p, Holm-adjusted across the front

    @property
    def seeds(self) -> int:
        return len(self.val_by_seed)

    @property
    def acc_mean(self) -> float:
        """Mean validation accuracy over its seeds."""
        return statistics.fmean(self.val_by_seed.values()) if self.val_by_seed else float("nan")

    @property
    def acc_std(self) -> float:
        v = list(self.val_by_seed.values())
        return statistics.stdev(v) if len(v) > 1 else 0.0

    @property
    def diff(self) -> float:
        """Mean paired validation difference from ReLU (points): what the front ranks on."""
        if self.val_diff is None or self.val_diff.mean is None:
            return float("nan")
        return self.val_diff.mean


@dataclass
class RunAnalysis:
    run_dir: Any  # the folder, or where the records came from (a database study)
    settings: dict[str, Any]
    objective: str
    candidates: list[Candidate]
    front: list[Candidate]  # sorted by cost
    knee: Candidate | None
    knee_reason: str
    hypervolume: float
    reference: tuple[float, float]  # (difference from ReLU in points, cost)
    baseline_val: dict[int, float]  # ReLU's validation accuracy per seed
    baseline_acc: float | None  # its mean
    holdout_relu: dict[int, float]
    holdout_gelu: dict[int, float]
    verdict: stats.Verdict | None  # from the held-out seeds; None when there are none
    counts: dict[str, int]
    skipped_lines: list[int]
    raced: bool  # whether the front comes from racing (several seeds) or one seed


def pareto_front(points: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on both difference from ReLU (higher) and cost (lower), by cost."""
    front = [c for c in points if not any(
        (o.diff >= c.diff and o.cost <= c.cost) and (o.diff > c.diff or o.cost < c.cost) for o in points)]
    return sorted(front, key=lambda c: (c.cost, -c.diff, -c.seeds, c.trial))


def _point_key(c: Candidate) -> tuple[float, float]:
    """A front point as the report prints it (difference to 2 decimals, cost to 4 significant
    digits): points that print the same are one point for the knee."""
    return round(c.diff, 2), float(f"{c.cost:.4g}")


def _support(c: Candidate) -> tuple[int, float]:
    """How well a candidate's difference is supported: more seeds, then a narrower spread."""
    p = c.val_diff
    width = (p.ci[1] - p.ci[0]) if (p is not None and p.ci is not None) else float("inf")
    return c.seeds, -width


def knee_point(front: list[Candidate]) -> tuple[Candidate | None, str]:
    """(knee, why), defined on any front.

    Rule (Kneedle, Satopaa et al. 2011, on a two-objective front): scale difference from ReLU
    and cost to [0, 1] over the front, draw the chord from the cheapest member to the costliest
    (the most accurate), and take the member between them farthest above that chord (on it, for
    a straight front): where a step in cost buys the most accuracy. Points that print the same (difference to 2 decimals, cost to 4
    digits) count as one. There is no knee when

    - the front has fewer than 3 distinct points (a chord needs two ends and a knee lies between
      them), or
    - every member between the ends lies below the chord (the front bends the other way:
      accuracy comes in one late jump, and an end is no knee).

    An end of the front is never the knee, nor is a member that computes exactly ReLU, so this
    rule never picks ReLU under another name. Ties on the distance go to the better-supported member (more seeds, then a
    narrower interval), then the cheaper one, and ``why`` names the members it was tied with.
    """
    distinct = {_point_key(c) for c in front}
    if len(distinct) < 3:
        return None, (f"no knee: the front has {len(distinct)} distinct point(s), a knee needs 3 "
                      "(two ends and one between)")
    ordered = sorted(front, key=lambda c: (c.cost, c.diff))
    lo, hi = ordered[0], ordered[-1]  # cheapest, costliest (= most accurate on a front)
    d_span = (hi.diff - lo.diff) or 1.0
    c_span = (hi.cost - lo.cost) or 1.0
    ends = {_point_key(lo), _point_key(hi)}

    def gain(c: Candidate) -> float:  # height above the chord from (0, 0) to (1, 1), scaled
        return round((c.diff - lo.diff) / d_span - (c.cost - lo.cost) / c_span, 9)

    inner = [c for c in front if _point_key(c) not in ends and gain(c) >= 0 and not c.equals_relu]
    if not inner:
        return None, ("no knee: every member between the cheapest and the most accurate lies below the "
                      "line joining them (accuracy comes in one late jump) or computes exactly ReLU")
    top = max(gain(c) for c in inner)
    tied = [c for c in inner if gain(c) == top]
    best = max(tied, key=lambda c: (*_support(c), -c.cost, -c.trial))
    why = f"knee: trial {best.trial}, the largest accuracy gain per unit of cost along the front"
    others = [c for c in tied if c is not best]
    if others:
        why += (f" (tied with trial(s) {', '.join(str(c.trial) for c in others)}; taken for "
                f"{best.seeds} seed(s), then the narrower interval, then the lower cost)")
    return best, why


def hypervolume(front: list[Candidate], reference: tuple[float, float]) -> float:
    """Area dominated by the front up to the reference point (difference floor, cost ceiling)."""
    ref_diff, ref_cost = reference
    area, best = 0.0, ref_diff
    for c in sorted(front, key=lambda c: c.cost):  # ascending cost, so accuracy rises along it
        if c.diff > best and c.cost < ref_cost:
            area += (c.diff - best) * (ref_cost - c.cost)
            best = c.diff
    return area


# --- reading a run ---------------------------------------------------------------------------


def _snapshot(run_dir: Path) -> dict[str, Any]:
    if not run_dir.exists():
        raise RunDirError(f"{run_dir} does not exist; pass a folder that `actsearch tune` or `actsearch evolve` wrote")
    snapshot = read_snapshot(run_dir)
    if snapshot is None:
        raise RunDirError(f"{run_dir} is not an actsearch run folder (no run.yaml); pass a folder that "
                          "`actsearch tune` or `actsearch evolve` wrote")
    if snapshot.get("command") not in ("tune", "evolve"):
        hint = " (its table is comparison.md)" if snapshot.get("command") == "compare" else ""
        raise RunDirError(f"{run_dir} holds an `actsearch {snapshot.get('command')}` run{hint}, not a search; "
                          "report, export and plot read tune and evolve runs")
    settings = snapshot.get("settings")
    objectives = settings.get("objectives") if isinstance(settings, dict) else None
    try:
        parse_objectives(objectives if isinstance(objectives, str) else "")
    except ConfigError:
        raise RunDirError(f"{run_dir / 'run.yaml'} is damaged: its settings name no objectives 'accuracy,COST'; "
                          "run `actsearch check` on the folder, or restore run.yaml") from None
    return snapshot


def candidates_of(records: list[dict[str, Any]], objective: str) -> tuple[dict[str, Candidate], dict[int, float]]:
    """Candidates by config key, and ReLU's validation accuracy per seed. A (config, seed) job
    counts once however many processes or trials logged it."""
    from actsearch.activations import describe

    relu = relu_val(records)
    out: dict[str, Candidate] = {}
    for r in records:
        if r.get("role") != "search":
            continue
        if not r.get("activation_config"):  # a trial the machine failed before it had a point: no candidate
            continue
        key = config_key(r["activation_config"])
        c = out.get(key)
        if c is None:
            status = r.get("status", "failed")
            c = out[key] = Candidate(
                trial=r["trial"], activation=r["activation_config"], status=status, record=r,
                label=r.get("activation") or describe(r["activation_config"]),
                cost=cost_value(r, objective), equals_relu=relu_equal(r["activation_config"]))
        if r["trial"] not in c.trials:
            c.trials.append(r["trial"])
        if r.get("status") == "ok":
            c.status = "ok"
            c.record = r if c.record.get("status") != "ok" else c.record
            if c.cost is None:
                c.cost = cost_value(r, objective)
    by_key = out
    for r in records:
        if r.get("status") != "ok" or r.get("role") not in ("search", "confirm", "holdout"):
            continue
        c = by_key.get(config_key(r["activation_config"]))
        if c is None:
            continue
        if r["role"] == "holdout":
            c.holdout.setdefault(r["seed"], r["test_acc"])
        elif r.get("val_acc") is not None:
            c.val_by_seed.setdefault(r["seed"], r["val_acc"])
            c.test_by_seed.setdefault(r["seed"], r["test_acc"])
    for c in out.values():
        seeds = [s for s in c.val_by_seed if s in relu]
        c.val_diff = stats.paired([c.val_by_seed[s] for s in seeds], [relu[s] for s in seeds]) if seeds else None
    return out, relu


def _search_seed(settings: dict[str, Any]) -> int:
    return int(settings.get("train", {}).get("seed", 0))


def _objective(settings: dict[str, Any]) -> str:
    return settings.get("objectives", "accuracy,activation_flops").split(",")[1]


def race_field(records: list[dict[str, Any]], settings: dict[str, Any]) -> list[Candidate]:
    """The members racing starts with: the front of the search seed's scores."""
    cands, relu = candidates_of(records, _objective(settings))
    seed = _search_seed(settings)
    single = []
    for c in cands.values():
        if c.status == "ok" and c.cost is not None and seed in c.val_by_seed and seed in relu:
            one = Candidate(trial=c.trial, activation=c.activation, label=c.label, status="ok", record=c.record,
                            cost=c.cost, val_by_seed={seed: c.val_by_seed[seed]},
                            val_diff=stats.paired([c.val_by_seed[seed]], [relu[seed]]))
            single.append(one)
    keys = {config_key(c.activation) for c in pareto_front(single)}
    return [c for c in cands.values() if config_key(c.activation) in keys]


@dataclass
class RaceState:
    alive: list[Candidate]
    out: dict[int, int]  # trial -> the trial that beat it
    decided: set[int]  # trials whose difference from ReLU is decided, or that more seeds cannot decide


def race_state(records: list[dict[str, Any]], settings: dict[str, Any], field_: list[Candidate],
               seeds_left: int = 0) -> RaceState:
    """Who is still racing, derived from the records alone (so a resumed race agrees).
    ``seeds_left``: the rounds the race may still run (its level is split over every look)."""
    cands, relu = candidates_of(records, _objective(settings))
    members = [cands[config_key(c.activation)] for c in field_]
    out: dict[int, int] = {}
    for c in members:
        for b in members:
            if b is c or b.cost > c.cost:
                continue
            common = sorted(set(b.val_by_seed) & set(c.val_by_seed))
            diffs = [b.val_by_seed[s] - c.val_by_seed[s] for s in common]
            if stats.race_decision(diffs, ALPHA, seeds_left) == "better":
                out[c.trial] = b.trial
                break
    decided = set()
    for c in members:
        common = [s for s in c.val_by_seed if s in relu]
        diffs = [c.val_by_seed[s] - relu[s] for s in common]
        if (c.equals_relu  # its difference is zero on every seed by construction: no seed can decide it
                or stats.race_decision(diffs, ALPHA, seeds_left) != "undecided"
                or stats.race_futile(diffs, ALPHA, seeds_left)):
            decided.add(c.trial)
    return RaceState([c for c in members if c.trial not in out], out, decided)


def analyse(run_dir: str | Path) -> RunAnalysis:
    """The analysis of a run folder (its run.yaml settings and results.jsonl)."""
    run_dir = Path(run_dir)
    settings = _snapshot(run_dir)["settings"]
    records, bad = read_results(run_dir)
    return analyse_records(records, settings, run_dir, bad)


def analyse_records(records: list[dict[str, Any]], settings: dict[str, Any], source: Any,
                    skipped_lines: list[int] | None = None) -> RunAnalysis:
    """The analysis of a search's records, wherever they were read from (``source`` names it)."""
    run_dir = source
    objective = _objective(settings)
    cands, relu = candidates_of(records, objective)
    counts = {"trials": 0, "complete": 0, "pruned": 0, "diverged": 0, "failed": 0, "infeasible": 0}
    seen_trials: set[int] = set()
    for r in records:
        if r.get("role") == "search" and r["trial"] not in seen_trials:
            seen_trials.add(r["trial"])
            counts["trials"] += 1
            status = r.get("status", "failed")
            counts["complete" if status == "ok" else status if status in counts else "failed"] += 1
    raced = any(r.get("role") == "confirm" for r in records)
    field_ = race_field(records, settings)
    pool = race_state(records, settings, field_).alive if raced else field_
    pool = [c for c in pool if c.cost is not None and c.val_diff is not None and c.val_diff.n]
    front = pareto_front(pool)
    holdout_relu = _holdout(records, "relu")
    holdout_gelu = _holdout(records, "gelu")
    verdict = None
    if holdout_relu:
        for c in front:
            seeds = sorted(set(c.holdout) & set(holdout_relu))
            if seeds:
                c.vs_relu = stats.paired([c.holdout[s] for s in seeds], [holdout_relu[s] for s in seeds])
            seeds = sorted(set(c.holdout) & set(holdout_gelu))
            if seeds:
                c.vs_gelu = stats.paired([c.holdout[s] for s in seeds], [holdout_gelu[s] for s in seeds])
        tested = {f"trial {c.trial}": c for c in front if c.vs_relu is not None}
        if tested:
            verdict = stats.verdict({k: c.vs_relu for k, c in tested.items()}, alpha=ALPHA, baseline="ReLU")
            for k, c in tested.items():
                c.p_adjusted = verdict.adjusted.get(k)
    scored = [c for c in cands.values() if c.cost is not None and c.val_diff is not None and c.val_diff.n]
    cost_ref = max((c.cost for c in scored), default=1.0) * 1.1 or 1.0
    reference = (min((c.diff for c in scored), default=0.0), cost_ref)
    knee, why = knee_point(front)
    return RunAnalysis(
        run_dir=run_dir, settings=settings, objective=objective,
        candidates=sorted(cands.values(), key=lambda c: c.trial), front=front, knee=knee, knee_reason=why,
        hypervolume=hypervolume(front, reference), reference=reference, baseline_val=relu,
        baseline_acc=statistics.fmean(relu.values()) if relu else None, holdout_relu=holdout_relu,
        holdout_gelu=holdout_gelu, verdict=verdict, counts=counts, skipped_lines=skipped_lines or [], raced=raced,
    )


def _holdout(records: list[dict[str, Any]], name: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for r in records:
        if r.get("role") == "holdout" and r.get("status") == "ok" and r["activation_config"].get("name") == name \
                and r.get("trial") is None:
            out.setdefault(r["seed"], r["test_acc"])
    return out


def pick(analysis: RunAnalysis, how: str) -> tuple[Candidate, str]:
    """(candidate, why) for knee | best-accuracy | min-cost | trial:N.

    - ``trial:N``: that trial's candidate, whatever it is (``why`` says when it is ReLU).
    - ``best-accuracy``: the front member with the highest mean validation difference from ReLU
      (ties: more seeds, then the lower cost).
    - ``min-cost``: the cheapest front member that is not ReLU itself (ReLU only when every
      member computes exactly ReLU).
    - ``knee``:
      1. when the held-out seeds show members beating ReLU (the verdict's winners): the knee if
         it is one of them, else the cheapest winner;
      2. else, with no verdict to contradict it (``--holdout 0``), the knee of the front
         (``knee_point``);
      3. else (no knee, or the verdict says no member beats ReLU): the cheapest member not
         significantly worse than the most accurate on their common validation seeds.
      Never a member that computes exactly ReLU while another one exists.
    """
    front = analysis.front
    if how.startswith("trial:"):
        try:
            number = int(how.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--pick {how!r}: write trial:N with N a trial number") from None
        match = [c for c in analysis.candidates if number in c.trials]
        if not match:
            raise ConfigError(f"--pick {how}: no trial {number} in {analysis.run_dir}; see `actsearch report`")
        same = " (= ReLU: it computes exactly ReLU)" if match[0].equals_relu else ""
        return match[0], f"trial {number} as asked{same}"
    if how not in ("knee", "best-accuracy", "min-cost"):
        raise ConfigError(f"--pick {how!r}: choose knee, best-accuracy, min-cost or trial:N")
    if not front:
        raise RunDirError(f"{analysis.run_dir} has no completed trial yet; run the search first")
    best = max(front, key=lambda c: (c.diff, c.seeds, -c.cost, -c.trial))
    not_relu = [c for c in front if not c.equals_relu]
    if how == "best-accuracy":
        same = " (= ReLU: no member is more accurate than ReLU)" if best.equals_relu else ""
        return best, f"the highest mean validation difference from ReLU on the front{same}"
    if how == "min-cost":
        if not not_relu:
            return front[0], "every member of the front computes exactly ReLU (= ReLU)"
        cheapest = min(not_relu, key=lambda c: (c.cost, -c.diff, c.trial))
        skipped = " (ReLU itself left out)" if len(not_relu) < len(front) else ""
        return cheapest, f"the cheapest member of the front{skipped}"
    if not not_relu:
        return best, "every member of the front computes exactly ReLU (= ReLU)"
    verdict = analysis.verdict
    if verdict is not None and verdict.winners:
        winners = [c for c in front if f"trial {c.trial}" in verdict.winners]
        if analysis.knee is not None and analysis.knee in winners:
            return analysis.knee, analysis.knee_reason + "; it beats ReLU on the held-out seeds"
        if winners:
            chosen = min(winners, key=lambda c: (c.cost, -c.diff))
            lead = ("the knee is not shown to beat ReLU" if analysis.knee is not None
                    else analysis.knee_reason)
            return chosen, f"{lead}; took the cheapest member that beats ReLU on the held-out seeds"
    no_gain = verdict is not None and not verdict.winners
    if analysis.knee is not None and not no_gain and not analysis.knee.equals_relu:
        return analysis.knee, analysis.knee_reason
    why = "no member beats ReLU on the held-out seeds" if no_gain else analysis.knee_reason
    if best.equals_relu:  # nothing beats ReLU on validation either: the most accurate of the others
        best = max(not_relu, key=lambda c: (c.diff, c.seeds, -c.cost, -c.trial))
    for c in not_relu:  # by cost
        common = sorted(set(c.val_by_seed) & set(best.val_by_seed))
        diffs = [c.val_by_seed[s] - best.val_by_seed[s] for s in common]
        if c is best or stats.race_decision(diffs, ALPHA) != "worse":
            return c, f"{why}; took the cheapest member not significantly worse than the most accurate"
    return best, why


__all__ = ["Candidate", "RunAnalysis", "analyse", "hypervolume", "knee_point", "pareto_front", "pick",
           "analyse_records", "race_field", "race_state"]
