"""What the tool exists for: is its pick at least as good as the searches a user would write by
hand, for the same CPU time, at no higher activation cost, with an interval the user can trust?

    python benchmarks/search_quality.py --quick                  # digits, 2 minutes per searcher
    python benchmarks/search_quality.py --setting deep-mlp       # 20 minutes per searcher (needs the preset)
    python benchmarks/search_quality.py --setting seed-mlp       # the seed MLP on Fashion-MNIST: "no gain"

Searchers, each under the same wall-time budget on the same cores (``--workers`` processes of
one thread each), all choosing on the same validation split:
- actsearch: ``actsearch tune`` as recommended (TPE on the paired difference, rung rule, racing,
  the knee), its proposals cut at 70% of the budget so that racing fits in the rest;
- random search: random points of the same space, one seed each, the best validation accuracy;
- Optuna TPE: a plain single-objective ``study.optimize`` on validation accuracy, one seed each,
  its processes sharing one study through a journal file (Optuna's documented way).
The peers use the same trainer (so only the search differs). "What it claims" is what each
would tell its user: a peer its best single-seed validation score against ReLU's on that seed,
actsearch its pick's paired validation difference from ReLU over the racing seeds. Then every pick, ReLU and GELU are
trained on held-out seeds (never used by any searcher) and scored on the test split; the table
gives each pick's activation cost vs ReLU, test accuracy, and paired differences vs ReLU, vs GELU
and vs each other pick with the test valid for the data (t or signed-rank) and wins out of N.
"""

from __future__ import annotations

import argparse
import json
import concurrent.futures as futures
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from dataclasses import replace
from typing import Any

from actsearch.activations import describe
from actsearch.analysis import stats
from actsearch.analysis.front import pick
from actsearch.cost import activation_cost
from actsearch.search.space import config_key, load_space
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


def _peer_worker(args: tuple) -> tuple[dict, float, int]:
    """One process of a hand-written search: (its best activation, its validation accuracy, jobs)."""
    base, space_name, seconds, kind, seed, worker, journal = args
    space = load_space(space_name)
    if kind == "random":
        rng = random.Random(seed * 1000 + worker)
        deadline = time.monotonic() + seconds
        best, best_acc, jobs = None, -1.0, 0
        while time.monotonic() < deadline:
            act = space.to_activation(space.sample(lambda d: d.random(rng)))
            acc = train(replace(base, activation=act, seed=seed)).val_acc
            jobs += 1
            if acc > best_acc:
                best, best_acc = act, acc
        return best, best_acc, jobs
    import optuna

    from actsearch.search.tune import _suggest

    # Optuna's documented way to use two processes: one study in a shared journal file.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = optuna.create_study(study_name="peer", storage=storage, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed * 1000 + worker))

    def objective(trial):
        act = space.to_activation(space.sample(_suggest(trial)))
        trial.set_user_attr("activation", act)
        return train(replace(base, activation=act, seed=seed)).val_acc

    study.optimize(objective, timeout=seconds)
    best = study.best_trial
    return best.user_attrs["activation"], best.value, len(study.trials)  # the whole study, seen from here


def peer(base: TrainConfig, space_name: str, seconds: float, kind: str, seed: int, workers: int) -> dict[str, Any]:
    """A search a user would write by hand, one process per core, one seed per trial, choosing
    the best validation accuracy: what it picks and what it would report."""
    with tempfile.TemporaryDirectory() as tmp, _pool(workers) as pool:
        journal = f"{tmp}/journal.log"
        started = time.perf_counter()
        found = list(pool.map(_peer_worker, [(base, space_name, seconds, kind, seed, w, journal)
                                             for w in range(workers)]))
        wall = time.perf_counter() - started
    act, acc, _ = max(found, key=lambda f: f[1])
    relu = train(replace(base, activation=RELU, seed=seed)).val_acc  # outside the budget: only for the claim
    jobs = max(f[2] for f in found) if kind == "tpe" else sum(f[2] for f in found)  # tpe: one shared study
    return {"activation": act, "jobs": jobs, "wall": wall,
            "claim": f"best single-seed val {acc:.2f} vs ReLU {relu:.2f}: {acc - relu:+.2f}"}


def ours(base: TrainConfig, space_name: str, seconds: float, seed: int, workers: int) -> dict[str, dict]:
    """actsearch as recommended (TPE on the paired difference, rung rule, racing), with the
    proposal phase cut at 70% of the budget so racing fits in the rest: its knee and its most
    accurate front member, both from the one run."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = TuneSettings(space=space_name, train=replace(base, seed=seed, threads=workers), trials=100_000,
                                timeout=0.7 * seconds, holdout=0, workers=workers, run_dir=f"{tmp}/run")
        started = time.perf_counter()
        search, analysis = tune(settings)
        wall = time.perf_counter() - started
        jobs = sum(1 for r in search.records if not r.get("reused") and r.get("status") != "infeasible")
        out = {}
        for how in ("knee", "best-accuracy"):
            chosen, _ = pick(analysis, how)
            d = chosen.val_diff
            claim = (f"val vs ReLU {d.mean:+.2f} [{d.ci[0]:+.2f}, {d.ci[1]:+.2f}] {d.test} p {d.p:.3g}, "
                     f"{d.n} seeds" if d is not None and d.ci else "no paired seeds")
            out[how] = {"activation": chosen.activation, "jobs": jobs, "wall": wall, "claim": claim}
        return out


def _pool(workers: int) -> futures.ProcessPoolExecutor:
    return futures.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))


def _test_acc(cfg: TrainConfig) -> float:
    return train(cfg).test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="digits")
    parser.add_argument("--space", default="bounded_negative")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall time per searcher")
    parser.add_argument("--seeds", type=int, default=10, help="held-out seeds")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes per searcher, one thread each [default: the cores]")
    parser.add_argument("--out", help="also write the picks and the held-out scores to this JSON file")
    parser.add_argument("--quick", action="store_true", help="digits, 2 minutes per searcher, 6 held-out seeds")
    args = parser.parse_args()
    if args.quick:
        args.setting, args.minutes, args.seeds = "digits", 2.0, 6
    base = base_config(args.setting)
    seconds = args.minutes * 60
    found = ours(base, args.space, seconds, 0, args.workers)
    picks: dict[str, dict[str, Any]] = {"actsearch knee": found["knee"], "actsearch best": found["best-accuracy"]}
    for name, run in (("random search", lambda: peer(base, args.space, seconds, "random", 0, args.workers)),
                      ("Optuna TPE", lambda: peer(base, args.space, seconds, "tpe", 0, args.workers))):
        picks[name] = run()
    for name in picks:
        print(f"{name}: {describe(picks[name]['activation'])} ({picks[name]['jobs']} jobs, "
              f"{picks[name]['wall']:.0f} s); claims {picks[name]['claim']}", flush=True)
    held_out = [10_000 + k for k in range(args.seeds)]  # no searcher used these
    entries = [("ReLU", RELU), ("GELU", GELU)] + [(k, v["activation"]) for k, v in picks.items()]
    distinct = list({config_key(act): act for _, act in entries}.values())  # two picks may coincide
    with _pool(args.workers) as pool:
        flat = list(pool.map(_test_acc, [replace(base, activation=act, seed=s) for act in distinct for s in held_out]))
    by_key = {config_key(act): flat[i * len(held_out):(i + 1) * len(held_out)] for i, act in enumerate(distinct)}
    scores = {label: by_key[config_key(act)] for label, act in entries}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"setting": args.setting, "minutes": args.minutes, "held_out": held_out, "scores": scores,
                       "picks": picks}, f, indent=1)
    relu_cost = activation_cost(RELU).flops
    print(f"\n{args.setting} ({base.task}, {base.model} depth {base.depth or 'default'}, budget {base.budget}), "
          f"{args.minutes:g} min x {args.workers} processes per searcher, {args.seeds} held-out seeds, test split")
    print("| searcher | pick | act FLOPs vs ReLU | test acc % | vs ReLU | vs GELU | jobs | wall s | what it claims |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, act in entries:
        acc = scores[label]
        cells = []
        for ref in ("ReLU", "GELU"):
            if ref == label:
                cells.append("-")
                continue
            r = stats.paired(acc, scores[ref], held_out)
            cells.append(f"{r.mean:+.2f} [{r.ci[0]:+.2f}, {r.ci[1]:+.2f}] {r.test} p {r.p:.3g}; "
                         f"{r.wins}/{r.n}" if r.ci else f"{r.mean:+.2f}")
        info = picks.get(label, {})
        run = f"{info['jobs']} | {info['wall']:.0f} | {info['claim']}" if info else "- | - | -"
        print(f"| {label} | {describe(act)} | {activation_cost(act).flops / relu_cost:.1f}x | "
              f"{statistics.fmean(acc):.2f} ± {statistics.stdev(acc):.2f} | {cells[0]} | {cells[1]} | {run} |")
    names = list(picks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            r = stats.paired(scores[a], scores[b], held_out)
            print(f"{a} vs {b}: {r.mean:+.2f} points, {r.test} p {r.p:.3g}, {r.wins}/{r.n} seeds better")
    for label in ("ReLU", "GELU", *names):
        if note := stats.collapse_sentence(scores[label], label):
            print(note)


if __name__ == "__main__":
    main()
