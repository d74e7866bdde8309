"""Paired, robust significance for "does this activation beat ReLU?".

Candidates differ from ReLU by less than seed noise, so every claim is paired over seeds (the
trainer gives each activation the same initialization and data order per seed) and every rule
below is fixed here, before any data is seen:

- **Test.** ``paired`` computes both the paired t-test and the exact Wilcoxon signed-rank test
  and states which one is *the* verdict's test (``Paired.test``, ``Paired.p``):
  the signed-rank when a seed collapsed on either side (``collapsed``), when the differences have
  no spread (the t statistic is undefined), or when a Shapiro-Wilk check on the differences
  rejects normality at ``NORMALITY_ALPHA``; otherwise the paired t-test. The t-test is the more
  powerful of the two under normal seed noise, which is the usual case; one collapsed seed (a
  ReLU seed at 67.84 among seeds near 84) inflates its standard error so much that it reports
  p 0.1 where the rank test reports 0.004, and the rank test stays exact without normality. The
  smaller of the two p-values is never taken: that rejects more often than alpha under the null.
  Choosing by a look at the data is itself a two-stage procedure, so its size is measured, not
  assumed: tests/test_stats.py simulates null pairs (normal noise; collapses on both sides) and
  fails if the chosen test rejects more than alpha plus three binomial standard errors.
- **Estimate.** With the t-test: the mean difference and its t-interval. With the signed-rank:
  the Hodges-Lehmann shift (median of the pairwise averages of differences) and its exact
  distribution-free interval, which agrees with the test; a bootstrap interval of the mean would
  not (one collapsed seed drags the mean and its interval while the rank test ignores its size).
- **Minimum seeds** ``MIN_SEEDS = 6``: with n pairs the smallest two-sided signed-rank p is
  2/2^n, 0.0625 at n = 5, so below 6 seeds any collapse would make a gain unprovable whatever
  the data, and the verdict would read as "no gain" when it means "cannot tell". At 6 seeds
  the floor is 0.031 (and the exact 95% interval exists). Holm across m candidates needs
  2/2^n * m < alpha: 8 seeds for up to 5 candidates, 10 for up to 25; ``verdict`` says so.
- **Multiplicity.** ``verdict`` Holm-adjusts the chosen p-values across the candidates it is
  given (the front) and claims a gain only for adjusted p < alpha with a positive estimate.

Pure functions of lists of accuracies in points; numpy and scipy only.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from scipy import special
from scipy import stats as sps

MIN_SEEDS = 6  # see the module docstring: the smallest n whose signed-rank p can go below 0.05
# A race may decide from 3 seeds on: the paired t-test can (when the data let it choose the
# t-test), while a signed-rank decision still needs 6 by its own p floor.
RACE_MIN_SEEDS = 3
FUTILITY_POWER = 0.1  # a racing candidate stops when its last look decides with less chance than this
NORMALITY_ALPHA = 0.05  # Shapiro-Wilk level that switches the verdict to the signed-rank test
COLLAPSE_K = 5.0  # robust standard deviations (1.4826 * MAD) below the median
COLLAPSE_GAP = 3.0  # points below the median, at least; ordinary seed noise (sd <= 1.7) rarely gets there
COLLAPSE_MIN_N = 4  # with fewer values the median and MAD say nothing about "the others"
T_TEST, SIGNED_RANK = "paired t", "signed-rank"


def collapsed(values: Sequence[float], k: float = COLLAPSE_K, gap: float = COLLAPSE_GAP,
              min_n: int = COLLAPSE_MIN_N) -> list[int]:
    """Indices of seeds that collapsed: more than ``k`` robust sds and more than ``gap`` points
    below the median of all seeds, only when there are at least ``min_n`` seeds.

    The MAD ignores the collapsed seed itself, so one seed at 67.84 among seeds near 84 stands
    out by a factor of about 20; the absolute gap keeps seeds that agree to within a hundredth
    (MAD near 0) from flagging an ordinary half-point dip. Simulated normal seeds flag none at
    sd 0.7 and in about 2% of sets at sd 1.7 (a false flag only switches to the rank test).
    """
    x = np.asarray(values, dtype=float)
    if len(x) < min_n:
        return []
    med = float(np.median(x))
    robust_sd = 1.4826 * float(np.median(np.abs(x - med)))
    below = med - x
    return [int(i) for i in np.flatnonzero((below > gap) & (below > k * robust_sd))]


def collapse_sentence(values: Sequence[float], label: str = "ReLU", k: float = COLLAPSE_K,
                      gap: float = COLLAPSE_GAP) -> str:
    """'1 of 10 ReLU seeds collapsed (67.84)', or '' when none did."""
    idx = collapsed(values, k, gap)
    if not idx:
        return ""
    shown = ", ".join(f"{values[i]:.2f}" for i in idx)
    return f"{len(idx)} of {len(values)} {label} seeds collapsed ({shown})"


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average (scipy's rankdata, without its per-call overhead)."""
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


@lru_cache(maxsize=256)
def _t_crit(df: int, alpha: float) -> float:
    return float(sps.t.ppf(1 - alpha / 2, df))


def _signed_rank_p(d: np.ndarray) -> float | None:
    """Exact two-sided Wilcoxon signed-rank p, zeros dropped (Wilcox), ties by midranks.

    The null distribution is enumerated over the observed (mid)ranks, so it stays exact with
    ties, which accuracies on a fixed test set (multiples of 0.01 points) produce often; scipy's
    handling of ties and zeros changes across versions.
    """
    if len(d) < 2:
        return None
    nz = d[d != 0]
    if len(nz) == 0:
        return 1.0
    ranks2 = np.rint(2 * _midranks(np.abs(nz))).astype(int)  # midranks doubled: integers
    dist = np.zeros(int(ranks2.sum()) + 1)
    dist[0] = 1.0
    for r in ranks2:  # each sign is + or - with probability 1/2 under the null
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[:-r]
        dist = 0.5 * (dist + shifted)
    t = int(ranks2[nz > 0].sum())
    return float(min(1.0, 2 * min(dist[: t + 1].sum(), dist[t:].sum())))


def _t_test(d: np.ndarray, alpha: float = 0.05) -> tuple[float | None, float | None, tuple[float, float] | None]:
    """(standard error, two-sided p, 1 - alpha t-interval) of the mean difference."""
    n = len(d)
    if n < 2:
        return None, None, None
    mean, sd = statistics.fmean(d), statistics.stdev(d)  # exact summation: no cancellation warnings
    se = sd / math.sqrt(n)
    half = _t_crit(n - 1, alpha) * se
    if se == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * special.stdtr(n - 1, -abs(mean) / se))
    return se, p, (mean - half, mean + half)


@lru_cache(maxsize=256)
def _walsh_trim(n: int, alpha: float) -> int | None:
    """How many Walsh averages to drop from each end for the exact 1 - alpha interval: the
    largest c with P(T+ <= c) <= alpha/2 under the no-ties null; None when even c = 0 is too likely."""
    dist = np.zeros(n * (n + 1) // 2 + 1)
    dist[0] = 1.0
    for r in range(1, n + 1):
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[:-r]
        dist = 0.5 * (dist + shifted)
    below = np.flatnonzero(np.cumsum(dist) <= alpha / 2)
    return int(below[-1]) if len(below) else None


def _hodges_lehmann(d: np.ndarray, alpha: float = 0.05) -> tuple[float | None, tuple[float, float] | None]:
    """Median of the Walsh averages and its exact 1 - alpha interval (None when n is too small
    for that coverage: n < 6 at alpha 0.05). With ties the coverage is approximate."""
    n = len(d)
    if n == 0:
        return None, None
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    k = _walsh_trim(n, alpha)
    ci = None if k is None else (float(walsh[k]), float(walsh[len(walsh) - 1 - k]))
    return float(np.median(walsh)), ci


def _shapiro_p(d: np.ndarray) -> float | None:
    if len(d) < 3 or np.ptp(d) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "p-value may be inaccurate" for large n
        return float(sps.shapiro(d).pvalue)


def _choose(d: np.ndarray, outlier: bool, shapiro_p: float | None) -> str | None:
    """The fixed rule of the module docstring."""
    if len(d) < 2:
        return None
    if outlier or np.ptp(d) == 0 or (shapiro_p is not None and shapiro_p < NORMALITY_ALPHA):
        return SIGNED_RANK
    return T_TEST


def _differences(candidate: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if c.shape != b.shape or c.ndim != 1:
        raise ValueError(f"paired values need equal lengths, got {len(c)} and {len(b)}")
    if not (np.isfinite(c).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite (drop failed seeds on both sides first)")
    # 88.41 - 88.40 and 85.31 - 85.30 differ in the last bits; they are the same difference
    return np.round(c - b, 9)


@dataclass(frozen=True)
class Paired:
    """Candidate minus baseline over paired seeds, in accuracy points. None where undefined (n < 2)."""

    n: int
    mean: float | None
    se: float | None
    ci: tuple[float, float] | None  # t-interval of the mean difference (95% at alpha 0.05)
    t_p: float | None  # paired t-test, two-sided
    w_p: float | None  # exact Wilcoxon signed-rank, two-sided
    shift: float | None  # Hodges-Lehmann shift: the signed-rank's estimate
    shift_ci: tuple[float, float] | None  # its exact distribution-free interval (95% at alpha 0.05)
    shapiro_p: float | None  # normality check on the differences (n >= 3 with spread)
    wins: int
    ties: int
    losses: int
    collapsed_candidate: list[int]  # seeds (ids when given, else indices)
    collapsed_baseline: list[int]
    test: str | None  # T_TEST or SIGNED_RANK: the verdict's test, by the fixed rule
    p: float | None  # that test's p-value
    seeds: list[int] = field(default_factory=list)
    candidate: tuple[float, ...] = ()
    baseline: tuple[float, ...] = ()

    @property
    def effect(self) -> float | None:
        """The chosen test's estimate: mean (t-test) or Hodges-Lehmann shift (signed-rank)."""
        return self.shift if self.test == SIGNED_RANK else self.mean

    @property
    def effect_ci(self) -> tuple[float, float] | None:
        return self.shift_ci if self.test == SIGNED_RANK else self.ci


def paired(candidate: Sequence[float], baseline: Sequence[float], seeds: Sequence[int] | None = None,
           alpha: float = 0.05) -> Paired:
    """Paired comparison of ``candidate`` with ``baseline`` (same seeds, same order); see the
    module docstring for the rule that picks ``test`` and ``p``. ``alpha`` sets the level of
    both intervals; the verdict's own alpha is ``verdict``'s."""
    d = _differences(candidate, baseline)
    n = len(d)
    seeds = list(seeds) if seeds is not None else list(range(n))
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} pairs")
    se, t_p, ci = _t_test(d, alpha)
    w_p = _signed_rank_p(d)
    shift, shift_ci = _hodges_lehmann(d, alpha) if n >= 2 else (None, None)
    shapiro_p = _shapiro_p(d)
    cc = [seeds[i] for i in collapsed(candidate)]
    cb = [seeds[i] for i in collapsed(baseline)]
    test = _choose(d, bool(cc or cb), shapiro_p)
    return Paired(n=n, mean=float(d.mean()) if n else None, se=se, ci=ci, t_p=t_p, w_p=w_p,
                  shift=shift, shift_ci=shift_ci, shapiro_p=shapiro_p, wins=int((d > 0).sum()),
                  ties=int((d == 0).sum()), losses=int((d < 0).sum()), collapsed_candidate=cc,
                  collapsed_baseline=cb, test=test, p={T_TEST: t_p, SIGNED_RANK: w_p}.get(test),
                  seeds=seeds, candidate=tuple(map(float, candidate)), baseline=tuple(map(float, baseline)))


def welch(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p for unpaired rows (different seed sets). None with under two
    values per side; with no spread on either side, 1.0 for equal means else 0.0."""
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va == 0 and vb == 0:
        return 1.0 if ma == mb else 0.0
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    p = float(2 * special.stdtr(df, -abs(ma - mb) / math.sqrt(va + vb)))
    return p if math.isfinite(p) else None


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input order; None passes through and does not
    count in the family size."""
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])
    m, out, running = len(idx), list(pvalues), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))  # step-down: never decreases
        out[i] = running
    return out


def undecided(a: Paired, alpha: float = 0.05) -> bool:
    """True while ``a`` cannot be called either way: too few seeds or p >= alpha."""
    return a.n < MIN_SEEDS or a.p is None or a.p >= alpha


def _race_test(d: np.ndarray) -> str | None:
    """The test a race uses on differences ``d``: ``paired``'s rule, with collapses looked for in
    the differences themselves, in either direction (a race has no raw sides)."""
    return _choose(d, bool(collapsed(d) or collapsed(-d)), _shapiro_p(d))


def _race_level(seeds: int, budget_left: int, alpha: float, min_seeds: int) -> float:
    """The level of each look of a race: ``alpha`` split evenly over every look it can make,
    from ``min_seeds`` seeds to ``seeds + budget_left``."""
    return alpha / (seeds - min_seeds + 1 + max(0, int(budget_left)))


def race_decision(diffs: Sequence[float], alpha: float = 0.05, budget_left: int = 0,
                  min_seeds: int = RACE_MIN_SEEDS) -> str:
    """'better', 'worse' or 'undecided' for one candidate in a race, from its paired differences
    (candidate - reference) so far; ``budget_left`` is how many more seeds it may still get.

    A race tests again after every new seed, and testing each look at alpha would reject a true
    null far more often than alpha. The level is therefore split evenly (Bonferroni) over every
    look the race can make: from ``min_seeds`` seeds to n + budget_left. That total is fixed for the
    race, so the level is the same at each look, and the chance of a wrong 'better' or 'worse'
    over the whole race stays below alpha. With no raw sides, collapses are looked for in the
    differences themselves, in either direction; otherwise the test is chosen as in ``paired``.
    """
    d = np.round(np.asarray(diffs, dtype=float), 9)
    if len(d) < min_seeds:
        return "undecided"
    if _race_test(d) == SIGNED_RANK:
        p, effect = _signed_rank_p(d), _hodges_lehmann(d)[0]
    else:
        p, effect = _t_test(d)[1], float(d.mean())
    if p is None or p >= _race_level(len(d), budget_left, alpha, min_seeds) or effect == 0:
        return "undecided"
    return "better" if effect > 0 else "worse"


def race_futile(diffs: Sequence[float], alpha: float = 0.05, budget_left: int = 0,
                min_seeds: int = RACE_MIN_SEEDS, power: float = FUTILITY_POWER) -> bool:
    """True when the seeds a racing candidate may still get are unlikely to decide it: the
    chance that ``race_decision`` says 'better' or 'worse' at the race's last look is below
    ``power`` (stochastic curtailment under the current trend, as group-sequential trials stop
    for futility). A fixed confirmation would call such a candidate 'undecided' all the same,
    so giving it the rest of the seeds buys nothing.

    The trend: the remaining differences drawn with the observed mean and standard deviation;
    the last look's threshold is the t-test's at that look's level. When the data already call
    for the signed-rank test and its p floor at the last look (2 / 2^n) cannot go under that
    level, no decision is possible at all. Identical differences (a member computing exactly
    ReLU: all zero) can never be decided either.
    """
    d = np.round(np.asarray(diffs, dtype=float), 9)
    k = len(d)
    if k < min_seeds or budget_left <= 0:
        return False
    n = k + int(budget_left)
    level = _race_level(k, budget_left, alpha, min_seeds)
    if np.ptp(d) == 0:
        return bool(d[0] == 0)
    if _race_test(d) == SIGNED_RANK and 2.0 / 2**n >= level:
        return True
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    threshold = float(sps.t.ppf(1 - level / 2, n - 1)) * sd / math.sqrt(n)
    spread = math.sqrt(n - k) * sd / n  # of the final mean, given the first k differences
    chance = float(sps.norm.sf((threshold - mean) / spread) + sps.norm.cdf((-threshold - mean) / spread))
    return chance < power


@dataclass(frozen=True)
class Verdict:
    beats: bool  # some candidate beats the baseline significantly after Holm
    winners: list[str]
    adjusted: dict[str, float | None]  # Holm-adjusted chosen p; None when not judged
    sentence: str
    decided: bool  # False when no candidate had MIN_SEEDS seeds


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p {p:.2g}"


def _claim(r: Paired, p_adj: float) -> str:
    """'+1.42 points (95% CI ..., signed-rank p 0.004 Holm-adjusted; 9/10 seeds better)'."""
    ci = f"95% CI {r.effect_ci[0]:+.2f} to {r.effect_ci[1]:+.2f}" if r.effect_ci else "no 95% CI at this n"
    what = f"median shift, mean {r.mean:+.2f}; " if r.test == SIGNED_RANK else ""
    return (f"{r.effect:+.2f} points ({what}{ci}, {r.test} {_fmt_p(p_adj)} Holm-adjusted; "
            f"{r.wins}/{r.n} seeds better)")


def verdict(results: Mapping[str, Paired], alpha: float = 0.05, baseline: str = "ReLU",
            min_seeds: int = MIN_SEEDS) -> Verdict:
    """Does any candidate beat ``baseline``? ``results`` maps a label to its *unadjusted* Paired
    result against the baseline; the chosen p-values are Holm-adjusted here across every
    candidate with at least ``min_seeds`` seeds (the others are not judged, and said so).
    A winner needs adjusted p < alpha and a positive estimate of the chosen test."""
    judged = {k: r for k, r in results.items() if r.n >= min_seeds and r.p is not None}
    labels = list(judged)
    adj = dict(zip(labels, holm([judged[k].p for k in labels])))
    adjusted = {k: adj.get(k) for k in results}
    if not results:
        return Verdict(False, [], {}, f"No candidates to compare with {baseline}.", False)
    if not judged:
        most = max((r.n for r in results.values()), default=0)
        return Verdict(False, [], adjusted, f"Not enough seeds to decide: {most} paired seeds at most, "
                       f"{min_seeds} needed to compare with {baseline}.", False)
    winners = [k for k in labels if adj[k] < alpha and (judged[k].effect or 0) > 0]
    if winners:
        sentence = "; ".join(f"{k} beats {baseline} by {_claim(judged[k], adj[k])}" for k in winners)
    else:
        best = max(labels, key=lambda k: judged[k].effect)
        r = judged[best]
        sentence = f"No candidate beats {baseline}: best {best} at {_claim(r, adj[best])}"
        signs = r.n - r.ties  # zero differences carry no sign, so more seeds like them cannot help
        if r.test == SIGNED_RANK and signs and len(labels) * 2 / 2 ** signs >= alpha:
            need = math.ceil(math.log2(2 * len(labels) / alpha) + 1e-9) + r.ties
            sentence += (f"; with {r.n} seeds the signed-rank test cannot reach p < {alpha:g} after Holm over "
                         f"{len(labels)} candidate{'s' if len(labels) > 1 else ''} ({need} seeds needed)")
    notes = []
    ref = max(judged.values(), key=lambda r: r.n)
    if s := collapse_sentence(ref.baseline, baseline):
        notes.append(s)
    for k in winners or [best]:
        if s := collapse_sentence(judged[k].candidate, k):
            notes.append(s)
    if skipped := len(results) - len(judged):
        notes.append(f"{skipped} candidate{'s' if skipped > 1 else ''} with under {min_seeds} seeds not judged")
    sentence = "; ".join([sentence, *notes]) + "."
    return Verdict(bool(winners), winners, adjusted, sentence, True)
