"""Every fixed list of values a user can name, in one place and without heavy imports.

The CLI builds its help, its choices and its did-you-mean hints from these before torch or
optuna load; the library validates against the same tuples.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

from actsearch.errors import shown

TASKS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")
MODELS = ("mlp", "cnn", "resnet", "vit")
NORMS = ("none", "batch", "layer")
BUDGETS = ("tiny", "small", "medium", "full")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "random")
COSTS = ("activation_flops", "model_flops", "latency", "dead_ratio")
RANKS = ("mean", "lcb")
PICKS = ("knee", "best-accuracy", "min-cost")  # or trial:N
PRESETS = ("nrelu", "deep-mlp", "vit-small")  # training.presets.PRESETS holds what each sets


def _shipped_folder() -> Path:
    """search_spaces/ beside the package (a checkout, an editable install), else where a wheel
    puts the data files (``share/actsearch/search_spaces`` under the environment's prefix)."""
    beside = Path(__file__).resolve().parents[1] / "search_spaces"
    return beside if beside.is_dir() else Path(sys.prefix) / "share" / "actsearch" / "search_spaces"


SHIPPED = _shipped_folder()


def shipped_spaces() -> dict[str, Path]:
    """The shipped search spaces (``--space NAME``) by name."""
    return {p.stem: p for p in sorted(SHIPPED.glob("*.yaml"))}


def unknown(what: str, value: object, allowed: Iterable[str]) -> str:
    """The message for a value outside a fixed list: the choices, and the closest one if any."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    # Quoted and escaped: a newline or control character (from a YAML file or a shell variable)
    # must not break the message's one line.
    return f"unknown {what} {shown(str(value))}{hint}; choose one of: {', '.join(allowed)}"
