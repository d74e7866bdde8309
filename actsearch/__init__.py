"""actsearch: find the bounded-negative ReLU variant that trains like GELU and costs like ReLU."""

__version__ = "0.1.0"

from actsearch.activations import build_activation, load_activation  # noqa: E402

__all__ = ["__version__", "build_activation", "load_activation"]
