"""What the tool exists for: is its pick at least as good as the searches a user would write by
hand, for the same CPU time, at no higher activation cost, with an interval the user can trust?

    python benchmarks/search_quality.py --quick                  # digits, 2 minutes per searcher
    python benchmarks/search_quality.py --setting deep-mlp       # 20 minutes per searcher (needs the preset)
    python benchmarks/search_quality.py --setting seed-mlp       # the seed MLP on Fashion-MNIST: "no gain"

Searchers, each under the same wall-time budget, all choosing on the same validation split:
- actsearch: ``actsearch tune`` as recommended (TPE on the paired difference, rung rule, racing);
- random search: random points of the same space, one seed each, the best validation accuracy;
- Optuna TPE: a plain single-objective ``study.optimize`` on validation accuracy, one seed each.
The peers use the same trainer (so only the search differs). Then every pick, ReLU and GELU are
trained on held-out seeds (never used by any searcher) and scored on the test split; the table
gives each pick's activation cost vs ReLU, test accuracy, and paired differences vs ReLU, vs GELU
and vs each other pick with the test valid for the data (t or signed-rank) and wins out of N.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import replace
from typing import Any

from actsearch.analysis import stats
from actsearch.analysis.front import pick
from actsearch.cost import activation_cost
from actsearch.search.space import load_space
from actsearch.search.tune import TuneSettings, tune
from actsearch.training.config import TrainConfig
from actsearch.training.trainer import train

SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {"task": "digits", "budget": "small"},
    "seed-mlp": {"task": "fashion-mnist", "budget": "medium"},
    "deep-mlp": {"preset": "deep-mlp"},
}
RELU, GELU = {"name": "relu"}, {"name": "gelu", "approximate": "none"}


def base_config(setting: str) -> TrainConfig:
    spec = dict(SETTINGS[setting])
    if "preset" in spec:
        from actsearch.training.presets import apply_preset  # the headroom presets

        return apply_preset(spec["preset"], TrainConfig(threads=1)).resolved()
    return TrainConfig(threads=1, **spec).resolved()


def peer(base: TrainConfig, space_name: str, seconds: float, kind: str, seed: int) -> tuple[dict, int]:
    """A hand-written search: (the activation with the best validation accuracy, jobs trained)."""
    space = load_space(space_name)
    deadline = time.monotonic() + seconds
    if kind == "random":
        rng = random.Random(seed)
        best, best_acc, jobs = None, -1.0, 0
        while time.monotonic() < deadline:
            act = space.to_activation(space.sample(lambda d: d.random(rng)))
            acc = train(replace(base, activation=act, seed=seed)).val_acc
            jobs += 1
            if acc > best_acc:
                best, best_acc = act, acc
        return best, jobs
    import optuna

    from actsearch.search.tune import _suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial):
        act = space.to_activation(space.sample(_suggest(trial)))
        trial.set_user_attr("activation", act)
        return train(replace(base, activation=act, seed=seed)).val_acc

    study.optimize(objective, timeout=seconds)
    return study.best_trial.user_attrs["activation"], len(study.trials)


def ours(base: TrainConfig, space_name: str, seconds: float, seed: int) -> tuple[dict, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = TuneSettings(space=space_name, train=replace(base, seed=seed), trials=100_000, timeout=seconds,
                                holdout=0, run_dir=f"{tmp}/run")
        search, analysis = tune(settings)
        chosen, _ = pick(analysis, "knee")
        jobs = sum(1 for r in search.records if not r.get("reused") and r.get("status") != "infeasible")
        return chosen.activation, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="digits")
    parser.add_argument("--space", default="bounded_negative")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall time per searcher")
    parser.add_argument("--seeds", type=int, default=10, help="held-out seeds")
    parser.add_argument("--quick", action="store_true", help="digits, 2 minutes per searcher, 6 held-out seeds")
    args = parser.parse_args()
    if args.quick:
        args.setting, args.minutes, args.seeds = "digits", 2.0, 6
    base = base_config(args.setting)
    seconds = args.minutes * 60
    picks: dict[str, tuple[dict, int, float]] = {}
    for name, run in (("actsearch", lambda: ours(base, args.space, seconds, 0)),
                      ("random search", lambda: peer(base, args.space, seconds, "random", 0)),
                      ("Optuna TPE", lambda: peer(base, args.space, seconds, "tpe", 0))):
        started = time.perf_counter()
        act, jobs = run()
        picks[name] = (act, jobs, time.perf_counter() - started)
        print(f"{name}: {act} ({jobs} jobs, {picks[name][2]:.0f} s)", flush=True)
    held_out = [10_000 + k for k in range(args.seeds)]  # no searcher used these
    scores = {}
    for label, act in [("ReLU", RELU), ("GELU", GELU)] + [(k, v[0]) for k, v in picks.items()]:
        scores[label] = [train(replace(base, activation=act, seed=s)).test_acc for s in held_out]
    relu_cost = activation_cost(RELU).flops
    print(f"\n{args.setting} ({base.task}, {base.model}, budget {base.budget}), {args.minutes:g} min per searcher, "
          f"{args.seeds} held-out seeds, test split")
    print("| searcher | pick | act cost vs ReLU | test acc % | vs ReLU | vs GELU | jobs | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for label in ["ReLU", "GELU", *picks]:
        acc = scores[label]
        act = {"ReLU": RELU, "GELU": GELU}.get(label) or picks[label][0]
        cost = activation_cost(act).flops / relu_cost
        cells = []
        for ref in ("ReLU", "GELU"):
            if ref == label:
                cells.append("-")
                continue
            r = stats.paired(acc, scores[ref], held_out)
            cells.append(f"{r.mean:+.2f} [{r.ci[0]:+.2f}, {r.ci[1]:+.2f}] {r.test} p {r.p:.3g}; "
                         f"{r.wins}/{r.n}" if r.ci else f"{r.mean:+.2f}")
        jobs, wall = (picks[label][1], f"{picks[label][2]:.0f}") if label in picks else ("-", "-")
        print(f"| {label} | {act} | {cost:.1f}x | {statistics.fmean(acc):.2f} ± {statistics.stdev(acc):.2f} | "
              f"{cells[0]} | {cells[1]} | {jobs} | {wall} |")
    names = list(picks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            r = stats.paired(scores[a], scores[b], held_out)
            print(f"{a} vs {b}: {r.mean:+.2f} points, {r.test} p {r.p:.3g}, {r.wins}/{r.n} seeds better")
    for label in ("ReLU",):
        if note := stats.collapse_sentence(scores[label], label):
            print(note)


if __name__ == "__main__":
    main()
