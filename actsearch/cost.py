"""Activation-aware cost model.

PyTorch's FlopCounterMode (like fvcore and thop) counts matrix products and convolutions but not
elementwise ops, so every activation looks free to it. This module adds what it misses: each
activation class states its per-element operation count (``Activation.op_count``, in the kinds
and weights of ``actsearch.activations.ops``) at inference and in training, and this module
multiplies it by the elements that pass through the model's activation sites.

Inference and training costs differ where the seeds say so: N-ReLU's noise and RReLU's random
slope are drawn only in training, and a learnable parameter (CRReLU's eps, PReLU's slope) adds one
multiply and one add per element in training to accumulate its gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from actsearch.activations import ACTIVATIONS, Activation, validate_config
from actsearch.activations.ops import WEIGHTS, OpCount


def activation_cost(config: Mapping[str, Any] | str, training: bool = False) -> OpCount:
    """Per-element operation count of an activation config, at inference or in training."""
    config = validate_config({"name": config} if isinstance(config, str) else config)
    return ACTIVATIONS[config["name"]].op_count(config, training)


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
    "ModelCost",
    "OpCount",
    "WEIGHTS",
    "activation_cost",
    "activation_elements",
    "measure",
    "model_flops",
    "parameter_count",
]
