"""Named proxy presets: a task setting bundled under one name (``--preset NAME``).

A preset fills the training options a user did not give; options given on the command line
win. A preset may also carry the model list and the activation list that ``actsearch compare``
trains when none is given, so one registry serves train, tune, evolve and compare.

The training values are plain TrainConfig fields, so a run made with a preset has the same
identity as one made with the same options spelled out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from actsearch.choices import PRESETS as PRESET_NAMES
from actsearch.choices import unknown
from actsearch.errors import ConfigError
from actsearch.training.config import TrainConfig

# The N-ReLU seed's protocol (its Table 2): MLP and CNN, Adam 1e-3, batch 128, 8 epochs.
NRELU_ACTIVATIONS = [
    ("ReLU", {"name": "relu"}),
    ("LeakyReLU", {"name": "leaky_relu"}),
    ("PReLU", {"name": "prelu"}),
    ("GELU", {"name": "gelu"}),
    ("RReLU", {"name": "rrelu"}),
    ("N-ReLU σ=0.05", {"name": "n_relu", "sigma": 0.05}),
    ("N-ReLU σ=0.10", {"name": "n_relu", "sigma": 0.10}),
    ("N-ReLU σ=0.20", {"name": "n_relu", "sigma": 0.20}),
    ("N-ReLU σ: 0.20→0", {"name": "n_relu", "sigma": 0.20, "sigma_schedule": "cosine", "sigma_end": 0.0}),
]
# Labelled as `compare --activations relu,gelu` labels them, so naming them again adds nothing.
RELU_GELU = [("relu", {"name": "relu"}), ("gelu", {"name": "gelu"})]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    train: dict[str, Any]  # TrainConfig field -> value (task included)
    models: tuple[str, ...] | None = None  # compare's models; None: the training model
    activations: tuple[tuple[str, dict[str, Any]], ...] = ()  # compare's (label, config) list


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "nrelu",
        "the N-ReLU seed's protocol: MLP and CNN, all training images, Adam 1e-3, batch 128, "
        "8 epochs, its 9 activations",
        # val_subset 0: the seed trains on every training image (compare chooses nothing)
        {"budget": "full", "val_subset": 0, "optimizer": "adam", "lr": 1e-3, "batch_size": 128, "epochs": 8},
        models=("mlp", "cnn"),
        activations=tuple(NRELU_ACTIVATIONS),
    ),
    Preset(
        "deep-mlp",
        "Fashion-MNIST, a 10-hidden-layer MLP (256, then 128 units) without normalization, "
        "20,000 training images, 8 epochs, Adam 1e-3, batch 128, full test set: activations differ "
        "here, unlike on the 2-layer seed MLP",
        # Budget `full` for the whole test set; train_subset trims the training split.
        {"task": "fashion-mnist", "model": "mlp", "depth": 10, "width": 1.0, "norm": "none",
         "budget": "full", "train_subset": 20000, "epochs": 8, "optimizer": "adam", "lr": 1e-3,
         "batch_size": 128},
        activations=tuple(RELU_GELU),
    ),
    Preset(
        "vit-small",
        "Fashion-MNIST, a ViT with patch 4 (49 tokens), embedding 64, 4 blocks, the `small` budget "
        "(5,000 training images, 4 epochs, 2,000 test images), Adam 1e-3, batch 128: the CRReLU "
        "seed's setting, small enough for a CPU",
        {"task": "fashion-mnist", "model": "vit", "depth": 4, "width": 0.5, "budget": "small",
         "optimizer": "adam", "lr": 1e-3, "batch_size": 128},
        activations=tuple(RELU_GELU),
    ),
)}
assert tuple(PRESETS) == PRESET_NAMES, "choices.PRESETS lists the registry's names for the CLI"
_FIELDS = {f.name for f in fields(TrainConfig)}
assert all(set(p.train) <= _FIELDS for p in PRESETS.values()), "a preset sets TrainConfig fields only"


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(unknown("preset", name, PRESETS))
    return PRESETS[name]


def apply_preset(name: str | None, config: TrainConfig, explicit: Iterable[str] = ()) -> TrainConfig:
    """``config`` with preset ``name``'s values in every field not named in ``explicit`` (the
    options the user gave); ``name`` None returns ``config`` unchanged."""
    if name is None:
        return config
    explicit = set(explicit)
    return replace(config, **{k: v for k, v in get_preset(name).train.items() if k not in explicit})
