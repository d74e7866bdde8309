"""Wall time of one proxy trial per budget preset and task (the README's budget table).

    python benchmarks/budgets.py                     # digits, fashion-mnist, cifar10
    python benchmarks/budgets.py --tasks digits --budgets tiny small

Without the real CIFAR-10 files (no internet here), the cifar10 rows run on a generated folder of
the release's exact format and size (50,000 + 10,000 random images): the timing depends on the
sizes, not the pixels, but the accuracy column is then meaningless and printed as "-".
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from pathlib import Path

import numpy as np

from actsearch.training.config import BUDGETS, DEFAULT_MODEL, TrainConfig
from actsearch.training.data import DataError, load_task
from actsearch.training.trainer import get_dataset, train


def synthetic_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (10000, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, 10000).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits", "fashion-mnist", "cifar10"])
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--activation", default="sr_relu")
    args = parser.parse_args()
    print("| task | model | budget | train images | epochs | width | s per trial | test acc % |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            data_dir, synthetic = None, False
            if task == "cifar10":
                try:
                    load_task("cifar10", download=False)
                except DataError:
                    synthetic_cifar10(Path(tmp))
                    data_dir, synthetic = tmp, True
            data = get_dataset(task, data_dir)
            for budget in args.budgets:
                preset = BUDGETS[budget]
                cfg = TrainConfig(task=task, budget=budget, threads=args.threads, data_dir=data_dir,
                                  activation={"name": args.activation})
                train(TrainConfig(task=task, budget="tiny", epochs=1, threads=args.threads, data_dir=data_dir))
                r = train(cfg)
                n = min(preset["train_subset"] or len(data.train_y), len(data.train_y))
                acc = "-" if synthetic else f"{r.test_acc:.2f}"
                print(f"| {task}{' (generated)' if synthetic else ''} | {DEFAULT_MODEL[task]} | {budget} | {n:,} "
                      f"| {preset['epochs']} | {preset['width']} | {r.time_s:.2f} | {acc} |", flush=True)


if __name__ == "__main__":
    main()
