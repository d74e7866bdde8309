"""Forward/backward kernels for the bounded-negative family.

One custom autograd Function serves every member (ReLU base, R-ReLU, SR-ReLU, N-ReLU noise,
CRReLU correction and any mix of them), following timm's ``activations_me`` pattern: a
closed-form backward that saves the least it needs. It has two bodies with the same math:

* compiled (``set_compile(True)``, the trainer's ``--compile``): the bodies go through
  ``torch.compile`` (Inductor), which fuses each into one loop over memory. Piecewise-linear
  members without the correction term (ReLU base, R-ReLU, N-ReLU) then save a 1-byte region
  code per element (0: x < -T, 1: -T <= x < 0, 2: x >= 0), not the float input; the cubic base
  and the correction term save x (as GELU does). Seconds of warm-up per variant, once.
* eager (the default): no warm-up. It saves x and uses only vectorized float ops: on CPU,
  anything touching bool tensors (``where``, comparisons, masks) runs 5-30x slower per element
  than ``relu`` or ``clamp``, so region tests are ``threshold`` / ``threshold_backward`` at
  the float just below -T or 0, which is exactly ``x >= -T`` / ``x >= 0``.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Callable

import torch
import torch.nn.functional as F

SHAPES = ("zero", "linear", "cubic")
ZERO, LINEAR, CUBIC = range(3)

# Index of each scalar in the ``params`` tensor handed to the kernels. Passing the scalars as a
# tensor, not Python floats, keeps one compiled kernel valid for every alpha/T/eta a search tries.
P_ALPHA, P_T, P_C2, P_C3 = range(4)

_compile_enabled = os.environ.get("ACTSEARCH_COMPILE", "0") not in ("", "0", "false", "no")
_kernel_cache: dict[tuple, tuple[Callable, Callable]] = {}


def set_compile(enabled: bool) -> None:
    """Run the family's kernels through ``torch.compile`` (fused, fast) or eagerly (no warm-up)."""
    global _compile_enabled
    _compile_enabled = bool(enabled)


_MASK32 = 0xFFFFFFFF


def _mix32(h):
    """Chris Wellons' two-round 32-bit integer hash (both multipliers < 2^31, so no int64 overflow)."""
    h = h ^ (h >> 16)
    h = (h * 0x21F0AAAD) & _MASK32
    h = h ^ (h >> 15)
    h = (h * 0x735A2D97) & _MASK32
    return h ^ (h >> 15)


def hash_normal(like: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Standard normal noise shaped like ``like``: a counter-based RNG for compiled kernels.

    Inductor's in-kernel ``randn`` is scalar Philox on CPU (~25x ReLU's time here) and ATen's
    ``randn_like`` a serial Mersenne Twister (~6x). Hashing (element index, seed) into two
    24-bit uniforms and applying Box-Muller is plain vectorizable arithmetic. The index is
    hashed before the seed is added, so two calls never see shifted copies of one stream.
    """
    i = torch.arange(like.numel(), device=like.device).view(like.shape) * 2
    k = seed & _MASK32
    u1 = ((_mix32((_mix32(i) + k) & _MASK32) >> 8).to(like.dtype) + 0.5) * (1.0 / 16777216.0)
    u2 = (_mix32((_mix32(i + 1) + k) & _MASK32) >> 8).to(like.dtype) * (1.0 / 16777216.0)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(6.283185307179586 * u2)


def _make_kernels(shape: int, use_eps: bool, use_noise: bool, save_x: bool, eps_grad: bool):
    """Build the bodies ``torch.compile`` fuses, for one combination of static flags."""

    def forward(x, p, eps, sigma, seed):
        T = p[P_T]
        pos = x > 0 if shape == ZERO else x >= 0
        mid = x >= -T
        if shape == ZERO:
            y = torch.relu(x)
        else:
            if shape == LINEAR:
                neg = p[P_ALPHA] * x
            else:  # Horner form of x + c2 x^2 + c3 x^3
                neg = x * (1.0 + x * (p[P_C2] + p[P_C3] * x))
            y = torch.where(pos, x, torch.where(mid, neg, 0.0))
        if use_eps:
            y = y + eps * x * torch.exp(-0.5 * x * x)
        if use_noise:
            y = y + torch.where(x <= 0, sigma * hash_normal(x, seed), 0.0)
        if save_x:
            return y, None
        # Inductor vectorizes int constants plus one cast; a bool->uint8 cast it does not.
        code = torch.where(pos, 2, 0 if shape == ZERO else torch.where(mid, 1, 0))
        return y, code.to(torch.uint8)

    def backward_code(g, code, p):
        code = code.to(torch.int32)  # Inductor compares int32 lanes 3x faster than uint8 ones
        return torch.where(code == 2, g, torch.where(code == 1, p[P_ALPHA] * g, 0.0))

    def backward_x(g, x, p, eps):
        T = p[P_T]
        if shape == ZERO:
            d = torch.where(x > 0, 1.0, 0.0)
        else:
            if shape == LINEAR:
                dneg = p[P_ALPHA]
            else:
                dneg = 1.0 + x * (2.0 * p[P_C2] + 3.0 * p[P_C3] * x)
            d = torch.where(x >= 0, 1.0, torch.where(x >= -T, dneg, 0.0))
        if not use_eps:
            return g * d, None
        gauss = torch.exp(-0.5 * x * x)
        gx = g * (d + eps * gauss * (1.0 - x * x))
        geps = (g * x * gauss).sum() if eps_grad else None
        return gx, geps

    return forward, (backward_x if save_x else backward_code)


def compiled_kernels(shape: int, use_eps: bool, use_noise: bool, save_x: bool, eps_grad: bool):
    """The compiled forward and backward for one variant, compiled once per process."""
    key = (shape, use_eps, use_noise, save_x, eps_grad)
    if key not in _kernel_cache:
        fwd, bwd = _make_kernels(*key)
        # Every variant shares one code object, and Dynamo counts recompiles per code object:
        # the default limit of 8 would silently send later variants back to eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
        _kernel_cache[key] = (torch.compile(fwd, dynamic=True), torch.compile(bwd, dynamic=True))
    return _kernel_cache[key]


@functools.lru_cache(maxsize=256)
def _below(value: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` number below ``value``: ``x > _below(v)`` is exactly ``x >= v``."""
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32  # nextafter is not implemented for the half types
    v = torch.tensor(value, dtype=dtype)
    return torch.nextafter(v, torch.tensor(-math.inf, dtype=dtype)).item()


_threshold_backward = torch.ops.aten.threshold_backward  # g where x > t, else 0


def _eager_forward(x, scalars, eps, sigma_t: float, shape: int, use_eps: bool, use_noise: bool):
    alpha, T, c2, c3 = scalars
    y = torch.relu(x)
    if shape != ZERO:
        neg = F.threshold(x, _below(-T, x.dtype), 0.0).clamp_(max=0.0)  # x on [-T, 0), else 0
        if shape == LINEAR:
            y.add_(neg, alpha=alpha)
        else:  # neg * (1 + neg * (c2 + c3 * neg)), which is 0 where neg is
            y.add_(neg.mul(c3).add_(c2).mul_(neg).add_(1.0).mul_(neg))
    if use_eps:
        y = y + eps * x * (x * x).mul_(-0.5).exp_()
    if use_noise:
        noise = torch.randn_like(x).mul_(sigma_t)
        y.add_(noise.sub_(_threshold_backward(noise, x, 0.0)))  # the noise where x <= 0
    return y


def _eager_backward(g, x, scalars, eps, shape: int, use_eps: bool, eps_grad: bool):
    alpha, T, c2, c3 = scalars
    if shape == ZERO:
        gx = _threshold_backward(g, x, 0.0)
    else:
        g_pos = _threshold_backward(g, x, _below(0.0, x.dtype))  # g where x >= 0
        g_in = _threshold_backward(g, x, _below(-T, x.dtype))  # g where x >= -T
        g_mid = g_in.sub_(g_pos)  # g where -T <= x < 0
        if shape == LINEAR:
            gx = g_pos.add_(g_mid, alpha=alpha)
        else:
            n = x.clamp(max=0.0)
            slope = n.mul(3.0 * c3).add_(2.0 * c2).mul_(n).add_(1.0)  # p'(x) on [-T, 0)
            gx = g_pos.add_(g_mid.mul_(slope))
    geps = None
    if use_eps:
        gauss = (x * x).mul_(-0.5).exp_()
        gx = gx + (x * x).neg_().add_(1.0).mul_(gauss).mul_(g) * eps
        if eps_grad:
            geps = (g * x * gauss).sum()
    return gx, geps


class BoundedNegativeFunction(torch.autograd.Function):
    """f(x) = base(x) + eps * x * exp(-x^2 / 2) + [x <= 0] * N(0, sigma^2), closed-form backward.

    ``params`` holds (alpha, T, c2, c3) of the base as a tensor (compiled bodies) and
    ``scalars`` the same as Python floats plus the current sigma (eager bodies); ``eps`` and
    ``sigma`` are 0-d tensors (``eps`` may be a learnable parameter). The noise
    has no gradient with respect to x, as in the N-ReLU seed's ``torch.where(x > 0, x, noise)``.
    """

    @staticmethod
    def forward(ctx, x, params, eps, sigma, shape: int, use_eps: bool, use_noise: bool, scalars: tuple):
        eps_grad = use_eps and eps.requires_grad
        ctx.shape, ctx.use_eps, ctx.eps_grad, ctx.eps_dtype = shape, use_eps, eps_grad, eps.dtype
        ctx.compiled = _compile_enabled
        if not _compile_enabled:
            e = eps.to(x.dtype) if use_eps else eps
            ctx.scalars = scalars
            ctx.save_for_backward(x, e)
            # scalars[4] is the module's current sigma as a float: no device sync to read it.
            return _eager_forward(x, scalars[:4], e, scalars[4], shape, use_eps, use_noise)
        p = params.to(x.dtype)
        e = eps.to(x.dtype)
        save_x = shape == CUBIC or use_eps
        fwd, bwd = compiled_kernels(shape, use_eps, use_noise, save_x, eps_grad)
        # A fresh seed from torch's generator per call keeps compiled noise seed-reproducible.
        seed = torch.randint(0, 2**31, (), device=x.device) if use_noise else None
        # Detached, so requires_grad never differs between calls and forces a recompile.
        y, code = fwd(x.detach(), p, e, sigma.to(x.dtype), seed)
        ctx.save_for_backward(x if save_x else code, e, p)
        ctx.bwd, ctx.save_x = bwd, save_x
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        g = g.contiguous()
        if not ctx.compiled:
            x, e = ctx.saved_tensors
            gx, geps = _eager_backward(g, x, ctx.scalars[:4], e, ctx.shape, ctx.use_eps, ctx.eps_grad)
        else:
            saved, e, p = ctx.saved_tensors
            if ctx.save_x:
                gx, geps = ctx.bwd(g, saved, p, e)
            else:
                gx, geps = ctx.bwd(g, saved, p), None
        if geps is not None:
            geps = geps.to(ctx.eps_dtype)
        return gx, None, geps, None, None, None, None, None


def bounded_negative(
    x: torch.Tensor,
    params: torch.Tensor,
    eps: torch.Tensor,
    sigma: torch.Tensor,
    shape: int,
    use_eps: bool,
    use_noise: bool,
    scalars: tuple[float, float, float, float, float],
) -> torch.Tensor:
    return BoundedNegativeFunction.apply(x, params, eps, sigma, shape, use_eps, use_noise, scalars)
