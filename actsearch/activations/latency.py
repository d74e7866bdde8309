"""Measured cost of an activation: its forward+backward time relative to ReLU's.

FLOPs say what an activation computes; this says what it costs on this machine, which is what
a user waits for. Both sides run in the same process, interleaved round by round, so a busy
machine slows both alike and the ratio stays put even when the milliseconds do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from actsearch.activations.registry import build_activation
from actsearch.errors import ConfigError

WARMUP_CALLS = 3  # the first calls compile (auto mode) and fault in the allocator's pages


def _check(shape: Any, rounds: Any, dtype: Any) -> tuple[int, ...]:
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ConfigError(f"latency: rounds = {rounds!r} must be an integer >= 1; 15 is a good default")
    if (not isinstance(shape, Sequence) or not shape
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ConfigError(f"latency: shape = {shape!r} must be a non-empty list of positive integers, "
                          "e.g. (128, 64, 32, 32)")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"latency: dtype = {dtype!r} must be a floating torch dtype, e.g. torch.float32")
    return tuple(shape)


def relative_latency(
    config: Mapping[str, Any] | str,
    shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    rounds: int = 15,
    device: str | torch.device = "cpu",
) -> float:
    """Forward+backward time of ``config``'s activation divided by ReLU's, at ``shape``.

    Training mode (noise on), a dense upstream gradient, the module as ``build_activation``
    makes it (so the compile mode a user gets by default). Warm-up calls are not timed; each
    round times both once, in alternating order, and the result is the median of the per-round
    ratios. Changes no global state: thread count, seeds and compile modes stay as they were.
    """
    shape = _check(shape, rounds, dtype)
    act = build_activation(config).to(device=device, dtype=dtype).train()
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape, generator=generator, device=device, dtype=dtype).requires_grad_()
    grad = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def step(fn) -> float:
        x.grad = None
        sync()
        start = time.perf_counter()
        fn(x).backward(grad)
        sync()
        return time.perf_counter() - start

    for _ in range(WARMUP_CALLS):
        step(F.relu)
        step(act)
    ratios = []
    for i in range(rounds):
        if i % 2:
            relu_s, act_s = step(F.relu), step(act)
        else:
            act_s, relu_s = step(act), step(F.relu)
        ratios.append(act_s / relu_s)
    return float(statistics.median(ratios))
