"""Activation-aware cost model.

PyTorch's FlopCounterMode (like fvcore and thop) counts matrix products and convolutions but not
elementwise ops, so every activation looks free to it. This module adds what it misses.

Per-element operation counts of each activation's forward pass, in five kinds, weighted into
"FLOP equivalents":

======== ====== ==========================================================================
kind     weight what it stands for
======== ====== ==========================================================================
cmp      1      a compare or select (max, where)
add      1      an add or subtract
mul      1      a multiply (a divide counts as one multiply by a reciprocal)
special  10     exp, log, erf, tanh or sqrt: a vectorized polynomial approximation costs
                about ten multiply-adds
rand     20     one random draw (counter-based generator plus, for a normal, Box-Muller)
======== ====== ==========================================================================

Each activation has an inference cost and a train cost. They differ where the seeds say so:
N-ReLU's noise and RReLU's random slope are drawn only in training, and a learnable parameter
(CRReLU's eps, PReLU's slope) adds one multiply and one add per element in training to
accumulate its gradient. ``COST_TABLE`` below is the documented table; ``activation_cost``
derives the family's cost from its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from actsearch.activations import Activation, validate_config

WEIGHTS = {"cmp": 1, "add": 1, "mul": 1, "special": 10, "rand": 20}


@dataclass(frozen=True)
class OpCount:
    """Operations per element, by kind."""

    cmp: int = 0
    add: int = 0
    mul: int = 0
    special: int = 0
    rand: int = 0

    def __add__(self, other: OpCount) -> OpCount:
        return OpCount(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def flops(self) -> int:
        """Weighted FLOP equivalents per element."""
        return sum(getattr(self, f.name) * WEIGHTS[f.name] for f in fields(self))


NONE = OpCount()
GRAD_ACCUMULATE = OpCount(mul=1, add=1)  # per element, for one learnable scalar's gradient

# name: (inference, extra in training)
COST_TABLE: dict[str, tuple[OpCount, OpCount]] = {
    "relu": (OpCount(cmp=1), NONE),  # max(0, x)
    "leaky_relu": (OpCount(cmp=1, mul=1), NONE),
    "prelu": (OpCount(cmp=1, mul=1), GRAD_ACCUMULATE),
    "elu": (OpCount(cmp=1, add=1, mul=1, special=1), NONE),  # alpha * (exp(x) - 1)
    "celu": (OpCount(cmp=1, add=1, mul=2, special=1), NONE),  # alpha * (exp(x / alpha) - 1)
    "gelu": (OpCount(add=1, mul=3, special=1), NONE),  # 0.5 x (1 + erf(x / sqrt 2))
    "silu": (OpCount(add=1, mul=2, special=1), NONE),  # x / (1 + exp(-x))
    "mish": (OpCount(add=1, mul=1, special=3), NONE),  # x tanh(log(1 + exp(x)))
    "rrelu": (OpCount(cmp=1, mul=1), OpCount(rand=1, add=1, mul=1)),  # slope = l + (u - l) U
    "softplus": (OpCount(cmp=1, add=1, mul=2, special=2), NONE),  # log(1 + exp(b x)) / b
    "squareplus": (OpCount(add=2, mul=2, special=1), NONE),  # (x + sqrt(x^2 + b)) / 2
}

# The family is composed from its parts.
FAMILY_BASE = {
    "zero": OpCount(cmp=1),  # ReLU
    "linear": OpCount(cmp=2, mul=1),  # R-ReLU: two compares, alpha * x
    "cubic": OpCount(cmp=2, add=2, mul=3),  # SR-ReLU: two compares, Horner cubic
}
FAMILY_CORRECTION = OpCount(add=1, mul=4, special=1)  # + eps * x * exp(-x*x/2)
FAMILY_NOISE = OpCount(add=1, mul=1, rand=1)  # + sigma * N(0, 1) on x <= 0, training only


def _family_parts(config: Mapping[str, Any]) -> tuple[str, bool, bool, bool]:
    """(shape, has correction, learnable eps, noisy) of a validated family config."""
    name = config["name"]
    if name == "r_relu":
        return "linear", False, False, False
    if name == "sr_relu":
        return "cubic", False, False, False
    if name == "n_relu":
        return "zero", False, False, config["sigma"] > 0 or config["sigma_end"] > 0
    if name == "crrelu":
        return "zero", config["learnable"] or config["eps"] != 0, config["learnable"], False
    learnable = config["eps_learnable"]
    noisy = config["sigma"] > 0 or config["sigma_end"] > 0
    return config["shape"], learnable or config["eps"] != 0, learnable, noisy


def activation_cost(config: Mapping[str, Any] | str, training: bool = False) -> OpCount:
    """Per-element operation count of an activation config, at inference or in training."""
    config = validate_config({"name": config} if isinstance(config, str) else config)
    name = config["name"]
    if name in COST_TABLE:
        inference, train_extra = COST_TABLE[name]
        return inference + train_extra if training else inference
    shape, correction, learnable, noisy = _family_parts(config)
    cost = FAMILY_BASE[shape]
    if correction:
        cost = cost + FAMILY_CORRECTION
    if training and learnable:
        cost = cost + GRAD_ACCUMULATE
    if training and noisy:
        cost = cost + FAMILY_NOISE
    return cost


def activation_elements(model: nn.Module, example: torch.Tensor) -> int:
    """Elements passing through actsearch activations per sample, counted with forward hooks."""
    counted = [0]

    def hook(module, inputs, output):
        counted[0] += output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, Activation)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return counted[0] // example.shape[0]


def model_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs per sample of one forward pass as FlopCounterMode counts them (no elementwise ops)."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // example.shape[0]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class ModelCost:
    model_flops: int  # per sample, forward, matmuls and convolutions
    activation_flops: int  # per sample, forward at inference, FLOP equivalents
    activation_flops_train: int  # per sample, forward in training mode
    params: int
    activation_elements: int  # per sample, through all activation sites


def measure(model: nn.Module, example: torch.Tensor, config: Mapping[str, Any] | str) -> ModelCost:
    """Model FLOPs, activation FLOPs (inference and training) and parameters, per sample.

    Every activation site of ``model`` is assumed to use ``config`` (as the proxy models do).
    """
    elements = activation_elements(model, example)
    return ModelCost(
        model_flops=model_flops(model, example),
        activation_flops=elements * activation_cost(config, training=False).flops,
        activation_flops_train=elements * activation_cost(config, training=True).flops,
        params=parameter_count(model),
        activation_elements=elements,
    )


__all__ = [
    "COST_TABLE",
    "ModelCost",
    "OpCount",
    "WEIGHTS",
    "activation_cost",
    "activation_elements",
    "measure",
    "model_flops",
    "parameter_count",
]
