"""actsearch: find the bounded-negative ReLU variant that trains like GELU and costs like ReLU.

The top-level names load on first use, so ``import actsearch`` (and the CLI's ``--help``) does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {  # name: module that defines it
    "build_activation": "actsearch.activations",
    "load_activation": "actsearch.activations",
    "set_progress": "actsearch.activations",
    "replace_activations": "actsearch.activations",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'actsearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
