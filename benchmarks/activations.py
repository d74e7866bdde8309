"""Speed and memory of every activation as ratios to F.relu, F.gelu and the seeds' naive code.

All candidates are timed interleaved in one process (round-robin, median of rounds), so the
ratios hold even on a noisy machine; absolute milliseconds are printed only for orientation.

    python benchmarks/activations.py                 # (128, 64, 32, 32) float32, 2 threads
    python benchmarks/activations.py --shape 256 512 --threads 1 --rounds 30

"saved B/el" is what autograd keeps for backward per element beyond the input and output
tensors (which the neighbouring layers keep alive anyway): 0 for ReLU, 1 for a uint8 region
code, 4 for a float32 copy of the input.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from actsearch.activations import build_activation, kernels
from actsearch.activations import reference as ref

FAMILY = {  # name: (config, naive seed code)
    "r_relu": ({"name": "r_relu"}, lambda x: ref.r_relu(x)),
    "sr_relu": ({"name": "sr_relu"}, lambda x: ref.sr_relu(x)),
    "n_relu": ({"name": "n_relu"}, lambda x: ref.n_relu(x)),
    "crrelu": ({"name": "crrelu"}, None),  # naive built below: its eps is a learnable tensor
    "bounded_negative": (
        {"name": "bounded_negative", "shape": "cubic", "sigma": 0.05, "eps": 0.01},
        lambda x: ref.sr_relu(x, 0.5, 1.0) + 0.01 * x * torch.exp(-(x**2) / 2)
        + torch.where(x <= 0, 0.05 * torch.randn_like(x), 0.0),
    ),
}
BASELINES = ["gelu", "silu", "mish", "elu", "leaky_relu", "squareplus"]


def saved_bytes_per_element(fn: Callable, x: torch.Tensor) -> float:
    """Bytes autograd saves for backward beyond x and the output, per element of x."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(x)
    for t in (x, y):
        seen.pop(t.untyped_storage().data_ptr(), None)
    small = [n for n in seen.values() if n >= x.numel() // 8]  # ignore scalar parameters
    return sum(small) / x.numel()


def run(shape: tuple[int, ...], threads: int, rounds: int, compiled: bool) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(*shape)
    grad = torch.randn(*shape)

    candidates: dict[str, Callable] = {"relu": F.relu, "gelu": F.gelu}
    naive: dict[str, str] = {}
    for name, (config, naive_fn) in FAMILY.items():
        candidates[name] = build_activation(config).train()
        if name == "crrelu":
            eps = torch.tensor(0.01, requires_grad=True)
            naive_fn = lambda t, eps=eps: ref.crrelu(t, eps)  # noqa: E731
        candidates[f"{name} (naive)"] = naive_fn
        naive[name] = f"{name} (naive)"
    for name in BASELINES[1:]:
        candidates[name] = build_activation(name)

    xg = x.clone().requires_grad_()

    def forward(fn):
        with torch.no_grad():
            fn(x)

    def forward_backward(fn):
        xg.grad = None
        fn(xg).backward(grad)

    kernels.set_compile(compiled)
    t0 = time.perf_counter()
    for fn in candidates.values():  # warm-up (and compilation, when on)
        forward(fn)
        forward_backward(fn)
    warmup = time.perf_counter() - t0

    times = {name: {"f": [], "fb": []} for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            for kind, step in (("f", forward), ("fb", forward_backward)):
                start = time.perf_counter()
                step(fn)
                times[name][kind].append(time.perf_counter() - start)
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in times.items()}

    mode = "compiled (torch.compile)" if compiled else "eager"
    print(f"\n## {mode}: input {tuple(shape)} float32, {threads} threads, median of {rounds} rounds"
          f" (warm-up {warmup:.1f} s)\n")
    print("| activation | fwd ms | fwd / relu | fwd+bwd ms | fwd+bwd / relu | fwd+bwd / gelu "
          "| fwd+bwd / naive | naive / fused | saved B/el |")
    print("|---|---|---|---|---|---|---|---|---|")
    relu, gelu = med["relu"], med["gelu"]
    for name, fn in candidates.items():
        if name.endswith("(naive)"):
            continue
        m = med[name]
        if name in naive:
            nv = med[naive[name]]["fb"]
            vs_naive, speedup = f"{m['fb'] / nv:.2f}", f"{nv / m['fb']:.1f}x"
        else:
            vs_naive = speedup = "-"
        print(
            f"| {name} | {m['f'] * 1e3:.1f} | {m['f'] / relu['f']:.2f} | {m['fb'] * 1e3:.1f} "
            f"| {m['fb'] / relu['fb']:.2f} | {m['fb'] / gelu['fb']:.2f} | {vs_naive} | {speedup} "
            f"| {saved_bytes_per_element(fn, xg):.0f} |"
        )
    print("\nnaive seed code, fwd+bwd / relu: " + ", ".join(
        f"{n} {med[v]['fb'] / relu['fb']:.1f}x" for n, v in naive.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[128, 64, 32, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--mode", choices=["eager", "compiled", "both"], default="both")
    args = parser.parse_args()
    for compiled in {"eager": [False], "compiled": [True], "both": [False, True]}[args.mode]:
        run(tuple(args.shape), args.threads, args.rounds, compiled)


if __name__ == "__main__":
    main()
