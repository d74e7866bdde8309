"""One proxy training job's settings: budget presets, per-task defaults, and their validation."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from actsearch.activations import validate_config
from actsearch.choices import DEVICES, LR_SCHEDULES, MODELS, NORMS, TASKS, unknown
from actsearch.errors import ConfigError

# Budget presets. The N-ReLU seed's protocol (Adam 1e-3, batch 128, 8 epochs) is `full`.
# Searches choose on a validation split carved (fixed seed, stratified) from the training data,
# at most a fifth of it; the test split is only reported. Proxy budgets score a fixed subset of
# the test split (None: all of it).
BUDGETS: dict[str, dict[str, Any]] = {
    #          train images         validation images  test images          epochs       batch            model width
    "tiny": {"train_subset": 1000, "val_subset": 500, "test_subset": 1000, "epochs": 2, "batch_size": 128, "width": 0.5},
    "small": {"train_subset": 5000, "val_subset": 1000, "test_subset": 2000, "epochs": 4, "batch_size": 128, "width": 0.5},
    "medium": {"train_subset": 20000, "val_subset": 5000, "test_subset": 5000, "epochs": 8, "batch_size": 128, "width": 1.0},
    "full": {"train_subset": None, "val_subset": 10000, "test_subset": None, "epochs": 8, "batch_size": 128, "width": 1.0},
}
MAX_WIDTH = 64  # a width multiplier past this builds layers no proxy job can hold in memory
MAX_THREADS = 1024  # torch.set_num_threads crashes the process on absurd counts
VAL_FRACTION = 0.2  # the validation split never takes more of the training data than this
DEFAULT_MODEL = {"digits": "mlp", "mnist": "mlp", "fashion-mnist": "mlp", "cifar10": "cnn", "cifar100": "cnn"}
OPTIMIZER_DEFAULTS = {  # name (choices.OPTIMIZERS): (default lr, default weight decay)
    "adam": (1e-3, 0.0),  # the N-ReLU seed's
    "adamw": (1e-3, 5e-4),
    "sgd": (0.05, 5e-4),  # Nesterov, momentum 0.9
}
# Per model: (default depth, default norm, norms it can be built with). The defaults build the
# seed papers' models exactly. ResNet and ViT have their normalization built into the block
# design (post-conv BatchNorm, pre-norm LayerNorm), so only that one is accepted.
ARCHITECTURES: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "mlp": (2, "none", NORMS),  # depth: hidden layers
    "cnn": (2, "none", NORMS),  # depth: conv layers
    "resnet": (20, "batch", ("batch",)),  # depth: ResNet-N layers, 6n+2
    "vit": (4, "layer", ("layer",)),  # depth: transformer blocks
}


def architecture(model: str, depth: int | None, norm: str | None) -> tuple[int, str]:
    """``model``'s (depth, norm) with its defaults filled in; ConfigError for a bad value."""
    default_depth, default_norm, norms = ARCHITECTURES[model]
    depth = default_depth if depth is None else depth
    norm = default_norm if norm is None else norm
    if norm not in NORMS:
        raise ConfigError(unknown("norm", norm, NORMS))
    if norm not in norms:
        raise ConfigError(f"--norm {norm} does not apply to {model}: it always uses {default_norm} norm "
                          f"(--norm {' or '.join(norms)} or leave it out)")
    if model == "resnet":
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"--depth for resnet must be 6n+2 and >= 8 (8, 14, 20, 32, ...), got {depth}")
    elif depth < 1:
        raise ConfigError(f"--depth must be >= 1, got {depth}")
    return depth, norm


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class TrainConfig:
    """Everything that fixes one proxy job. ``None`` fields take the budget's or task's default."""

    task: str = "digits"
    activation: dict[str, Any] = field(default_factory=lambda: {"name": "relu"})
    model: str | None = None  # task default: mlp for digits and the MNISTs, cnn for CIFAR
    budget: str = "small"
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    train_subset: int | None = None  # images drawn (seeded) from the training split
    val_subset: int | None = None  # validation images carved (fixed seed) from the training split; 0: none
    test_subset: int | None = None  # images drawn (fixed seed) from the test split
    width: float | None = None  # model width multiplier
    depth: int | None = None  # hidden layers (mlp), conv layers (cnn), ResNet-N (resnet), blocks (vit)
    norm: str | None = None  # none, batch or layer before each activation; None: the model's own
    optimizer: str = "adam"
    lr: float | None = None  # optimizer default
    weight_decay: float | None = None
    lr_schedule: str = "constant"
    target: float = 90.0  # accuracy (%) for epochs-to-target
    device: str = "auto"
    threads: int | None = None  # CPU threads; default all cores
    amp: bool = False  # bf16 autocast
    compile: bool | None = None  # torch.compile the activation kernels; None: when batches are big
    data_dir: str | None = None

    def resolved(self) -> TrainConfig:
        """A copy with every default filled in and every value checked (ConfigError if bad)."""
        for what, value, allowed in (("task", self.task, TASKS), ("budget", self.budget, BUDGETS),
                                     ("model", self.model or DEFAULT_MODEL.get(self.task), MODELS),
                                     ("optimizer", self.optimizer, OPTIMIZER_DEFAULTS),
                                     ("lr schedule", self.lr_schedule, LR_SCHEDULES), ("device", self.device, DEVICES)):
            if value not in allowed:
                raise ConfigError(unknown(what, value, allowed))
        preset = BUDGETS[self.budget]
        model = self.model or DEFAULT_MODEL[self.task]
        lr, wd = OPTIMIZER_DEFAULTS[self.optimizer]
        # Checked here but left None when not given: compare re-targets one resolved config to
        # several models, and a default depth filled in for one model is wrong for the next.
        architecture(model, self.depth, self.norm)
        out = replace(
            self,
            activation=validate_config(self.activation),
            model=model,
            epochs=self.epochs if self.epochs is not None else preset["epochs"],
            batch_size=self.batch_size if self.batch_size is not None else preset["batch_size"],
            train_subset=self.train_subset if self.train_subset is not None else preset["train_subset"],
            val_subset=self.val_subset if self.val_subset is not None else preset["val_subset"],
            test_subset=self.test_subset if self.test_subset is not None else preset["test_subset"],
            width=self.width if self.width is not None else preset["width"],
            lr=self.lr if self.lr is not None else lr,
            weight_decay=self.weight_decay if self.weight_decay is not None else wd,
            threads=self.threads if self.threads is not None else cpu_count(),
        )
        for name, low in (("epochs", 1), ("batch_size", 1), ("threads", 1)):
            if getattr(out, name) < low:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(out, name)}")
        for name in ("train_subset", "test_subset"):
            value = getattr(out, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if out.val_subset < 0:
            raise ConfigError(f"--val-subset must be >= 0 (0: no validation split), got {out.val_subset}")
        # Bounds past which a value can only crash later (in torch or the model), not train.
        for name, value, ok, rule in (("width", out.width, 0 < out.width <= MAX_WIDTH, f"in (0, {MAX_WIDTH}]"),
                                      ("lr", out.lr, 0 < out.lr < math.inf, "a finite number > 0"),
                                      ("seed", out.seed, 0 <= out.seed < 2**32, "in [0, 2**32)"),
                                      ("threads", out.threads, out.threads <= MAX_THREADS, f"<= {MAX_THREADS}"),
                                      ("target", out.target, 0 < out.target <= 100, "in (0, 100]")):
            if not ok:
                raise ConfigError(f"--{name} must be {rule}, got {value}")
        if out.weight_decay < 0:
            raise ConfigError(f"weight decay must be >= 0, got {out.weight_decay}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
