"""Factories that pass ``inplace`` (timm's ``create_act_layer``) take actsearch's activations."""

import functools

import pytest
import torch

from actsearch.activations import build_activation
from actsearch.errors import ConfigError


def create_act_layer(act_layer, inplace=None, **kwargs):
    """timm.layers.create_act.create_act_layer's calling convention: inplace first, retried
    without it only on TypeError (a ConfigError, a ValueError, would escape)."""
    if inplace is None:
        return act_layer(**kwargs)
    try:
        return act_layer(inplace=inplace, **kwargs)
    except TypeError:
        return act_layer(**kwargs)


@pytest.mark.parametrize("inplace", [True, False])
def test_build_activation_accepts_and_ignores_inplace(inplace):
    config = {"name": "r_relu", "alpha": 0.3, "T": 2.0}
    layer = create_act_layer(functools.partial(build_activation, config), inplace=inplace)
    x = torch.randn(64)
    before = x.clone()
    assert torch.equal(layer(x), build_activation(config)(before)) and torch.equal(x, before)  # never in place
    assert torch.equal(build_activation({**config, "inplace": True})(x), layer(x))


def test_other_unknown_keys_are_still_refused():
    with pytest.raises(ConfigError):
        build_activation({"name": "r_relu", "inplcae": True})
