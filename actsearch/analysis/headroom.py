"""Does a setting have headroom? Seed-to-seed spread against the spread between activations.

A search scores candidates on few seeds. Where the activations' mean accuracies lie no further
apart than seed noise alone would put them, there is nothing for it to find (the 2-layer seed
MLP on Fashion-MNIST); where they lie clearly further apart, there is (the deep plain MLP).

The rule, fixed before looking at any data: the gap between the best and the worst activation's
mean is compared with the gap that seed noise alone would give two means, a pooled two-sample t
threshold at 5% two-sided, Bonferroni-corrected over all pairs of activations so that listing
more activations does not make "headroom" likelier by chance.

A deep plain network sometimes collapses on one seed (ReLU at 68% where its other seeds reach
84%). Such a seed would swamp the seed spread and hide every difference, so a seed that
``stats.collapsed`` flags (far below its activation's median, in robust standard deviations and
in points) is reported on its own and left out of the means and spreads.

``actsearch compare`` prints this verdict under its table for every model it trained with two or
more activations on two or more seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as sps

from actsearch.analysis import stats
from actsearch.errors import ConfigError

ALPHA = 0.05


@dataclass(frozen=True)
class Headroom:
    verdict: str  # "headroom" or "no headroom"
    means: dict[str, float]  # accuracy % per activation
    stds: dict[str, float]  # seed-to-seed standard deviation per activation
    seeds: dict[str, int]
    best: str
    worst: str
    gap: float  # spread between activations: best mean - worst mean, points
    seed_spread: float  # pooled seed-to-seed standard deviation, points
    threshold: float  # the gap seed noise alone stays under (at ALPHA, all pairs)
    collapsed: dict[str, list[float]]  # per activation, the seeds' accuracies left out as collapses

    @property
    def has_headroom(self) -> bool:
        return self.verdict == "headroom"

    def summary(self) -> str:
        relation = ">" if self.has_headroom else "<="
        return (f"{self.verdict}: activations span {self.gap:.2f} points ({self.best} {self.means[self.best]:.2f} "
                f"vs {self.worst} {self.means[self.worst]:.2f}) {relation} {self.threshold:.2f}, the most that "
                f"seed noise alone gives (seed spread {self.seed_spread:.2f} points, pooled std over "
                f"{sum(self.seeds.values())} runs)" + "".join(
                    f"; {len(v)} of {len(v) + self.seeds[k]} {k} seeds collapsed ({', '.join(f'{a:.2f}' for a in v)})"
                    for k, v in self.collapsed.items() if v))


def headroom(accuracies: Mapping[str, Sequence[float]]) -> Headroom:
    """The verdict for per-seed accuracies of two or more activations (label -> values, each
    with at least two seeds; the same seeds for all is best but not required)."""
    given = {label: [float(v) for v in values] for label, values in accuracies.items()}
    if len(given) < 2:
        raise ConfigError("a headroom check needs at least two activations, e.g. relu and gelu")
    short = [label for label, v in given.items() if len(v) < 2]
    if short:
        raise ConfigError(f"a headroom check needs at least 2 seeds per activation; {', '.join(short)} has fewer")
    acc, collapsed = {}, {}
    for label, values in given.items():
        out = set(stats.collapsed(values))
        acc[label] = [v for i, v in enumerate(values) if i not in out]
        collapsed[label] = [v for i, v in enumerate(values) if i in out]
    means = {k: statistics.fmean(v) for k, v in acc.items()}
    stds = {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in acc.items()}
    seeds = {k: len(v) for k, v in acc.items()}
    dof = sum(n - 1 for n in seeds.values())
    if dof < 1:
        raise ConfigError("a headroom check needs more seeds: too few are left besides the collapsed ones")
    pooled = math.sqrt(sum((seeds[k] - 1) * stds[k] ** 2 for k in acc) / dof)
    best, worst = max(means, key=means.get), min(means, key=means.get)
    pairs = len(acc) * (len(acc) - 1) // 2
    t = float(sps.t.ppf(1 - ALPHA / 2 / pairs, dof))
    threshold = t * pooled * math.sqrt(1 / seeds[best] + 1 / seeds[worst])
    gap = means[best] - means[worst]
    return Headroom("headroom" if gap > threshold else "no headroom", means, stds, seeds, best, worst, gap,
                    pooled, threshold, collapsed)
