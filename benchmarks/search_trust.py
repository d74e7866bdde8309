"""Does the search tell the truth? Three measurements, each against its reference in the same run.

    python benchmarks/search_trust.py calibration --repeats 20     # near-null space: "no gain" >= 19/20
    python benchmarks/search_trust.py racing --runs 3               # racing vs fixed 5-seed confirmation
    python benchmarks/search_trust.py pruning                       # front with the rung rule vs without

calibration: ``tune`` over ``search_spaces/near_null.yaml`` (members differ from ReLU by a term
too small to matter) with different seeds; counts the runs whose verdict claims a gain.
racing: a search's front, confirmed (a) by a fixed 5 extra seeds per member, (b) by racing
with at most 5; same candidates, same seeds; prints the decisions of each (survivors, and each
survivor's verdict vs ReLU) and the jobs each trained, for ``--runs`` searches with seeds 0, 1, ...
pruning: the same proposals (a fixed list of random points) scored with and without the rung
rule; prints both fronts and the epochs trained.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from actsearch.analysis import stats
from actsearch.analysis.front import analyse, race_field, race_state
from actsearch.results import read_results
from actsearch.search.base import Search
from actsearch.search.tune import OptunaBackend, TuneSettings, tune
from actsearch.training.config import TrainConfig


def calibration(args) -> None:
    gains, undecided = 0, 0
    started = time.perf_counter()
    for seed in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            settings = TuneSettings(space="near_null", train=TrainConfig(task=args.task, budget=args.budget, seed=seed,
                                                                          threads=1),
                                    trials=args.trials, confirm=0, holdout=args.holdout, run_dir=f"{tmp}/run")
            _, analysis = tune(settings)
            v = analysis.verdict
            gains += bool(v and v.beats)
            undecided += bool(v is None or not v.decided)
            print(f"seed {seed:2d}: {v.sentence if v else 'no verdict'}", flush=True)
    print(f"\ncalibration on {args.task}/{args.budget}, {args.trials} trials, {args.holdout} held-out seeds: "
          f"{args.repeats - gains}/{args.repeats} runs report no gain ({undecided} undecided); "
          f"{time.perf_counter() - started:.0f} s")


def _jobs(run: Path, role: str) -> int:
    return sum(1 for r in read_results(run)[0] if r.get("role") == role and not r.get("reused"))


def racing(args) -> None:
    totals = {"fixed": 0, "racing": 0}
    agree = []
    for seed in range(args.runs):
        same, jobs = race_once(args, seed)
        agree.append(same)
        for k in totals:
            totals[k] += jobs[k]
        print(f"seed {seed}: same decisions {same}; fixed / racing confirmation jobs "
              f"{jobs['fixed']} / {jobs['racing']} = {jobs['fixed'] / max(1, jobs['racing']):.2f}x\n", flush=True)
    print(f"{sum(agree)}/{len(agree)} runs reach the same decisions; over all runs fixed / racing confirmation "
          f"jobs {totals['fixed']} / {totals['racing']} = {totals['fixed'] / max(1, totals['racing']):.2f}x")


def race_once(args, seed: int) -> tuple[bool, dict[str, int]]:
    """One search's front confirmed twice from the same records: (same survivors and verdicts
    vs ReLU, confirmation jobs of each)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = TrainConfig(task=args.task, budget=args.budget, seed=seed, threads=1)
        first = Path(tmp) / "search"
        tune(TuneSettings(train=base, trials=args.trials, confirm=0, holdout=0, run_dir=str(first)))
        runs = {}
        for name in ("fixed", "racing"):
            run = Path(tmp) / name
            shutil.copytree(first, run)
            settings = TuneSettings(train=base, trials=args.trials, confirm=5, holdout=0, run_dir=str(run))
            search = Search(settings, OptunaBackend(settings))
            if name == "fixed":  # every member of the front gets all 5 seeds: no early decisions
                field_ = race_field(search.records, search.snapshot_settings)
                for extra in range(seed + 1, seed + 6):
                    search.ensure_baseline([extra], lambda e: None, None)
                    search.confirm(field_, extra, None)
            else:
                search.run()
            runs[name] = (run, search)
        decisions = {}
        for name, (run, search) in runs.items():
            recs = read_results(run)[0]
            field_ = race_field(recs, search.snapshot_settings)
            state = race_state(recs, search.snapshot_settings, field_)
            relu = {r["seed"]: r["val_acc"] for r in recs if r.get("role") == "baseline"}
            verdicts = {}
            for c in state.alive:
                seeds = [s for s in c.val_by_seed if s in relu]
                # at the level of a race to 6 seeds, wherever it stopped (the level the race used)
                verdicts[c.trial] = stats.race_decision([c.val_by_seed[s] - relu[s] for s in seeds],
                                                        budget_left=max(0, 6 - len(seeds)))
            decisions[name] = (sorted(c.trial for c in state.alive), verdicts)
            print(f"{name:7s}: field {len(field_)}, survivors {decisions[name][0]}, vs ReLU {verdicts}, "
                  f"confirmation jobs {_jobs(run, 'confirm')}, baseline jobs {_jobs(run, 'baseline')}")
        return decisions["fixed"] == decisions["racing"], {k: _jobs(run, "confirm") for k, (run, _) in runs.items()}


def pruning(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for prune in (False, True):
            run = Path(tmp) / f"prune-{prune}"
            settings = TuneSettings(train=TrainConfig(task=args.task, budget=args.budget, epochs=args.epochs, seed=0,
                                                      threads=1),
                                    sampler="random", trials=args.trials, prune=prune, confirm=0, holdout=0,
                                    run_dir=str(run))
            started = time.perf_counter()
            tune(settings)
            recs = [r for r in read_results(run)[0] if r.get("role") == "search"]
            epochs = sum(len(r.get("val_curve", [])) for r in recs)
            front = [(c.trial, round(c.diff, 2)) for c in analyse(run).front]
            results[prune] = (front, epochs, time.perf_counter() - started)
            print(f"prune={prune!s:5}: front {front}, epochs trained {epochs}, {results[prune][2]:.0f} s", flush=True)
        print(f"\nsame front: {results[True][0] == results[False][0]}; epochs with / without pruning: "
              f"{results[True][1] / max(1, results[False][1]):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("calibration", "racing", "pruning"))
    parser.add_argument("--task", default="digits")
    parser.add_argument("--budget", default="tiny")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--holdout", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=20, help="calibration: searches with different seeds")
    parser.add_argument("--runs", type=int, default=3, help="racing: searches (seeds 0, 1, ...) whose fronts are confirmed")
    args = parser.parse_args()
    {"calibration": calibration, "racing": racing, "pruning": pruning}[args.what](args)


if __name__ == "__main__":
    main()
