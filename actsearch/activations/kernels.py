"""Forward/backward kernels for the bounded-negative family.

One closed-form forward and backward serves every member (ReLU base, R-ReLU, SR-ReLU, N-ReLU
noise, CRReLU correction and any mix of them), following timm's ``activations_me`` pattern:
the backward saves the least it needs. Each has two bodies with the same math:

* compiled: the bodies go through ``torch.compile`` (Inductor), which fuses each into one loop
  over memory. Piecewise-linear members without the correction term (ReLU base, R-ReLU,
  N-ReLU) then save a region code of one byte per element (0: x < -T, 1: -T <= x < 0,
  2: x >= 0; four elements to an int32 word, see ``forward``), not the float input; the cubic
  base and the correction term save x (as GELU does). A module
  picks this body per call (``BoundedNegative.set_compile``): always, never, or by default once
  a call is at least ``COMPILE_MIN_ELEMENTS`` large, where a few seconds of warm-up per variant
  (less with Inductor's on-disk cache in a second process) pay for themselves.
* eager: no warm-up. It saves x and uses only vectorized float ops: on CPU, anything touching
  bool tensors (``where``, comparisons, masks) runs 5-30x slower per element than ``relu`` or
  ``clamp``, so region tests are ``threshold`` / ``threshold_backward`` at the float just below
  -T or 0, which is exactly ``x >= -T`` / ``x >= 0``.

Three entry points share those bodies (``bounded_negative`` picks one):

* a plain ``autograd.Function`` for eager calls: the least Python overhead per call;
* the custom operators ``actsearch::bounded_negative`` / ``..._backward`` (registered fake and
  autograd formula) while Dynamo traces a user's ``torch.compile(model)``: the op is opaque to
  Dynamo, so the user's graph has no break, and at run time it calls the fused kernel;
* plain ATen ops (``torch.where``) under ``torch.export`` and ``torch.jit.trace``, so an
  exported model needs neither actsearch nor its operators to run.
"""

from __future__ import annotations

import functools
import math
import types
from typing import Callable

import torch
import torch.nn.functional as F

SHAPES = ("zero", "linear", "cubic")
ZERO, LINEAR, CUBIC = range(3)

# Index of each scalar in the ``params`` tensor handed to the kernels. Passing the scalars as a
# tensor, not Python floats, keeps one compiled kernel valid for every alpha/T/eta a search tries.
P_ALPHA, P_T, P_C2, P_C3 = range(4)

# Auto mode compiles a call this large: 2^18 elements is a (256, 1024) MLP activation or a
# (16, 16, 32, 32) feature map. Below it, a call takes well under a millisecond eagerly and the
# compiled wrapper's fixed ~0.1 ms per call would eat most of the gain.
COMPILE_MIN_ELEMENTS = 1 << 18

_kernel_cache: dict[tuple, tuple[Callable, Callable]] = {}

# Inductor builds its C++ with -ffp-contract=off, so every a * b + c is two dependent
# instructions and two roundings; the family's polynomials (the noise's log and cosine, the
# cubic) are chains of them. Contracting them into FMAs took 13% off the noise's time.
# An option of these compiled functions only: a user's own torch.compile keeps its settings.
_INDUCTOR_OPTIONS = {"cpp.enable_floating_point_contract_flag": "fast"}

# The correction term eps * x * exp(-x^2 / 2) reads x clamped to +-40, where exp already gives
# exactly 0 even in float64: same values, but x * x, eps * x or g * x can no longer reach inf
# and turn a 0 into NaN for inputs near the float32 limit. (The compiled float32 body bounds x
# its own way, in ``_gauss``.)
_EPS_X = 40.0


def wants_compile(mode: bool | None, x: torch.Tensor) -> bool:
    """Whether a call on ``x`` runs the compiled body under a module's compile mode."""
    if mode is None:
        return x.numel() >= COMPILE_MIN_ELEMENTS
    return mode


def set_compile(model: torch.nn.Module, enabled: bool | None) -> None:
    """Set the compile mode of every actsearch family activation inside ``model`` (or ``model``).

    ``True``: always run the fused compiled kernels; ``False``: always eager (no warm-up);
    ``None``: the default, compile once a call reaches ``COMPILE_MIN_ELEMENTS``. Per module,
    so one model's setting never changes another's.
    """
    if isinstance(enabled, torch.nn.Module) or not isinstance(model, torch.nn.Module):
        raise TypeError("set_compile(model, enabled): pass the model whose activations to set, then "
                        "True, False or None; the process-wide set_compile(enabled) is gone")
    from actsearch.activations.family import BoundedNegative  # family imports this module

    for module in model.modules():
        if isinstance(module, BoundedNegative):
            module.set_compile(enabled)


# --- the counter-based normal generator --------------------------------------------------------


def _lowbias32(h: torch.Tensor) -> torch.Tensor:
    """Chris Wellons' lowbias32 hash on int32 lanes (a bijection of 32-bit words).

    int32, not int64: AVX2 has a native 32-bit multiply and none for 64 bits. ``*`` wraps
    modulo 2^32 as the hash wants; ``>>`` sign-extends, so the shifted-in bits are masked off.
    """
    h = h ^ ((h >> 16) & 0xFFFF)
    h = h * 0x21F0AAAD
    h = h ^ ((h >> 15) & 0x1FFFF)
    h = h * 0x735A2D97
    return h ^ ((h >> 15) & 0x1FFFF)


# The normal transform: h's 32 bits as three uniforms, one of 12 bits and two of 10 (scaled by 4
# onto the same 1/4096 grid), summed (Irwin-Hall, n = 3: a bell with variance 2048^2 in these
# units, atoms 1/2048 of a standard deviation apart, the centre a half-integer, so never 0),
# then mapped through an odd polynomial fitted to the exact quantile map Phi^-1(F(s)) by least
# squares under the sum's own distribution. The fit's error in z is 1.0e-3 rms; the mapped
# distribution is 2.8e-4 from N(0, 1) in Kolmogorov-Smirnov distance (the test's 1% limit on
# 10^6 draws is 1.6e-3), variance 1 - 1e-6, kurtosis 2.9998, |z| <= 4.74 (P(|N(0,1)| > 4.74)
# is 2e-6). Computed exactly over all 12280 atoms, see the test. Against Box-Muller it saves a
# log, a square root, a cosine and the float-to-int bit view Inductor's CPU code takes through
# memory. In one thread on data in cache, the noise's cost over ReLU's forward fell from 1.9 to
# 1.1-1.3 ns per element (0.3 for ReLU itself).
_SUM_CENTRE, _SUM_SCALE = 6139.5, 1.0 / 2048
_QUANTILE = (0.9370450898648468, 0.05160259635349051, -0.03002943414812801, 0.009792678118111643,
             -0.0013534452586913687, 7.380570686376514e-05)


# exp(r) on [-ln 2 / 2, ln 2 / 2], degree 5, least squares on Chebyshev nodes, relative error
# 7.7e-8; with the range reduction in ``_gauss``, exp(-v) in float32 is within 2.2e-7 (4 ulp)
# of the exact value for v in [0, 21.1] (|x| < 6.5), degree 6 (error 1.9e-9) within 8.7e-8 at
# 15% more of the forward's arithmetic. Either way, v = x^2 / 2 rounded to float32 moves
# exp(-v) by up to 1e-6 near |x| = 6.5. Sleef's exp, which Inductor calls, is within 1 ulp at
# 3x the cost. Beyond, ``_gauss`` gives exactly 0, where the exact correction term
# |x| exp(-x^2 / 2) is below 4.3e-9.
_EXP = (1.0000000710296995, 0.9999996661619811, 0.4999889907580325, 0.16667662837726444,
        0.041915028541615565, 0.008291716684955621)
_LN2_HI, _LN2_LO = 0.693145751953125, 1.428606765330187e-06  # ln 2 = HI + LO, HI exact in 12 bits
# The correction term's 2^-k is (2^30 >> k) * 2^-30, with 2^-30 in the coefficients (exact, a
# power of 2). v = x^2 / 2 stops at 21.5, where k = 31 and the shift gives 0.
_EXP_SHIFTED = tuple(c * 2.0**-30 for c in _EXP)
_SHIFT_ONE, _V_MAX = 1 << 30, 21.5


@torch._dynamo.assume_constant_result
def _fixed(name: str):
    """A module constant as a literal of the compiled code.

    Under ``dynamic=True`` Dynamo turns a Python float read from a global into a float64 graph
    input, which the generated loop loads and converts to float32 on every iteration: three
    instructions per coefficient per 8 elements, a sixth of the noise's time. Through this
    function Dynamo bakes the value in.
    """
    return {"eps_x": _EPS_X, "sum_scale": _SUM_SCALE,
            "sum_offset": _SUM_CENTRE * _SUM_SCALE, "quantile": _QUANTILE, "exp": _EXP_SHIFTED,
            "shift_one": _SHIFT_ONE, "v_max": _V_MAX,
            "log2e": 1.0 / math.log(2.0), "ln2_hi": _LN2_HI, "ln2_lo": _LN2_LO}[name]


def _horner(t: torch.Tensor, coefficients: tuple[float, ...]) -> torch.Tensor:
    acc = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = acc * t + c
    return acc


def hash_normal(like: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Standard normal float32 noise shaped like ``like``, from an int32 ``key`` (start, step).

    A counter-based generator the compiled kernels fuse: one 32-bit hash per element, of
    ``index * step + start`` with the step made odd (two keys step through the counters
    differently, so never give shifted copies of one stream, as ``index + start`` would),
    turned into a normal by the sum-of-uniforms transform above (the test checks mean,
    variance, kurtosis and a Kolmogorov-Smirnov distance on 10^6 draws). Inductor's own
    ``randn`` is scalar Philox on CPU (~25x ReLU's time) and ATen's ``randn_like`` a serial
    Mersenne Twister (~6x).
    """
    return normal_from(counters(like.numel(), key, like.device)).view(like.shape)


def counters(n: int, key: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``index * step + start`` for indices 0..n-1, int32 (wrapping as the hash wants).

    Element ``i + m`` of a larger tensor has counter ``counters(n)[i] + m * step``: a block
    of it adds one scalar rather than building its own index vector and multiplying again
    (in Inductor's loop, an index vector is a dozen instructions per 8 elements).
    """
    return torch.arange(n, device=device).to(torch.int32) * counter_step(key) + key[0]


def counter_step(key: torch.Tensor) -> torch.Tensor:
    """The key's step, made odd: an odd step visits every 32-bit counter before repeating."""
    return key[1] | 1


def normal_from(counter: torch.Tensor) -> torch.Tensor:
    """A standard normal per int32 counter: its hash's bits through the quantile map."""
    h = _lowbias32(counter)
    # Bits 0-11, 12-21 and 22-31; masks after >> because it sign-extends.
    return sum_to_normal((h & 0xFFF) + ((h >> 10) & 0xFFC) + ((h >> 20) & 0xFFC))


def sum_to_normal(total: torch.Tensor) -> torch.Tensor:
    """The quantile map from the three uniforms' integer sum (0 to 12279) to a normal z."""
    s = total.to(torch.float32) * _fixed("sum_scale") - _fixed("sum_offset")
    return s * _horner(s * s, _fixed("quantile"))


def _gauss(x: torch.Tensor, half: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(x bounded, exp(-x^2 / 2) of it) for the correction term, in the compiled bodies.

    float32 takes a range-reduced polynomial exp: exp(r) on [-ln 2 / 2, ln 2 / 2] times 2^-k,
    exactly 0 beyond |x| = 6.5 (x is 0 there too). Sleef's exp, which Inductor emits, cost
    CRReLU about two thirds of its time over ReLU's. float64 (gradcheck) keeps torch.exp, and
    so do the half types (``half``: x is their float32 upcast): Inductor's loop then holds
    float32 in pairs of vectors, whose float-int conversions it runs one element at a time
    through memory, while Sleef's exp takes the pair whole (CRReLU's bfloat16 fwd+bwd at
    (128, 64, 32, 32) went from 21 to 15 ms).
    """
    if x.dtype != torch.float32 or half:
        xe = x.clamp(-_fixed("eps_x"), _fixed("eps_x"))
        return xe, torch.exp(-0.5 * xe * xe)
    v = 0.5 * x * x
    # A compare and two selects, not clamps: Inductor's CPU min and max take three instructions
    # each, to pass NaN on. x is zeroed where the term is 0, so an infinite x gives no inf * 0.
    inside = v < _fixed("v_max")
    xe, v = torch.where(inside, x, 0.0), torch.where(inside, v, _fixed("v_max"))
    k = torch.floor(v * _fixed("log2e") + 0.5)  # exp(-v) = exp(r) 2^-k, r = k ln 2 - v
    r = (k * _fixed("ln2_hi") - v) + k * _fixed("ln2_lo")  # in [-ln 2 / 2, ln 2 / 2]
    # 2^-k by a shift and an int-to-float conversion, both whole-vector instructions; writing
    # the exponent bits and viewing them as a float (the usual way) is a bit view, which
    # Inductor's CPU code runs one element at a time through memory: a third of the
    # forward's arithmetic over ReLU's.
    two_k = (_fixed("shift_one") >> k.to(torch.int32)).to(torch.float32)
    return xe, _horner(r, _fixed("exp")) * two_k


def _new_key(device: torch.device) -> torch.Tensor:
    """A fresh (start, step) from torch's generator, so ``torch.manual_seed`` fixes compiled noise.

    Drawn here, not hashed from one word inside the kernel: Inductor's loop would redo that
    scalar hash for every 8 elements.
    """
    return torch.randint(-(2**31), 2**31 - 1, (2,), dtype=torch.int32, device=device)


# --- compiled bodies ---------------------------------------------------------------------------


def _make_kernels(shape: int, use_eps: bool, use_noise: bool, save_x: bool, eps_grad: bool):
    """Build the bodies ``torch.compile`` fuses, for one combination of static flags."""

    def values(xc, p, eps, sigma, counter, half):
        """f on a block of x (in float32 for the half types), with its region masks."""
        T = p[P_T]
        pos = xc > 0 if shape == ZERO else xc >= 0
        mid = xc >= -T
        if shape == ZERO:
            y = torch.relu(xc)
        else:
            if shape == LINEAR:
                neg = p[P_ALPHA] * xc
            else:  # Horner form of x + c2 x^2 + c3 x^3
                neg = xc * (1.0 + xc * (p[P_C2] + p[P_C3] * xc))
            y = torch.where(pos, xc, torch.where(mid, neg, 0.0))
        if use_eps:
            xe, gauss = _gauss(xc, half)
            y = y + eps.to(xc.dtype) * (xe * gauss)
        if use_noise:
            noise = normal_from(counter).to(xc.dtype)
            y = y + torch.where(xc <= 0, sigma.to(xc.dtype) * noise, 0.0)
        return y, pos, mid

    def forward(x, p, eps, sigma, key):
        # Half types compute in float32 (the casts fuse into the loop); scalars like 1/T^2
        # stay exact and nothing overflows float16's range.
        half = x.dtype in (torch.float16, torch.bfloat16)
        p = p.to(torch.float32 if half else x.dtype)
        if save_x and not (use_noise and x.numel() % 4 == 0):
            counter = counters(x.numel(), key, x.device).view(x.shape) if use_noise else None
            y, _, _ = values(x.float() if half else x, p, eps, sigma, counter, half)
            return y.to(x.dtype), None
        # The region code packs four elements in an int32 word: element j + k * n in byte k of
        # word j, for the four quarters k of x. Each quarter is a block of its own here, so
        # the loop over j reads and writes four contiguous streams and stores the code in
        # whole vectors; a uint8 code per element, loaded eight at a time in a loop over
        # floats, goes through a stack buffer in Inductor's CPU code and made the backward
        # 3-4x slower than ReLU's in cache. The noise takes quarters even where x is saved:
        # one index vector (two dozen instructions per 8 elements in Inductor's loop) then
        # serves four blocks.
        quarters = x.reshape(4, -1)
        n = quarters.shape[1]
        counter = counters(n, key, x.device) if use_noise else None
        ys, code = [], None
        for k in range(4):
            xk = quarters[k].float() if half else quarters[k]
            ck = counter + counter_step(key) * (k * n) if use_noise and k else counter
            y, pos, mid = values(xk, p, eps, sigma, ck, half)
            ys.append(y.to(x.dtype))
            if not save_x:
                # pos implies mid (T >= 0), so the region is their sum as integers
                region = pos.to(torch.int32) * 2 if shape == ZERO else pos.to(torch.int32) + mid.to(torch.int32)
                code = region if k == 0 else code | (region << (8 * k))
        return torch.stack(ys).view(x.shape), code

    def backward_code(g, code, p):
        """Flat grad x (as four quarters) from the packed code; g may be 0-d (an expanded g)."""
        alpha = p[P_ALPHA].to(g.dtype)
        quarters = g.reshape(4, -1) if g.dim() else (g,) * 4
        out = []
        for k in range(4):
            region = (code >> (8 * k)) & 3
            gk = quarters[k]
            out.append(torch.where(region == 2, gk, torch.where(region == 1, alpha * gk, 0.0)))
        return torch.stack(out)

    def backward_x(g, x, p, eps):
        half = x.dtype in (torch.float16, torch.bfloat16)
        xc, gc = (x.float(), g.float()) if half else (x, g)
        p = p.to(xc.dtype)
        T = p[P_T]
        if shape == ZERO:
            d = torch.where(xc > 0, 1.0, 0.0)
        else:
            if shape == LINEAR:
                dneg = p[P_ALPHA]
            else:
                dneg = 1.0 + xc * (2.0 * p[P_C2] + 3.0 * p[P_C3] * xc)
            d = torch.where(xc >= 0, 1.0, torch.where(xc >= -T, dneg, 0.0))
        if not use_eps:
            return (gc * d).to(g.dtype), None
        xe, gauss = _gauss(xc, half)
        gx = gc * (d + eps.to(xc.dtype) * (gauss * (1.0 - xe * xe)))
        geps = (gc * (xe * gauss)).sum() if eps_grad else None
        return gx.to(g.dtype), geps

    return forward, (backward_x if save_x else backward_code)


def _own_code(fn: Callable, tag: str) -> Callable:
    """``fn`` with a code object of its own.

    Dynamo caches compiled graphs per code object and gives up after a few
    (``recompile_limit``, default 8) per object; every variant built by ``_make_kernels``
    would share one and silently fall back to eager after the eighth. A copy per variant
    avoids that without raising the process-wide limit.
    """
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def compiled_kernels(shape: int, use_eps: bool, use_noise: bool, save_x: bool, eps_grad: bool):
    """The compiled forward and backward for one variant, compiled once per process."""
    key = (shape, use_eps, use_noise, save_x, eps_grad)
    if key not in _kernel_cache:
        fwd, bwd = _make_kernels(*key)
        tag = "_".join(str(int(k)) for k in key)
        _kernel_cache[key] = (
            torch.compile(_own_code(fwd, tag), dynamic=True, options=_INDUCTOR_OPTIONS),
            torch.compile(_own_code(bwd, tag), dynamic=True, options=_INDUCTOR_OPTIONS),
        )
    return _kernel_cache[key]


def saves_code(shape: int, use_eps: bool, compiled: bool, numel: int) -> bool:
    """Whether the backward keeps the region code (1 byte per element) rather than x.

    The code packs four elements per int32 word, so x's size must divide by 4; any other
    size (rare: an odd batch times an odd width) keeps x.
    """
    return compiled and shape != CUBIC and not use_eps and numel % 4 == 0


# --- eager bodies ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _below(value: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` number below ``value``: ``x > _below(v)`` is exactly ``x >= v``."""
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32  # nextafter is not implemented for the half types
    v = torch.tensor(value, dtype=dtype)
    return torch.nextafter(v, torch.tensor(-math.inf, dtype=dtype)).item()


_threshold_backward = torch.ops.aten.threshold_backward  # g where x > t, else 0


def _eager_forward(x, scalars, eps, sigma, shape: int, use_eps: bool, use_noise: bool):
    alpha, T, c2, c3 = scalars
    y = torch.relu(x)
    if shape != ZERO:
        neg = F.threshold(x, _below(-T, x.dtype), 0.0).clamp_(max=0.0)  # x on [-T, 0), else 0
        if shape == LINEAR:
            y.add_(neg, alpha=alpha)
        else:  # neg * (1 + neg * (c2 + c3 * neg)), which is 0 where neg is
            y.add_(neg.mul(c3).add_(c2).mul_(neg).add_(1.0).mul_(neg))
    if use_eps:
        xe = x.clamp(-_EPS_X, _EPS_X)
        y = y + (xe * xe).mul_(-0.5).exp_().mul_(xe).mul_(eps)
    if use_noise:
        noise = torch.randn_like(x).mul_(sigma)
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
            n = x.clamp(-T, 0.0)  # not just max=0: p'(x) of a huge negative x overflows, and 0 * inf is NaN
            slope = n.mul(3.0 * c3).add_(2.0 * c2).mul_(n).add_(1.0)  # p'(x) on [-T, 0)
            gx = g_pos.add_(g_mid.mul_(slope))
    geps = None
    if use_eps:
        xe = x.clamp(-_EPS_X, _EPS_X)
        gauss = (xe * xe).mul_(-0.5).exp_()
        gx = gx + (xe * xe).neg_().add_(1.0).mul_(gauss).mul_(eps).mul_(g)
        if eps_grad:
            geps = (xe * gauss).mul_(g).sum()
    return gx, geps


# --- one forward and one backward behind every entry point --------------------------------------


def _forward_impl(x, params, eps, sigma, scalars, shape, use_eps, use_noise, compiled, eps_grad):
    """(y, code): code is the packed region code when ``saves_code``, else None (x is saved)."""
    if not compiled:
        e = eps.to(x.dtype) if use_eps else eps
        return _eager_forward(x, scalars, e, sigma.to(x.dtype), shape, use_eps, use_noise), None
    save_x = not saves_code(shape, use_eps, compiled, x.numel())
    fwd, _ = compiled_kernels(shape, use_eps, use_noise, save_x, eps_grad)
    key = _new_key(x.device) if use_noise else None
    # Detached, so requires_grad never differs between calls and forces a recompile.
    return fwd(x.detach(), params, eps.detach(), sigma, key)


def _backward_impl(g, saved, params, eps, scalars, shape, use_eps, eps_grad, compiled):
    """(grad x, grad eps or None) from what ``_forward_impl`` saved (the code or x)."""
    if not compiled:  # ATen's elementwise ops read any strides, an expanded g included
        e = eps.to(saved.dtype) if use_eps else eps
        return _eager_backward(g, saved, scalars, e, shape, use_eps, eps_grad)
    size = g.shape  # x's, also where g is one value expanded
    if g.dim() and not any(g.stride()):
        # ``y.sum().backward()`` sends one value expanded to x's shape; as a 0-d tensor the
        # kernel broadcasts it instead of reading (or first copying) a full tensor.
        g = g.as_strided((), ())
    else:
        g = g.contiguous()
    save_x = not saves_code(shape, use_eps, compiled, size.numel())
    _, bwd = compiled_kernels(shape, use_eps, False, save_x, eps_grad)
    if save_x:
        return bwd(g, saved, params, eps.detach())
    return bwd(g, saved, params).view(size), None


class BoundedNegativeFunction(torch.autograd.Function):
    """f(x) = base(x) + eps * x * exp(-x^2 / 2) + [x <= 0] * N(0, sigma^2), closed-form backward.

    ``params`` holds (alpha, T, c2, c3) of the base as a tensor (compiled bodies) and
    ``scalars`` the same as Python floats (eager bodies, which need T as a threshold);
    ``eps`` and ``sigma`` are 0-d tensors (``eps`` may be a learnable parameter). The noise
    has no gradient with respect to x, as in the N-ReLU seed's ``torch.where(x > 0, x, noise)``.
    """

    @staticmethod
    def forward(ctx, x, params, eps, sigma, shape: int, use_eps: bool, use_noise: bool, scalars: tuple,
                compiled: bool):
        eps_grad = use_eps and eps.requires_grad
        ctx.args = (scalars, shape, use_eps, eps_grad, compiled)
        ctx.eps_dtype = eps.dtype
        y, code = _forward_impl(x, params, eps, sigma, scalars, shape, use_eps, use_noise, compiled, eps_grad)
        ctx.save_for_backward(x if code is None else code, params, eps)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        saved, params, eps = ctx.saved_tensors
        gx, geps = _backward_impl(g, saved, params, eps, *ctx.args)
        if geps is not None:
            geps = geps.to(ctx.eps_dtype)
        return gx, None, geps, None, None, None, None, None, None


# --- the custom operators a user's torch.compile sees ----------------------------------------


@torch.library.custom_op("actsearch::bounded_negative", mutates_args=())
def bounded_negative_op(x: torch.Tensor, params: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor,
                        scalars: list[float], shape: int, use_eps: bool, use_noise: bool, compiled: bool,
                        eps_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, region code); the code is empty where the backward keeps x instead."""
    y, code = _forward_impl(x, params, eps, sigma, tuple(scalars), shape, use_eps, use_noise, compiled,
                            eps_grad)
    if code is None:
        code = torch.empty(0, dtype=torch.int32, device=x.device)
    return y, code


@bounded_negative_op.register_fake
def _(x, params, eps, sigma, scalars, shape, use_eps, use_noise, compiled, eps_grad):
    code_size = x.numel() // 4 if saves_code(shape, use_eps, compiled, x.numel()) else 0
    return torch.empty_like(x), x.new_empty((code_size,), dtype=torch.int32)


@torch.library.custom_op("actsearch::bounded_negative_backward", mutates_args=())
def bounded_negative_backward_op(g: torch.Tensor, saved: torch.Tensor, params: torch.Tensor, eps: torch.Tensor,
                                 scalars: list[float], shape: int, use_eps: bool, eps_grad: bool,
                                 compiled: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad x, grad eps); grad eps is 0 unless ``eps_grad``."""
    gx, geps = _backward_impl(g, saved, params, eps, tuple(scalars), shape, use_eps, eps_grad, compiled)
    geps = eps.new_zeros(()) if geps is None else geps.to(eps.dtype)
    return gx, geps


@bounded_negative_backward_op.register_fake
def _(g, saved, params, eps, scalars, shape, use_eps, eps_grad, compiled):
    return torch.empty_like(g), eps.new_empty(())


def _setup_context(ctx, inputs, output):
    x, params, eps, sigma, scalars, shape, use_eps, use_noise, compiled, eps_grad = inputs
    code = output[1]
    ctx.args = (scalars, shape, use_eps, eps_grad, compiled)
    ctx.save_for_backward(code if saves_code(shape, use_eps, compiled, x.numel()) else x, params, eps)


def _op_backward(ctx, g, _g_code):
    saved, params, eps = ctx.saved_tensors
    scalars, shape, use_eps, eps_grad, compiled = ctx.args
    gx, geps = bounded_negative_backward_op(g, saved, params, eps, scalars, shape, use_eps, eps_grad, compiled)
    return gx, None, geps if eps_grad else None, None, None, None, None, None, None, None


bounded_negative_op.register_autograd(_op_backward, setup_context=_setup_context)


# --- plain ATen ops for export and tracing --------------------------------------------------------


def _composite(x, scalars, eps, sigma, shape: int, use_eps: bool, use_noise: bool):
    """The same function in plain ``torch.where`` ops, which every exporter understands."""
    alpha, T, c2, c3 = scalars
    if shape == ZERO:
        y = torch.relu(x)
    else:
        neg = alpha * x if shape == LINEAR else x * (1.0 + x * (c2 + c3 * x))
        y = torch.where(x >= 0, x, torch.where(x >= -T, neg, torch.zeros_like(x)))
    if use_eps:
        xe = x.clamp(-_EPS_X, _EPS_X)
        y = y + eps.to(x.dtype) * (xe * torch.exp(-0.5 * xe * xe))
    if use_noise:
        y = y + torch.where(x <= 0, sigma.to(x.dtype) * torch.randn_like(x), torch.zeros_like(x))
    return y


def bounded_negative(
    x: torch.Tensor,
    params: torch.Tensor,
    eps: torch.Tensor,
    sigma: torch.Tensor,
    shape: int,
    use_eps: bool,
    use_noise: bool,
    scalars: tuple[float, float, float, float],
    compiled: bool,
) -> torch.Tensor:
    """The family's function on ``x``, through the entry point that suits the caller."""
    if torch.jit.is_tracing() or torch.compiler.is_exporting():
        return _composite(x, scalars, eps, sigma, shape, use_eps, use_noise)
    if torch.compiler.is_compiling():
        eps_grad = use_eps and eps.requires_grad
        return bounded_negative_op(x, params, eps, sigma, list(scalars), shape, use_eps, use_noise, compiled,
                                   eps_grad)[0]
    return BoundedNegativeFunction.apply(x, params, eps, sigma, shape, use_eps, use_noise, scalars, compiled)
