"""The analysis functions on hand-made fronts: Pareto front, knee, hypervolume, pick."""

import math

import pytest

from actsearch.analysis import stats
from actsearch.analysis.front import Candidate, RunAnalysis, hypervolume, knee_point, pareto_front, pick
from actsearch.errors import ConfigError, RunDirError


NOISE = [0.8, -1.1, 0.3, -0.6, 1.4, -0.8]  # seed noise, mean 0


def cand(trial, diff, cost, seeds=1, noisy=False):
    """A candidate whose mean paired validation difference from ReLU is ``diff`` over ``seeds``."""
    vals = {s: 90.0 + diff + (NOISE[(s + trial) % 6] if noisy else 0.0) for s in range(seeds)}
    c = Candidate(trial=trial, activation={"name": "relu"}, label=f"c{trial}", status="ok", record={},
                  cost=cost, trials=[trial], val_by_seed=vals)
    c.val_diff = stats.paired(list(vals.values()), [90.0] * seeds)
    return c


@pytest.mark.parametrize("points, front", [
    ([(0, 1.0, 10), (1, 2.0, 20), (2, 0.5, 15)], [0, 1]),  # 2 is dominated by 0
    ([(0, 1.0, 10), (1, 1.0, 10)], [0, 1]),  # equal points: neither dominates
    ([(0, 1.0, 10), (1, 1.0, 5)], [1]),  # same accuracy, cheaper wins
    ([(0, 3.0, 30), (1, 2.0, 20), (2, 1.0, 10)], [2, 1, 0]),  # sorted by cost
    ([], []),
])
def test_pareto_front(points, front):
    got = pareto_front([cand(*p) for p in points])
    assert [c.trial for c in got] == front


@pytest.mark.parametrize("points, knee", [
    ([(0, 1.0, 10)], None),  # one point: no knee
    ([(0, 0.0, 1), (1, 1.0, 10)], None),  # two: the old rule picked the cheap end (ReLU) by tie
    ([(0, 0.0, 1), (1, 0.0, 1), (2, 1.0, 10)], None),  # duplicates are one point
    ([(0, 0.0, 1), (1, 0.9, 2), (2, 1.0, 10)], 1),  # the elbow
    ([(0, 0.0, 1), (1, 0.1, 9), (2, 1.0, 10)], None),  # the middle lies below the chord: no knee (not the cheap end)
])
def test_knee_needs_three_distinct_points(points, knee):
    got, why = knee_point(pareto_front([cand(*p) for p in points]))
    assert (got.trial if got else None) == knee
    if knee is None:
        assert why.startswith("no knee")


def test_knee_ties_go_to_more_seeds():
    a, b = cand(1, 0.5, 5.5, seeds=1), cand(2, 0.5, 5.5, seeds=3)
    front = [cand(0, 0.0, 1), a, b, cand(3, 1.0, 10)]
    assert knee_point(front)[0] is b


@pytest.mark.parametrize("points, reference, area", [
    ([(0, 1.0, 2.0)], (0.0, 4.0), 2.0),
    ([(0, 1.0, 2.0), (1, 2.0, 3.0)], (0.0, 4.0), 1.0 * 2.0 + 1.0 * 1.0),
    ([(0, 1.0, 5.0)], (0.0, 4.0), 0.0),  # beyond the cost ceiling
    ([(0, -1.0, 2.0)], (0.0, 4.0), 0.0),  # below the floor
    ([(0, 1.0, 2.0), (1, 1.0, 2.0)], (0.0, 4.0), 2.0),  # a tie counts once
    ([(0, 1.0, 2.0)], (0.0, math.inf), math.inf),
    ([(0, 1.0, 2.0)], (-math.inf, 4.0), math.inf),
])
def test_hypervolume(points, reference, area):
    assert hypervolume(pareto_front([cand(*p) for p in points]), reference) == area


def analysis_of(front, verdict=None):
    knee, why = knee_point(front)
    return RunAnalysis(run_dir=None, settings={}, objective="activation_flops", candidates=front, front=front,
                       knee=knee, knee_reason=why, hypervolume=0.0, reference=(0.0, 1.0), baseline_val={},
                       baseline_acc=None, holdout_relu={}, holdout_gelu={}, verdict=verdict, counts={},
                       skipped_lines=[], raced=False)


def test_pick():
    front = pareto_front([cand(0, 0.0, 1), cand(1, 0.9, 2), cand(2, 1.0, 10)])
    a = analysis_of(front)
    assert pick(a, "knee")[0].trial == 1
    assert pick(a, "best-accuracy")[0].trial == 2
    assert pick(a, "min-cost")[0].trial == 0
    assert pick(a, "trial:2")[0].trial == 2
    with pytest.raises(ConfigError, match="no trial 7"):
        pick(a, "trial:7")
    with pytest.raises(ConfigError, match="trial:N"):
        pick(a, "trial:x")
    with pytest.raises(ConfigError, match="choose knee"):
        pick(a, "nearest")
    with pytest.raises(RunDirError, match="no completed trial"):
        pick(analysis_of([]), "knee")


def test_knee_falls_back_when_nothing_beats_relu():
    """With a 'no gain' verdict the knee is the cheapest member not significantly worse than the
    most accurate, and says why."""
    front = pareto_front([cand(0, 0.6, 1, 6, True), cand(1, 0.9, 2, 6, True), cand(2, 1.0, 10, 6, True)])
    no_gain = stats.Verdict(beats=False, winners=[], adjusted={}, sentence="No candidate beats ReLU", decided=True)
    chosen, why = pick(analysis_of(front, no_gain), "knee")
    assert "no member beats ReLU" in why
    assert chosen.trial == 0  # within the seed noise of the most accurate
    clear = pareto_front([cand(0, -5.0, 1, 6, True), cand(1, 0.9, 2, 6, True), cand(2, 1.0, 10, 6, True)])
    assert pick(analysis_of(clear, no_gain), "knee")[0].trial == 1  # 0 is clearly worse: skipped
    two = pareto_front([cand(0, 0.0, 1), cand(1, 1.0, 10)])
    chosen, why = pick(analysis_of(two), "knee")
    assert "no knee" in why
