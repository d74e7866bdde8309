"""Name -> class registry, and building activations from configs and exported YAML files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from actsearch.activations.base import Activation
from actsearch.activations.baselines import BASELINES
from actsearch.activations.family import FAMILY
from actsearch.errors import ConfigError, shown

ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in BASELINES + FAMILY}


def activation_class(name: Any) -> type[Activation]:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {shown(name)}; known activations: {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def describe(config: Mapping[str, Any]) -> str:
    """The short label of a config (its class decides what to show)."""
    config = validate_config(config)
    return ACTIVATIONS[config["name"]].label(config)


def build_activation(config: Mapping[str, Any] | str, *, inplace: bool | None = None) -> Activation:
    """Build an activation from ``{"name": ..., **params}`` (or a bare name for the defaults).

    ``inplace`` (keyword or config key) is accepted and ignored, as factories such as timm's
    ``create_act_layer`` pass it to every activation; actsearch's activations never work in place.
    Raises ConfigError (a ValueError) naming the key, the value and the allowed range.
    """
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, Mapping):
        raise ConfigError(f"an activation config must be a mapping with a 'name' key, got {shown(config)}")
    if "name" not in config:
        raise ConfigError("activation config has no 'name' key; add e.g. 'name: r_relu'")
    params = {k: v for k, v in config.items() if k not in ("name", "inplace")}
    return activation_class(config["name"])(**params)


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The full config (defaults filled in) that ``build_activation`` would use, without building."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"an activation config must be a mapping with a 'name' key, got {shown(config)}")
    if "name" not in config:
        raise ConfigError("activation config has no 'name' key; add e.g. 'name: r_relu'")
    cls = activation_class(config["name"])
    return {"name": cls.name, **cls.validate({k: v for k, v in config.items() if k != "name"})}


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """``yaml.safe_load`` a file, turning every failure into one ConfigError line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}; fix the file's syntax") from None
    except ValueError as exc:  # an int of over 4300 digits, a date such as 2001-13-45
        problem = "an integer has too many digits" if "digits" in str(exc) else str(exc).splitlines()[0]
        raise ConfigError(f"{path}: a value cannot be read ({problem}); fix it in the file") from None
    except RecursionError:
        raise ConfigError(f"{path}: lists or mappings nested too deep to read; flatten the file") from None


def activation_config_from_file(path: str | Path) -> dict[str, Any]:
    """The validated ``activation:`` mapping of an exported YAML file."""
    data = read_yaml(path, "activation file")
    if not isinstance(data, Mapping) or not isinstance(data.get("activation"), Mapping):
        raise ConfigError(
            f"{path}: no 'activation:' mapping; an exported file has 'activation: {{name: ..., ...}}'"
        )
    try:
        return validate_config(data["activation"])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_activation(path: str | Path) -> Activation:
    """Rebuild the activation of an exported YAML file (its ``activation:`` mapping)."""
    return build_activation(activation_config_from_file(path))
