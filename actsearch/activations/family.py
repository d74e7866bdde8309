"""The bounded-negative family of the seed papers, each member a point of one unified module.

f(x) = base(x) + eps * x * exp(-x^2 / 2) + [x <= 0] * N(0, sigma_t^2)  (noise in training only)

base is ReLU (shape ``zero``), R-ReLU (``linear``) or SR-ReLU (``cubic``). The named seed
activations below are subclasses that fix the other knobs, so they share the same fused kernel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from actsearch.activations import kernels
from actsearch.activations.base import SCHEDULES, Activation, Param, _fmt, scheduled
from actsearch.activations.ops import GRAD_ACCUMULATE, NONE, OpCount

# Numerically safe ranges: no value in them overflows or divides by zero in float32, bfloat16
# or float16 (the kernels compute the half types in float32).
# - T >= 1e-3: the cubic's c2 = (1 + eta) / T <= 2e3 and c3 = eta / T^2 <= 1e6, while on
#   [-T, 0) each term of p(x) stays within T and p'(x) within [-1, 1]; T <= 1e9 keeps T^2
#   finite (a larger T behaves as 1e9: the region below -T is empty in practice).
# - sigma <= 10: 10 * the generator's largest |z| (4.74) is far from any overflow; a larger
#   noise swamps every activation the family was built for.
# - |eps| <= 10: |x exp(-x^2/2)| <= 0.61 and |(1 - x^2) exp(-x^2/2)| <= 1, so the correction
#   and its slope stay within 10.
T_RANGE = (1e-3, 1e9)
SIGMA_MAX = 10.0
EPS_MAX = 10.0

ALPHA = Param(0.5, float, 0.0, 1.0)
ETA = Param(0.5, float, 0.0, 1.0)
SIGMA = Param(0.0, float, 0.0, SIGMA_MAX)
SIGMA_END = Param(0.0, float, 0.0, SIGMA_MAX)
SCHEDULE = Param("constant", str, choices=SCHEDULES)
EPS = Param(0.0, float, -EPS_MAX, EPS_MAX)
EPS_LEARNABLE = Param(False, bool)


# The family's parts and their per-element cost.
BASE_OPS = {
    "zero": OpCount(cmp=1),  # ReLU
    "linear": OpCount(cmp=2, mul=1),  # R-ReLU: two compares, alpha * x
    "cubic": OpCount(cmp=2, add=2, mul=3),  # SR-ReLU: two compares, Horner cubic
}
CORRECTION_OPS = OpCount(add=1, mul=4, special=1)  # + eps * x * exp(-x*x/2)
NOISE_OPS = OpCount(add=1, mul=1, rand=1)  # + sigma * N(0, 1) on x <= 0, training only
SHAPE_KNOBS = {"zero": (), "linear": ("alpha", "T"), "cubic": ("eta", "T")}  # what each base reads
# The family point that is exactly ReLU; a named member overrides the knobs it has.
RELU_POINT = {"shape": "zero", "alpha": 0.0, "T": 1.0, "eta": 0.0, "sigma": 0.0, "sigma_schedule": "constant",
              "sigma_end": 0.0, "eps": 0.0, "eps_learnable": False}


def threshold(default: float) -> Param:
    return Param(default, float, *T_RANGE)


def cubic_coefficients(eta: float, T: float) -> tuple[float, float]:
    """c2, c3 of SR-ReLU's p(x) = x + c2 x^2 + c3 x^3 on [-T, 0).

    p(-T) = 0, p(0) = 0 and p'(0) = 1 hold for every eta; eta = 1 also gives p'(-T) = 0 (C1).
    """
    return (1.0 + eta) / T, eta / (T * T)


class BoundedNegative(Activation):
    """The unified bounded-negative family searched by actsearch.

    Seeds: R-ReLU / SR-ReLU (000_dd0ecf02aeaa9e19), N-ReLU (001_b8aaafc3d4a78418),
    CRReLU (003_22b48642eadfec6d).
    """

    name = "bounded_negative"
    params = {
        "shape": Param("linear", str, choices=kernels.SHAPES),
        "alpha": ALPHA,
        "T": threshold(1.0),
        "eta": ETA,
        "sigma": SIGMA,
        "sigma_schedule": SCHEDULE,
        "sigma_end": SIGMA_END,
        "eps": EPS,
        "eps_learnable": EPS_LEARNABLE,
    }

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._init_family(**self.family_point(self._config))

    @classmethod
    def family_point(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Every knob of the unified family for a validated config of this class."""
        return {k: v for k, v in config.items() if k != "name"}

    @classmethod
    def op_count(cls, config: dict[str, Any], training: bool = False) -> OpCount:
        p = cls.family_point(config)
        noisy = p["sigma"] > 0 or (p["sigma_end"] > 0 and p["sigma_schedule"] != "constant")
        ops = BASE_OPS[p["shape"]]
        if p["eps_learnable"] or p["eps"] != 0:
            ops = ops + CORRECTION_OPS
        if training:
            ops = ops + (GRAD_ACCUMULATE if p["eps_learnable"] else NONE) + (NOISE_OPS if noisy else NONE)
        return ops

    @classmethod
    def label(cls, config: dict[str, Any]) -> str:
        """Only the knobs that act: ``bounded_negative(cubic, eta=0.5, T=1.25, sigma=0.05)``."""
        if cls is not BoundedNegative:
            return super().label(config)
        keys = list(SHAPE_KNOBS[config["shape"]])
        if config["sigma"] > 0 or (config["sigma_end"] > 0 and config["sigma_schedule"] != "constant"):
            keys.append("sigma")
            if config["sigma_schedule"] != "constant":
                keys += ["sigma_schedule", "sigma_end"]
        if config["eps"] != 0 or config["eps_learnable"]:
            keys += ["eps", "eps_learnable"]
        return f"{cls.name}({', '.join([config['shape']] + [f'{k}={_fmt(config[k])}' for k in keys])})"

    def _init_family(self, *, shape: str, alpha: float, T: float, eta: float, sigma: float,
                     sigma_schedule: str, sigma_end: float, eps: float, eps_learnable: bool) -> None:
        self.shape = kernels.SHAPES.index(shape)
        c2, c3 = cubic_coefficients(eta, T)
        # Buffers, not attributes, so .to(device) moves them; not saved in state_dict since the
        # config rebuilds them. float64 so a float64 model (gradcheck) sees the exact values; the
        # kernel casts them to the input's dtype.
        self.register_buffer(
            "_params", torch.tensor([alpha, T, c2, c3], dtype=torch.float64), persistent=False
        )
        self._scalars = (float(alpha), float(T), float(c2), float(c3))
        self.sigma_start, self.sigma_end, self.sigma_schedule = sigma, sigma_end, sigma_schedule
        self.sigma_t = sigma
        # A Python bool, not sigma_t: under a user's torch.compile a float attribute that the
        # schedule changes every epoch would be a guard that fails, and a recompile, per epoch.
        self._noisy = sigma > 0.0 or (sigma_end > 0.0 and sigma_schedule != "constant")
        # a schedule that set_progress never advanced warns once (actsearch.activations.swap)
        self._actsearch_advanced = sigma_schedule == "constant"
        self.register_buffer("_sigma", torch.tensor(sigma, dtype=torch.float64), persistent=False)
        self._compile: bool | None = None
        self.use_eps = eps_learnable or eps != 0.0
        if eps_learnable:
            self.eps = nn.Parameter(torch.tensor(float(eps)))
        else:
            self.register_buffer("eps", torch.tensor(float(eps), dtype=torch.float64), persistent=False)

    def set_progress(self, progress: float) -> None:
        self.sigma_t = scheduled(self.sigma_start, self.sigma_end, self.sigma_schedule, progress)
        self._sigma.fill_(self.sigma_t)
        self._actsearch_advanced = True

    def set_compile(self, enabled: bool | None) -> None:
        """Run this module's fused compiled kernels always (True), never (False), or, by
        default (None), once a call has at least ``kernels.COMPILE_MIN_ELEMENTS`` elements."""
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError(f"set_compile takes True, False or None, not {enabled!r}")
        self._compile = enabled

    @property
    def compile_mode(self) -> bool | None:
        return self._compile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self._actsearch_advanced and not torch.compiler.is_compiling():
            from actsearch.activations.swap import check_schedule  # swap imports this module

            check_schedule(self)
        if torch.compiler.is_compiling():
            use_noise = self.training and self._noisy
        else:  # eagerly, skip the draw once a schedule has annealed sigma to 0
            use_noise = self.training and self.sigma_t > 0.0
        return kernels.bounded_negative(
            x, self._params, self.eps, self._sigma, self.shape, self.use_eps, use_noise, self._scalars,
            kernels.wants_compile(self._compile, x),
        )


class RefinedReLU(BoundedNegative):
    """R-ReLU (seed 000_dd0ecf02aeaa9e19): 0 for x < -T; alpha*x for -T <= x < 0; x for x >= 0."""

    name = "r_relu"
    params = {"alpha": ALPHA, "T": threshold(1.0)}

    @classmethod
    def family_point(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {**RELU_POINT, "shape": "linear", "alpha": config["alpha"], "T": config["T"]}


class SmoothRefinedReLU(BoundedNegative):
    """SR-ReLU (seed 000_dd0ecf02aeaa9e19): R-ReLU with the cubic p(x) = x + ((1+eta)/T) x^2 +
    (eta/T^2) x^3 on [-T, 0), so f(-T) = 0, f(0) = 0, f'(0) = 1 (and f'(-T) = 0 at eta = 1)."""

    name = "sr_relu"
    params = {"eta": ETA, "T": threshold(1.25)}

    @classmethod
    def family_point(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {**RELU_POINT, "shape": "cubic", "eta": config["eta"], "T": config["T"]}


class NoiseReLU(BoundedNegative):
    """N-ReLU (seed 001_b8aaafc3d4a78418): x for x > 0, a fresh N(0, sigma^2) sample for x <= 0
    in training; exactly ReLU (its expectation) in eval mode. sigma may anneal to sigma_end."""

    name = "n_relu"
    params = {
        "sigma": Param(0.1, float, 0.0, SIGMA_MAX),
        "sigma_schedule": SCHEDULE,
        "sigma_end": SIGMA_END,
    }

    @classmethod
    def family_point(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {**RELU_POINT, **{k: config[k] for k in ("sigma", "sigma_schedule", "sigma_end")}}


class CRReLU(BoundedNegative):
    """CRReLU (seed 003_22b48642eadfec6d): relu(x) + eps * x * exp(-x^2 / 2), eps learnable."""

    name = "crrelu"
    params = {"eps": Param(0.01, float, -EPS_MAX, EPS_MAX), "learnable": Param(True, bool)}

    @classmethod
    def family_point(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {**RELU_POINT, "eps": config["eps"], "eps_learnable": config["learnable"]}


FAMILY = (BoundedNegative, RefinedReLU, SmoothRefinedReLU, NoiseReLU, CRReLU)
