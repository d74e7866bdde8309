"""The proxy trainer against hand-written baselines, timed side by side (interleaved, median).

    python benchmarks/trainer.py               # all three comparisons, 2 threads
    python benchmarks/trainer.py --only digits --repeats 5

1. input path: images/s of actsearch's trainer vs a plain torch DataLoader loop, same model
   (the seed MLP, ReLU), same data (Fashion-MNIST when installed, else digits), same epochs.
2. digits trial: the N-ReLU seed's MLP protocol (8 epochs, batch 128, Adam 1e-3) with SR-ReLU,
   actsearch vs a hand-written loop (DataLoader + the seed's naive torch.where activation).
3. fashion-mnist trial: the same protocol on all 60,000 images, actsearch with a
   bounded-negative activation vs a plain randperm-indexed loop with nn.ReLU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from actsearch.activations import reference as ref
from actsearch.training.config import TrainConfig
from actsearch.training.data import DEBIAN_FASHION_MNIST
from actsearch.training.models import MLP
from actsearch.training.trainer import get_dataset, train


class Naive(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def float_split(data):
    mean, std = data.mean[0], data.std[0]
    norm = lambda x: (x.float() * data.scale - mean) / std  # noqa: E731
    return norm(data.train_x), data.train_y, norm(data.test_x), data.test_y


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item() * 100


def dataloader_loop(data, act_factory, epochs, seed=0):
    """What a user writes by hand: TensorDataset + DataLoader(shuffle=True)."""
    torch.manual_seed(seed)
    tx, ty, vx, vy = float_split(data)
    model = MLP(data.input_shape, data.num_classes, act_factory)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(tx, ty), batch_size=128, shuffle=True)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        evaluate(model, vx, vy)
    return evaluate(model, vx, vy)


def randperm_loop(data, epochs, seed=0):
    """A plain randperm-indexed loop over pre-normalized float tensors with nn.ReLU."""
    torch.manual_seed(seed)
    tx, ty, vx, vy = float_split(data)
    model = MLP(data.input_shape, data.num_classes, nn.ReLU)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ty))
        for i in range(0, len(ty), 128):
            idx = perm[i : i + 128]
            loss = F.cross_entropy(model(tx[idx]), ty[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        evaluate(model, vx, vy)
    return evaluate(model, vx, vy)


def side_by_side(candidates: dict, repeats: int) -> dict[str, float]:
    times = {name: [] for name in candidates}
    for fn in candidates.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["input", "digits", "fashion"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    have_fashion = DEBIAN_FASHION_MNIST.is_dir()
    common = dict(threads=args.threads, budget="full")

    if args.only in (None, "input"):
        task = "fashion-mnist" if have_fashion else "digits"
        data = get_dataset(task)
        epochs = 1 if have_fashion else 8
        t = side_by_side({
            "actsearch": lambda: train(TrainConfig(task=task, epochs=epochs, **common)),
            "DataLoader": lambda: dataloader_loop(data, nn.ReLU, epochs),
        }, args.repeats)
        n = len(data.train_y) * epochs
        print(f"\n## 1. input path: {task}, seed MLP + ReLU, {epochs} epoch(s), {args.threads} threads")
        print("| loop | s | images/s | speed-up |\n|---|---|---|---|")
        for name, s in t.items():
            print(f"| {name} | {s:.2f} | {n / s:,.0f} | {t['DataLoader'] / s:.2f}x |")

    if args.only in (None, "digits"):
        data = get_dataset("digits")
        t = side_by_side({
            "actsearch sr_relu": lambda: train(TrainConfig(task="digits", activation={"name": "sr_relu"}, **common)),
            "hand-written sr_relu": lambda: dataloader_loop(data, lambda: Naive(ref.sr_relu), 8),
        }, args.repeats * 3)
        print(f"\n## 2. digits trial, N-ReLU seed MLP protocol (8 epochs, batch 128, Adam 1e-3), {args.threads} threads")
        print("| loop | s per trial | vs hand-written |\n|---|---|---|")
        for name, s in t.items():
            print(f"| {name} | {s:.3f} | {s / t['hand-written sr_relu']:.2f} |")

    if args.only in (None, "fashion") and have_fashion:
        data = get_dataset("fashion-mnist")
        members = {
            "actsearch r_relu": {"name": "r_relu"},
            "actsearch sr_relu": {"name": "sr_relu"},
            "actsearch n_relu (sigma 0.1)": {"name": "n_relu"},
            "actsearch bounded_negative (cubic + noise)": {"name": "bounded_negative", "shape": "cubic", "sigma": 0.05},
        }
        runs = {name: (lambda a=act: train(TrainConfig(task="fashion-mnist", activation=a, **common)))
                for name, act in members.items()}
        runs["plain randperm loop, nn.ReLU"] = lambda: randperm_loop(data, 8)
        t = side_by_side(runs, max(1, args.repeats - 1))
        print(f"\n## 3. fashion-mnist trial, 60,000 images, 8 epochs, batch 128, Adam 1e-3, {args.threads} threads")
        print("| loop | s per trial | vs plain ReLU loop |\n|---|---|---|")
        for name, s in t.items():
            print(f"| {name} | {s:.2f} | {s / t['plain randperm loop, nn.ReLU']:.2f} |")


if __name__ == "__main__":
    main()
