"""Trials per second for small proxy models: one process with every core's thread, or one
process per core with one thread each, measured side by side in the same run.

    python benchmarks/threads.py                      # digits tiny/small, fashion-mnist small
    python benchmarks/threads.py --rounds 5 --settings digits:tiny

A search runs many short trials. PyTorch's intra-op threads pay a synchronization cost on every
small matmul and activation, and on a machine whose cores are also busy with other work a
thread that waits for a descheduled sibling stalls the whole step. Running trials in parallel
processes with one thread each avoids both. Each round measures every layout once, in turn, so
the machine's other load falls on all of them alike; the ratio is taken per round.

Timing starts when every worker has loaded the data and trained one warm-up trial (imports,
data loading and first-call overheads are the same for any layout and excluded), and ends when
the last worker has finished its share of the trials. Every trial has its own seed, as in a search.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from dataclasses import replace

LAYOUTS = {  # name: (processes, threads per process)
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread": (2, 1),
}
TRIALS = {"digits:tiny": 8, "digits:small": 4, "fashion-mnist:small": 4}  # per layout and round


def _worker(setting: str, threads: int, seeds: list[int], barrier, queue) -> None:
    from actsearch.training.config import TrainConfig
    from actsearch.training.trainer import get_dataset, train

    task, budget = setting.split(":")
    cfg = TrainConfig(task=task, budget=budget, threads=threads, compile=False,
                      activation={"name": "sr_relu"})  # a family member, as a search trains
    get_dataset(task)
    train(replace(cfg, seed=10_000, epochs=1))
    barrier.wait()
    start = time.monotonic()  # one clock for all processes on Linux
    for seed in seeds:
        train(replace(cfg, seed=seed))
    queue.put((start, time.monotonic()))


def measure(setting: str, processes: int, threads: int, trials: int, first_seed: int) -> float:
    """Trials per second of ``trials`` trials shared among ``processes`` workers."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    seeds = list(range(first_seed, first_seed + trials))
    workers = [ctx.Process(target=_worker, args=(setting, threads, seeds[i::processes], barrier, queue))
               for i in range(processes)]
    for w in workers:
        w.start()
    spans = [queue.get() for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode:
            raise RuntimeError(f"a worker of {setting} failed with exit code {w.exitcode}")
    return trials / (max(end for _, end in spans) - min(start for start, _ in spans))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(TRIALS), help="task:budget")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=None, help="per layout and round [default: per setting]")
    args = parser.parse_args()
    names = list(LAYOUTS)
    print(f"cores: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"| setting | trials | {' | '.join(f'{n} (trials/s)' for n in names)} | ratio {names[1]} / {names[0]} "
          "(median, per round) |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for setting in args.settings:
        trials = args.trials or TRIALS.get(setting, 4)
        rates: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names:
                rates[name].append(measure(setting, *LAYOUTS[name], trials, first_seed=r * trials))
        ratios = [b / a for a, b in zip(rates[names[0]], rates[names[1]])]
        cells = [f"{statistics.median(rates[n]):.3f} ({', '.join(f'{v:.3f}' for v in rates[n])})" for n in names]
        print(f"| {setting} | {trials} x {args.rounds} | {' | '.join(cells)} | {statistics.median(ratios):.2f} "
              f"({', '.join(f'{v:.2f}' for v in ratios)}) |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
