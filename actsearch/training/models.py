"""Proxy models of the seed papers. Every activation site is built by one factory, so a
candidate activation replaces all of them."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from actsearch.choices import MODELS, unknown
from actsearch.training.config import architecture
from actsearch.errors import ConfigError

ActivationFactory = Callable[[], nn.Module]


def _w(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def _norm(kind: str, features: int, conv: bool = False) -> list[nn.Module]:
    """The normalization placed before an activation site (none: nothing, so the seed models
    keep their exact layer list and seeded initialization)."""
    if kind == "batch":
        return [nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)]
    if kind == "layer":
        # GroupNorm with one group normalizes over (C, H, W) per sample: layer norm for feature maps.
        return [nn.GroupNorm(1, features) if conv else nn.LayerNorm(features)]
    return []


class MLP(nn.Sequential):
    """The N-ReLU seed's MLP at depth 2: hidden layers of 256 and 128 units, then the classifier.
    Deeper ones continue with 128-unit layers (256, 128, 128, ... times ``width``)."""

    def __init__(self, in_shape, classes: int, act: ActivationFactory, width: float = 1.0,
                 depth: int = 2, norm: str = "none"):
        c, h, w = in_shape
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = c * h * w
        for i in range(depth):
            units = _w(256 if i == 0 else 128, width)
            layers += [nn.Linear(fan_in, units), *_norm(norm, units), act()]
            fan_in = units
        super().__init__(*layers, nn.Linear(fan_in, classes))


class CNN(nn.Sequential):
    """The N-ReLU seed's CNN at depth 2: conv 32 and 64 (3x3, padding 1), max-pool, fc 128, fc
    classes. Deeper ones add 64-channel convs; a 2x2 max-pool ends every pair of convs (and a
    last odd one) while the map is at least 4 pixels wide, so deep stacks fit 8x8 digits too."""

    def __init__(self, in_shape, classes: int, act: ActivationFactory, width: float = 1.0,
                 depth: int = 2, norm: str = "none"):
        c, h, w = in_shape
        layers: list[nn.Module] = []
        cin = c
        for i in range(depth):
            cout = _w(32 if i == 0 else 64, width)
            layers += [nn.Conv2d(cin, cout, 3, padding=1), *_norm(norm, cout, conv=True), act()]
            cin = cout
            if (i % 2 == 1 or i == depth - 1) and min(h, w) >= 4:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        f = _w(128, width)
        super().__init__(
            *layers,
            nn.Flatten(),
            nn.Linear(cin * h * w, f), *_norm(norm, f), act(),
            nn.Linear(f, classes),
        )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, act: ActivationFactory):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = act()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016, ResNet-20 at depth=20): three stages of 16/32/64 channels
    times ``width``, the R-ReLU seed's residual setting."""

    def __init__(self, in_shape, classes: int, act: ActivationFactory, width: float = 1.0, depth: int = 20):
        super().__init__()
        blocks = (depth - 2) // 6
        widths = [_w(16, width), _w(32, width), _w(64, width)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), act()
        )
        layers, cin = [], widths[0]
        for stage, cout in enumerate(widths):
            for i in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, act))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, act: ActivationFactory):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), act(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A small vision transformer (patch 4, the CRReLU seed's CIFAR setting, scaled down):
    embedding 128 x ``width``, 4 blocks, 4 heads, the activation in each MLP block."""

    def __init__(self, in_shape, classes: int, act: ActivationFactory, width: float = 1.0,
                 depth: int = 4, heads: int = 4, patch: int = 4, mlp_ratio: int = 2):
        super().__init__()
        c, h, w = in_shape
        patch = min(patch, h, w)
        dim = max(heads, int(round(128 * width / heads)) * heads)
        tokens = (h // patch) * (w // patch)
        self.embed = nn.Conv2d(c, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads, mlp_ratio, act) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        x = self.blocks(x)
        return self.head(self.norm(x[:, 0]))


_CLASSES = {"mlp": MLP, "cnn": CNN, "resnet": ResNet, "vit": ViT}


def build_model(name: str, in_shape, classes: int, act: ActivationFactory, width: float = 1.0,
                depth: int | None = None, norm: str | None = None) -> nn.Module:
    """The proxy model ``name``; ``depth`` and ``norm`` default to the model's own (see
    ``config.ARCHITECTURES``), which builds exactly the seed papers' models."""
    if name not in _CLASSES:
        raise ConfigError(unknown("model", name, MODELS))
    if width <= 0:
        raise ConfigError(f"model width {width} must be > 0")
    depth, norm = architecture(name, depth, norm)
    if name in ("mlp", "cnn"):
        return _CLASSES[name](tuple(in_shape), classes, act, width, depth=depth, norm=norm)
    return _CLASSES[name](tuple(in_shape), classes, act, width, depth=depth)  # norm is theirs, checked
