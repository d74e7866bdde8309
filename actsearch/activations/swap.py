"""Put an activation into a user's model as the search scored it: a fresh module per layer, and
a warning when a scheduled activation trains without its schedule ever being advanced.

The trainer builds one activation module per activation site (``models.py`` calls a factory per
layer), so a learnable ``eps`` is learned per layer, and it calls ``set_progress(model, epoch /
epochs)`` at the start of every epoch, so a noise schedule anneals over training.
``replace_activations`` and ``actsearch.set_progress`` give a user's own model the same two things.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from actsearch.activations.base import Activation
from actsearch.activations.registry import activation_config_from_file, build_activation, validate_config
from actsearch.errors import ConfigError

# Elementwise ReLU-like activation modules that a searched activation replaces. Sigmoid, Tanh,
# Softmax and the like are left alone: in most models they are gates or outputs, not the
# hidden nonlinearity the search scored.
REPLACEABLE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Softplus, nn.Hardswish, Activation,
)


def _config_of(config: Mapping[str, Any] | str | Path | nn.Module) -> dict[str, Any]:
    """A validated activation config from a config mapping, a name, an exported YAML file or an
    actsearch activation module (its ``config()``)."""
    if isinstance(config, Activation):
        return config.config()
    if isinstance(config, nn.Module):
        raise ConfigError(f"replace_activations takes an actsearch activation, a config, a name or an exported "
                          f"YAML file, not {type(config).__name__}")
    if isinstance(config, Path) or (isinstance(config, str) and config.endswith((".yaml", ".yml"))):
        return activation_config_from_file(config)
    if isinstance(config, str):
        return validate_config({"name": config})
    return validate_config(config)


def _device_of(model: nn.Module):
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return None


def replace_activations(model: nn.Module, config: Mapping[str, Any] | str | Path | nn.Module,
                        types: tuple[type[nn.Module], ...] = REPLACEABLE) -> nn.Module:
    """Swap every activation module of ``model`` (instances of ``types``: nn.ReLU, nn.GELU, ...
    and actsearch activations) for a *fresh* module built from ``config``, in place; return
    ``model``. One module per site, as the trainer builds them, so a learnable parameter (CRReLU's
    eps) is learned per layer. Each new module takes the model's device and the training mode of
    the module it replaces.

    ``config``: a mapping ``{"name": ..., **params}``, a name (``"sr_relu"``), an exported YAML
    file (``"best.yaml"``) or an actsearch activation module (its config is used, the module is
    not reused). Raises ConfigError when the model has no such module: activations called as
    functions in ``forward`` (``F.relu(x)``) cannot be swapped from outside.
    """
    cfg = _config_of(config)
    device = _device_of(model)
    replaced = 0

    def visit(parent: nn.Module) -> None:
        nonlocal replaced
        for name, child in list(parent.named_children()):
            if isinstance(child, types):
                fresh = build_activation(cfg)
                if device is not None:
                    fresh = fresh.to(device)
                fresh.train(child.training)
                setattr(parent, name, fresh)  # works for Sequential, ModuleList and ModuleDict too
                replaced += 1
            else:
                visit(child)

    if isinstance(model, types):
        raise ConfigError("replace_activations swaps the activations inside a model; to build one activation "
                          "use actsearch.build_activation(config)")
    visit(model)
    if not replaced:
        raise ConfigError(f"{type(model).__name__} has no activation module to replace (looked for "
                          f"{', '.join(t.__name__ for t in types)}); activations called as functions in forward "
                          "(F.relu(x)) must be changed in the code: use a module there")
    return model


# --- the schedule check ---------------------------------------------------------------------

SCHEDULE_WARNING = (
    "actsearch: an activation with a non-constant schedule ({what}) ran a training-mode forward, but "
    "its schedule was never advanced, so it stays at its start value for the whole training. Call "
    "actsearch.set_progress(model, epoch / epochs) at the start of every epoch (as the search's "
    "trainer did), or set_progress(model, step / total_steps) every step."
)


def mark_advanced(module: nn.Module) -> None:
    """Record that ``module``'s schedule was advanced (``set_progress`` calls this)."""
    module._actsearch_advanced = True


def warn_if_never_advanced(module: nn.Module, schedule: str, what: str) -> None:
    """Warn once per module the first time a training-mode forward runs on a non-constant
    ``schedule`` that ``set_progress`` never advanced. Costs two attribute reads per forward
    after that. ``what`` names the schedule in the message, e.g. ``sigma linear 0.1 -> 0``."""
    if schedule == "constant" or not module.training or getattr(module, "_actsearch_advanced", False):
        return
    module._actsearch_advanced = True  # warn once per module, not once per batch
    warnings.warn(SCHEDULE_WARNING.format(what=what), UserWarning, stacklevel=3)


def check_schedule(module: nn.Module) -> None:
    """``warn_if_never_advanced`` for the bounded-negative family's noise schedule: the one call
    ``BoundedNegative.forward`` makes first."""
    schedule = getattr(module, "sigma_schedule", "constant")
    if schedule != "constant" and module.training and not getattr(module, "_actsearch_advanced", False):
        warn_if_never_advanced(module, schedule,
                               f"sigma {schedule} {module.sigma_start:g} -> {module.sigma_end:g}")


__all__ = ["REPLACEABLE", "check_schedule", "mark_advanced", "replace_activations", "warn_if_never_advanced"]
