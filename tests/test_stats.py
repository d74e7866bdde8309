"""actsearch.analysis.stats: values checked against scipy or by hand, and a calibration that can fail."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from actsearch.analysis.stats import (MIN_SEEDS, SIGNED_RANK, T_TEST, collapse_sentence, collapsed, holm, paired,
                                      race_decision, race_futile, undecided, verdict, welch)

pytestmark = pytest.mark.filterwarnings("error")  # no warning may leak from the statistics

# issue 19's shape: a deep plain MLP, 10 seeds, one ReLU seed collapsed, the pick ahead on 10 of 10
RELU = [84.12, 83.55, 67.84, 83.90, 84.71, 83.02, 84.40, 83.77, 84.95, 83.31]
PICK = [85.13, 84.20, 85.90, 84.55, 85.61, 84.02, 85.77, 84.69, 86.02, 84.41]


@pytest.mark.parametrize("values, expected", [
    (RELU, [2]),
    ([88.15, 88.40, 88.65, 88.30, 88.50], []),  # issue 9's ReLU: 88.40 ± 0.25
    ([84.0, 84.0, 84.0, 83.5], []),  # MAD 0: the absolute gap keeps half a point from flagging
    ([84.0, 84.1, 67.0], []),  # too few seeds to say what "the others" are
    ([84.0, 84.1, 67.0, 83.9], [2]),
    ([70.1, 84.0, 84.3, 69.5, 83.8, 84.2, 84.1], [0, 3]),
    ([90.0, 84.0, 84.1, 83.9, 84.2], []),  # only falling far below counts
])
def test_collapsed(values, expected):
    assert collapsed(values) == expected


def test_collapse_sentence():
    assert collapse_sentence(RELU) == "1 of 10 ReLU seeds collapsed (67.84)"
    assert collapse_sentence(RELU[:2] + RELU[3:]) == ""


def test_collapsed_relu_seed_switches_the_verdict_to_the_signed_rank():
    r = paired(PICK, RELU, seeds=list(range(100, 110)))
    d = np.array(PICK) - np.array(RELU)
    assert r.t_p == pytest.approx(sps.ttest_rel(PICK, RELU).pvalue, rel=1e-9)
    assert r.w_p == pytest.approx(sps.wilcoxon(d, method="exact").pvalue, rel=1e-9)
    assert 0.09 < r.t_p < 0.2 and r.w_p < 0.01  # the t-test is drowned by one seed, the ranks are not
    assert r.collapsed_baseline == [102] and r.collapsed_candidate == []
    assert (r.test, r.p) == (SIGNED_RANK, r.w_p)
    assert (r.wins, r.ties, r.losses) == (10, 0, 0)
    assert r.mean == pytest.approx(d.mean()) and r.ci[0] < 0 < r.ci[1]
    i, j = np.triu_indices(10)
    assert r.shift == pytest.approx(np.median((d[i] + d[j]) / 2))
    assert 0 < r.shift_ci[0] < r.shift < r.shift_ci[1]  # agrees with the test: excludes 0
    v = verdict({"trial 12": r})
    assert v.beats and v.winners == ["trial 12"] and v.adjusted["trial 12"] == r.w_p
    assert v.sentence.startswith("trial 12 beats ReLU by +1.01 points")
    assert "signed-rank p 0.002 Holm-adjusted; 10/10 seeds better" in v.sentence
    assert v.sentence.endswith("; 1 of 10 ReLU seeds collapsed (67.84).")


def test_normal_seeds_use_the_t_test_with_its_interval():
    rng = np.random.default_rng(4)
    b = 88.4 + rng.normal(0, 0.25, 8)
    c = b + 0.3 + rng.normal(0, 0.15, 8)
    r = paired(list(c), list(b))
    assert r.test == T_TEST and r.p == r.t_p
    assert r.t_p == pytest.approx(sps.ttest_rel(c, b).pvalue, rel=1e-6)  # differences are rounded to 1e-9
    d = c - b
    lo, hi = sps.t.interval(0.95, 7, loc=d.mean(), scale=sps.sem(d))
    assert r.ci == pytest.approx((lo, hi)) and r.se == pytest.approx(sps.sem(d))
    assert r.effect == r.mean and r.effect_ci == r.ci


def test_identical_runs_give_p_one_and_no_gain():
    r = paired(RELU, RELU)
    assert (r.t_p, r.w_p, r.p, r.mean, r.shift) == (1.0, 1.0, 1.0, 0.0, 0.0)
    assert (r.wins, r.ties, r.losses) == (0, 10, 0)
    v = verdict({"relu copy": r})
    assert not v.beats and v.sentence.startswith("No candidate beats ReLU: best relu copy at +0.00 points")


def test_constant_nonzero_difference_is_not_p_zero():
    # no spread: the t statistic is undefined, so the rule takes the ranks (2/2^n), never p = 0
    r = paired([x + 0.1 for x in RELU[:6]], RELU[:6])
    assert r.test == SIGNED_RANK and r.p == pytest.approx(2 / 2 ** 6)


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_seeds_never_crash(n):
    r = paired(PICK[:n], RELU[:n])
    assert r.n == n and r.p is r.t_p is r.w_p is r.ci is r.test is None
    assert undecided(r) and race_decision([1.0] * n) == "undecided"
    v = verdict({"x": r})
    assert not v.beats and not v.decided and v.sentence.startswith("Not enough seeds to decide")


def test_below_min_seeds_is_not_judged():
    v = verdict({"few": paired(PICK[:MIN_SEEDS - 1], RELU[:MIN_SEEDS - 1])})
    assert not v.decided and v.adjusted == {"few": None}
    assert verdict({}).sentence == "No candidates to compare with ReLU."


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        paired([1.0, math.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="seeds"):
        paired([1.0, 2.0], [1.0, 2.0], seeds=[0])


def brute_signed_rank(d):
    """Two-sided exact signed-rank p by enumerating every sign pattern (zeros dropped, midranks)."""
    d = np.asarray([x for x in d if x != 0])
    ranks = sps.rankdata(np.abs(d))
    t = ranks[d > 0].sum()
    sums = np.array([sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(d))])
    return min(1.0, 2 * min(np.mean(sums <= t + 1e-9), np.mean(sums >= t - 1e-9)))


@pytest.mark.parametrize("d", [
    [0.3, -0.1, 0.2, 0.2, 0.5, -0.2, 0.1],  # ties in |d|
    [0.0, 0.4, 0.1, 0.0, 0.3, -0.1, 0.2, 0.3],  # zeros and ties
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # the smallest p at n = 6
])
def test_signed_rank_exact_with_ties_and_zeros(d):
    assert paired(list(d), [0.0] * len(d)).w_p == pytest.approx(brute_signed_rank(d), rel=1e-12)


def test_signed_rank_matches_scipy_without_ties():
    rng = np.random.default_rng(7)
    for n in range(2, 16):
        d = rng.normal(0.2, 1, n)
        assert paired(list(d), [0.0] * n).w_p == pytest.approx(sps.wilcoxon(d, method="exact").pvalue, rel=1e-9)


def test_hodges_lehmann_interval_at_six_seeds_is_the_range():
    d = [0.4, 0.1, 0.9, 0.3, 0.6, 0.2]  # P(T+ = 0) = 1/64 <= 0.025 < 2/64: drop one Walsh average per end
    r = paired(d, [0.0] * 6)
    assert r.shift_ci == pytest.approx((0.1, 0.9))
    assert paired(d[:5], [0.0] * 5).shift_ci is None  # 95% is out of reach at n = 5


@pytest.mark.parametrize("a, b, expected", [
    ([1.0, 1.1, 0.9], [1.0, 1.1, 0.9], 1.0),
    ([1.0, 1.0], [1.0, 1.0], 1.0),
    ([1.0, 1.0], [2.0, 2.0], 0.0),
    ([1.0], [2.0, 3.0], None),
])
def test_welch_edge_cases(a, b, expected):
    assert welch(a, b) == expected


def test_welch_matches_scipy():
    a, b = [88.1, 88.6, 88.3, 88.9, 88.2], [88.7, 88.2, 89.1, 88.8, 88.9, 89.3]
    assert welch(a, b) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert welch([1.0, 1.01, 0.99], [5.0, 5.02, 4.98]) < 1e-4


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm([0.01, 0.04, None, 0.03, 0.005]) == pytest.approx([0.03, 0.06, None, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([None]) == [None]


def test_verdict_adjusts_across_the_front():
    rng = np.random.default_rng(11)
    b = 84 + rng.normal(0, 0.5, 8)
    strong = paired(list(b + 0.8 + rng.normal(0, 0.1, 8)), list(b))
    weak = paired(list(b + 0.05 + rng.normal(0, 0.3, 8)), list(b))
    worse = paired(list(b - 0.9 + rng.normal(0, 0.1, 8)), list(b))
    v = verdict({"strong": strong, "weak": weak, "worse": worse})
    assert v.winners == ["strong"]  # significantly worse is not a gain
    assert v.adjusted == pytest.approx(dict(zip(["strong", "weak", "worse"], holm([strong.p, weak.p, worse.p]))))


def test_no_gain_sentence_says_when_the_rank_test_cannot_win():
    r = paired(PICK[:6], RELU[:6])  # collapsed ReLU seed, six seeds: 2/2^6 * 5 candidates > 0.05
    v = verdict({f"c{i}": r for i in range(5)})
    assert not v.beats
    assert "cannot reach p < 0.05 after Holm over 5 candidates (8 seeds needed)" in v.sentence


def test_race_decision():
    up = [0.42, 0.31, 0.55, 0.38, 0.47, 0.29, 0.51]
    assert race_decision(up) == "better"
    assert race_decision([-x for x in up]) == "worse"
    assert race_decision(up[:MIN_SEEDS - 1], min_seeds=MIN_SEEDS) == "undecided"
    assert race_decision(up[:2]) == "undecided"  # fewer than RACE_MIN_SEEDS
    assert race_decision(up[:3]) == "better"  # the t-test may decide a clear race from three seeds
    assert race_decision([0.0] * 8) == "undecided"
    noisy = [0.5, -0.1, 0.4, 0.3, 0.6, 0.2]  # t p 0.03: enough for a single look, not for one of twenty-one
    assert 0.01 < sps.ttest_1samp(noisy, 0).pvalue < 0.05
    assert race_decision(noisy, budget_left=0, min_seeds=MIN_SEEDS) == "better"
    assert race_decision(noisy, budget_left=20, min_seeds=MIN_SEEDS) == "undecided"
    # the looks already taken count too: seeds 6, 7 and 8 were three looks, each at alpha / 3
    assert race_decision(noisy + [0.3, 0.3], budget_left=0, min_seeds=MIN_SEEDS) == "better"
    assert race_decision(noisy + [-0.3, 0.3], budget_left=0, min_seeds=MIN_SEEDS) == "undecided"


def null_rejections(n, reps, seed, collapse_rate=0.0, alpha=0.05):
    """(chosen test, min of t and signed-rank) rejection rates on simulated null pairs: a shared
    per-seed effect (the pairing), independent seed noise, and collapses equally likely on both sides."""
    rng = np.random.default_rng(seed)
    chosen = smaller = 0
    for _ in range(reps):
        shared = rng.normal(84, 1.0, n)
        a, b = (np.round(shared + rng.normal(0, 0.5, n) - 16 * (rng.random(n) < collapse_rate), 2) for _ in "ab")
        r = paired(list(a), list(b))
        chosen += r.p < alpha
        smaller += min(r.t_p, r.w_p) < alpha
    return chosen / reps, smaller / reps


def limit(reps, alpha=0.05):
    """Three binomial standard errors above alpha."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


@pytest.mark.parametrize("n", [5, 10])
def test_calibration_under_normal_noise(n):
    chosen, _ = null_rejections(n, 2000, seed=n)
    assert chosen <= limit(2000)


def test_calibration_with_collapses_and_that_it_can_fail():
    # ReLU-like collapses on either side 20% of the time: the chosen test stays at alpha, taking
    # the smaller of the two p-values does not, and this very check catches it
    chosen, smaller = null_rejections(10, 3000, seed=0, collapse_rate=0.2)
    assert chosen <= limit(3000) < smaller


def test_race_keeps_its_error_over_all_looks():
    # one look per seed from 6 to 15 seeds under the null: alpha at every look decides wrongly
    # in about 16% of races (measured over 1000); the race's split level stays under alpha
    rng = np.random.default_rng(5)
    wrong = naive = 0
    for _ in range(300):
        d = np.round(rng.normal(0, 0.5, 15) - rng.normal(0, 0.5, 15), 2)
        wrong += any(race_decision(list(d[:k]), budget_left=15 - k) != "undecided" for k in range(MIN_SEEDS, 16))
        naive += any(sps.ttest_1samp(d[:k], 0).pvalue < 0.05 for k in range(MIN_SEEDS, 16))
    assert wrong / 300 <= limit(300) < naive / 300


def test_race_stops_a_candidate_more_seeds_cannot_decide():
    assert race_futile([0.0, 0.0, 0.0], budget_left=3)  # computes exactly ReLU: never decided
    assert race_futile([0.3, -0.4, 0.1], budget_left=3)  # noise around zero
    assert not race_futile([2.0, 2.3, 1.8], budget_left=3)  # a clear trend: the last look will likely decide
    assert not race_futile([0.3, -0.4, 0.1], budget_left=0)  # nothing left to save
    assert not race_futile([0.3, -0.4], budget_left=4)  # fewer than RACE_MIN_SEEDS: no look yet


def test_futility_keeps_the_fixed_confirmations_decisions_at_fewer_seeds():
    # racing to 6 seeds (looks from 3 on) against giving every candidate all 6: under the null
    # almost every race ends undecided either way, at about half the seeds
    rng = np.random.default_rng(1)
    for effect, min_agree, max_seeds in ((0.0, 0.95, 3.6), (1.0, 0.85, 4.6)):
        agree = used = 0
        for _ in range(300):
            d = list(np.round(rng.normal(effect, 0.7, 6), 2))
            out, n = "undecided", 6
            for k in range(3, 7):
                if (decision := race_decision(d[:k], budget_left=6 - k)) != "undecided":
                    out, n = decision, k
                    break
                if race_futile(d[:k], budget_left=6 - k):
                    n = k
                    break
            agree += out == race_decision(d, budget_left=0)
            used += n
        assert agree / 300 >= min_agree and used / 300 <= max_seeds
