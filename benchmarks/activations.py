"""Speed and memory of the family's activations as users meet them, as ratios to F.relu and F.gelu.

Each process times every candidate interleaved (round-robin, the order rotating each round) and
takes the median of the rounds; ratios are formed inside one process, so a busy machine slows
numerator and denominator alike. The run repeats that in several fresh processes (each pays its
own warm-up; Inductor's on-disk cache makes the later ones cheap) and prints each ratio as the
range over processes: a target is met only when the whole range is on the right side of it.

    python benchmarks/activations.py                     # every case, 3 processes x 15 rounds
    python benchmarks/activations.py --cases main        # (128, 64, 32, 32) float32 only
    python benchmarks/activations.py --processes 3 --rounds 5 --threads 2

15 rounds by default: with 5 (the least the benchmark accepts) the range over processes came
out 2-3x wider on an idle machine (crrelu 1.07-1.41 against 1.24-1.39 with 15).

Cases: ``main`` (128, 64, 32, 32), dense and expanded gradient, float32 and bfloat16; one
activation shape per proxy model at batch 128 and width 1 (MLP, CNN, ResNet, ViT), float32,
dense gradient. "dense" is ``y.backward(g)`` with a full random g, "expanded" is
``y.sum().backward()``, whose gradient is one value broadcast to the whole shape.

Family members run as ``build_activation`` / ``load_activation`` makes them (the default
compile mode: fused compiled kernels from ``COMPILE_MIN_ELEMENTS`` elements on, eager below);
"eager" rows force the eager bodies. "saved B/el" is what autograd keeps for backward beyond
the input and output tensors, per element: 0 for ReLU (it keeps its output), 1 for the region
code (a byte per element, four to an int32 word), 4 for a float32 copy of the input. The input is usually not kept by anyone else
(Linear and Conv keep their own input, the activation's output), so 4 is a real cost.

The main float32 case also prints ReLU's forward into a fresh output against one reused buffer:
at 32 MB a tensor's pages are mapped fresh on every call, and touching them the first time
(page faults: CPU work, not waiting) is most of ReLU's time there; every candidate pays it alike,
so it dilutes the ratios at that shape, and each candidate's extra arithmetic adds to it in full.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F

from actsearch.activations import build_activation

FAMILY = {
    "r_relu": {"name": "r_relu"},
    "sr_relu": {"name": "sr_relu"},
    "crrelu": {"name": "crrelu"},
    "n_relu": {"name": "n_relu"},
    "bounded_negative": {"name": "bounded_negative", "shape": "cubic", "sigma": 0.05, "eps": 0.01},
}
MAIN = (128, 64, 32, 32)
# (case, shape, dtype, gradient, with forward-only timings and forced-eager rows)
CASES = {
    "main": [("main f32 dense", MAIN, "float32", "dense", True),
             ("main f32 expanded", MAIN, "float32", "expanded", False),
             ("main bf16 dense", MAIN, "bfloat16", "dense", False),
             ("main bf16 expanded", MAIN, "bfloat16", "expanded", False)],
    "proxies": [("MLP (128, 256)", (128, 256), "float32", "dense", False),
                ("CNN (128, 32, 28, 28)", (128, 32, 28, 28), "float32", "dense", False),
                ("ResNet (128, 16, 32, 32)", (128, 16, 32, 32), "float32", "dense", False),
                ("ViT (128, 65, 256)", (128, 65, 256), "float32", "dense", False)],
}


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


def candidates(dtype: torch.dtype, eager_rows: bool) -> dict[str, Callable]:
    found: dict[str, Callable] = {"relu": F.relu, "gelu": F.gelu}
    for name, config in FAMILY.items():
        found[name] = build_activation(config).to(dtype).train()
    if eager_rows:
        for name, config in FAMILY.items():
            module = build_activation(config).to(dtype).train()
            module.set_compile(False)
            found[f"{name} (eager)"] = module
    return found


def measure_case(shape, dtype_name: str, gradient: str, with_forward: bool, rounds: int) -> dict:
    """Median seconds per candidate (fwd+bwd, and fwd alone when asked) and saved bytes."""
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=dtype)
    xg = x.clone().requires_grad_()
    grad = torch.randn(*shape, dtype=dtype)
    fns = candidates(dtype, eager_rows=with_forward)

    def forward(fn):
        with torch.no_grad():
            fn(x)

    def forward_backward(fn):
        xg.grad = None
        y = fn(xg)
        if gradient == "dense":
            y.backward(grad)
        else:
            y.sum().backward()

    steps = {"fb": forward_backward, **({"f": forward} if with_forward else {})}
    t0 = time.perf_counter()
    for fn in fns.values():  # warm-up: compilation, and the allocator's first page faults
        for step in steps.values():
            step(fn)
            step(fn)
    warmup = time.perf_counter() - t0
    times = {name: {k: [] for k in steps} for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            for kind, step in steps.items():
                start = time.perf_counter()
                step(fns[name])
                times[name][kind].append(time.perf_counter() - start)
    return {
        "warmup_s": warmup,
        "median_s": {n: {k: statistics.median(v) for k, v in d.items()} for n, d in times.items()},
        "saved": {n: saved_bytes_per_element(fn, xg) for n, fn in fns.items()},
        **({"relu_out_s": relu_output_cost(x, rounds)} if with_forward else {}),
    }


def relu_output_cost(x: torch.Tensor, rounds: int) -> dict[str, float]:
    """ReLU's forward into a fresh output (as every activation's call, and a user's model, gets)
    and into one reused buffer: the difference is the cost of first touching a fresh buffer's
    pages (glibc maps allocations of 32 MB and more anew each time), which every candidate pays
    alike and which dilutes every ratio to ReLU."""
    from trainer import side_by_side  # benchmarks/trainer.py, beside this script

    buf = torch.empty_like(x)
    return side_by_side({"fresh": lambda: torch.relu(x), "reused": lambda: torch.clamp_min(x, 0, out=buf)},
                        rounds)


def worker(args) -> None:
    torch.set_num_threads(args.threads)
    out = {}
    for group in args.cases:
        for label, shape, dtype, gradient, with_forward in CASES[group]:
            out[label] = measure_case(shape, dtype, gradient, with_forward, args.rounds)
    print(json.dumps(out))


def fmt_range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def report(runs: list[dict], args) -> None:
    print(f"# {len(runs)} processes x median of {args.rounds} interleaved rounds, {args.threads} threads, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs; ratios within one process, range over processes\n")
    for label in runs[0]:
        per_run = [run[label]["median_s"] for run in runs]
        names = list(per_run[0])
        has_f = "f" in per_run[0]["relu"]
        warm = ", ".join(f"{run[label]['warmup_s']:.0f}" for run in runs)
        print(f"\n## {label} (warm-up s per process: {warm})\n")
        head = "| activation | fwd+bwd / relu | fwd+bwd / gelu | fwd+bwd ms |"
        if has_f:
            head += " fwd / relu |"
        print(head + " saved B/el |")
        print("|---" * (head.count("|") - 1 + 1) + "|")
        for name in names:
            fb = [m[name]["fb"] / m["relu"]["fb"] for m in per_run]
            fg = [m[name]["fb"] / m["gelu"]["fb"] for m in per_run]
            ms = [m[name]["fb"] * 1e3 for m in per_run]
            row = f"| {name} | {fmt_range(fb)} | {fmt_range(fg)} | {statistics.median(ms):.1f} |"
            if has_f:
                row += f" {fmt_range([m[name]['f'] / m['relu']['f'] for m in per_run])} |"
            print(row + f" {runs[0][label]['saved'][name]:.0f} |")
        if "relu_out_s" in runs[0][label]:
            cost = [run[label]["relu_out_s"] for run in runs]
            print(f"\nReLU forward into a fresh output {fmt_range([c['fresh'] * 1e3 for c in cost])} ms, into a "
                  f"reused one {fmt_range([c['reused'] * 1e3 for c in cost])} ms: first-touch page faults are "
                  f"{fmt_range([100 * (1 - c['reused'] / c['fresh']) for c in cost])}% of its forward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 5 or args.processes < 1:
        parser.error("--rounds must be >= 5 (a median of fewer is noise) and --processes >= 1")
    if args.worker:
        worker(args)
        return
    runs = []
    for i in range(args.processes):
        cmd = [sys.executable, __file__, "--worker", "--threads", str(args.threads), "--rounds",
               str(args.rounds), "--cases", *args.cases]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"benchmark process {i + 1} failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"process {i + 1}/{args.processes} done", file=sys.stderr)
    report(runs, args)


if __name__ == "__main__":
    main()
