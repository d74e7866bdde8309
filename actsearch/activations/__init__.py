"""Activations: the bounded-negative family of the seed papers, the baselines, and their registry."""

from actsearch.activations.base import Activation, Param, scheduled
from actsearch.activations.family import (
    CRReLU,
    BoundedNegative,
    NoiseReLU,
    RefinedReLU,
    SmoothRefinedReLU,
)
from actsearch.activations.kernels import set_compile
from actsearch.activations.latency import relative_latency
from actsearch.activations.swap import replace_activations
from actsearch.activations.registry import (
    ACTIVATIONS,
    activation_config_from_file,
    build_activation,
    describe,
    load_activation,
    validate_config,
)


def set_progress(model, progress: float) -> None:
    """Call ``set_progress`` on every actsearch activation inside ``model``."""
    for module in model.modules():
        if isinstance(module, Activation):
            module.set_progress(progress)


__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BoundedNegative",
    "CRReLU",
    "NoiseReLU",
    "Param",
    "RefinedReLU",
    "SmoothRefinedReLU",
    "activation_config_from_file",
    "build_activation",
    "describe",
    "load_activation",
    "relative_latency",
    "replace_activations",
    "scheduled",
    "set_compile",
    "set_progress",
    "validate_config",
]
