"""The standard activations the seed papers compare against, behind the same Activation interface."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actsearch.activations.base import Activation, Param
from actsearch.activations.ops import GRAD_ACCUMULATE, OpCount


class ReLU(Activation):
    name = "relu"
    ops = OpCount(cmp=1)  # max(0, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)


class LeakyReLU(Activation):
    name = "leaky_relu"
    ops = OpCount(cmp=1, mul=1)
    params = {"negative_slope": Param(0.01, float, 0.0, 1.0)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self._config["negative_slope"])


class PReLU(Activation):
    """PReLU with one learnable slope (the N-ReLU seed's setting)."""

    name = "prelu"
    ops = OpCount(cmp=1, mul=1)
    train_ops = GRAD_ACCUMULATE
    params = {"init": Param(0.25, float, 0.0, 1.0)}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.weight = nn.Parameter(torch.tensor([self._config["init"]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight.to(x.dtype))


class ELU(Activation):
    name = "elu"
    ops = OpCount(cmp=1, add=1, mul=1, special=1)  # alpha * (exp(x) - 1)
    params = {"alpha": Param(1.0, float, 0.0, low_open=True)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self._config["alpha"])


class CELU(Activation):
    name = "celu"
    ops = OpCount(cmp=1, add=1, mul=2, special=1)  # alpha * (exp(x / alpha) - 1)
    params = {"alpha": Param(1.0, float, 0.0, low_open=True)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.celu(x, self._config["alpha"])


class GELU(Activation):
    name = "gelu"
    ops = OpCount(add=1, mul=3, special=1)  # 0.5 x (1 + erf(x / sqrt 2))
    params = {"approximate": Param("none", str, choices=("none", "tanh"))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate=self._config["approximate"])


class SiLU(Activation):
    name = "silu"
    ops = OpCount(add=1, mul=2, special=1)  # x / (1 + exp(-x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)


class Mish(Activation):
    name = "mish"
    ops = OpCount(add=1, mul=1, special=3)  # x tanh(log(1 + exp(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.mish(x)


class RandomizedReLU(Activation):
    """RReLU (Xu et al. 2015): a random slope in [lower, upper] per element in training, their
    mean in eval. Not to be confused with the R-ReLU seed's Refined ReLU (``r_relu``)."""

    name = "rrelu"
    ops = OpCount(cmp=1, mul=1)
    train_ops = OpCount(rand=1, add=1, mul=1)  # slope = l + (u - l) U, training only
    params = {"lower": Param(1.0 / 8, float, 0.0, 1.0), "upper": Param(1.0 / 3, float, 0.0, 1.0)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rrelu(x, self._config["lower"], self._config["upper"], training=self.training)


class Softplus(Activation):
    name = "softplus"
    ops = OpCount(cmp=1, add=1, mul=2, special=2)  # log(1 + exp(b x)) / b
    params = {"beta": Param(1.0, float, 0.0, low_open=True), "threshold": Param(20.0, float)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x, self._config["beta"], self._config["threshold"])


class Squareplus(Activation):
    """Squareplus (Barron 2021): (x + sqrt(x^2 + b)) / 2, a ReLU-like curve with one sqrt."""

    name = "squareplus"
    ops = OpCount(add=2, mul=2, special=1)  # (x + sqrt(x^2 + b)) / 2
    params = {"b": Param(4.0, float, 0.0)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x + torch.sqrt(x * x + self._config["b"]))


BASELINES = (ReLU, LeakyReLU, PReLU, ELU, CELU, GELU, SiLU, Mish, RandomizedReLU, Softplus, Squareplus)
