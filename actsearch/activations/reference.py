"""The seed papers' own (naive) formulations, built from torch.where and autograd.

They are the reference the fused kernels are tested against, and the "naive" column of
``benchmarks/activations.py``. Not used for training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def r_relu(x: torch.Tensor, alpha: float = 0.5, T: float = 1.0) -> torch.Tensor:
    return torch.where(x >= 0, x, torch.where(x >= -T, alpha * x, torch.zeros_like(x)))


def sr_relu(x: torch.Tensor, eta: float = 0.5, T: float = 1.25) -> torch.Tensor:
    cubic = x + ((1 + eta) / T) * x**2 + (eta / T**2) * x**3
    return torch.where(x >= 0, x, torch.where(x >= -T, cubic, torch.zeros_like(x)))


def n_relu(x: torch.Tensor, sigma: float = 0.1, noise: torch.Tensor | None = None) -> torch.Tensor:
    """The N-ReLU seed's module body; pass ``noise`` (standard normal) to make it deterministic."""
    if noise is None:
        noise = torch.randn_like(x)
    return torch.where(x > 0, x, noise * sigma)


def crrelu(x: torch.Tensor, eps: torch.Tensor | float = 0.01) -> torch.Tensor:
    return F.relu(x) + eps * x * torch.exp(-(x**2) / 2)
