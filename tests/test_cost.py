import pytest
import torch
from torch import nn

from actsearch.activations import build_activation
from actsearch.activations.ops import OpCount
from actsearch.cost import activation_cost, measure


def test_flops_weigh_the_op_kinds():
    # compare, add, multiply 1; exp/erf/tanh/sqrt 10; a random draw 20 (the documented table)
    assert OpCount(cmp=2, mul=1, special=1, rand=1).flops == 2 + 1 + 10 + 20
    assert (OpCount(add=1) + OpCount(add=2, special=1)).flops == 3 + 10


@pytest.mark.parametrize("name, inference, training", [
    ("relu", 1, 1),
    ("r_relu", 3, 3),  # two compares, alpha * x
    ("sr_relu", 7, 7),  # two compares, Horner cubic: 3 mul + 2 add
    ("n_relu", 1, 1 + 22),  # ReLU at inference; + sigma * N(0,1) (mul, rand) and add in training
    ("crrelu", 1 + 15, 1 + 15 + 2),  # + eps x exp(-x^2/2); learnable eps: +mul +add in training
    ("gelu", 14, 14),
    ("rrelu", 2, 24),  # random slope drawn only in training
])
def test_cost_table_by_hand(name, inference, training):
    assert activation_cost(name).flops == inference
    assert activation_cost(name, training=True).flops == training


def test_family_cost_follows_its_config():
    assert activation_cost({"name": "bounded_negative", "shape": "zero"}).flops == 1
    fixed = {"name": "bounded_negative", "shape": "cubic", "eps": 0.1}
    assert activation_cost(fixed).flops == activation_cost(fixed, training=True).flops == 7 + 15
    noisy = {"name": "bounded_negative", "shape": "linear", "sigma": 0.1}
    assert activation_cost(noisy).flops == 3 and activation_cost(noisy, training=True).flops == 3 + 22
    # the named members equal their points of the family
    assert activation_cost({"name": "sr_relu"}) == activation_cost({"name": "bounded_negative", "shape": "cubic"})


def test_every_activation_states_its_cost_and_label():
    """A new activation class without ``ops`` fails here, not in the middle of a training job."""
    from actsearch.activations import ACTIVATIONS, describe, validate_config

    for name, cls in ACTIVATIONS.items():
        config = validate_config({"name": name})
        inference, training = cls.op_count(config), cls.op_count(config, training=True)
        assert inference.cmp + inference.add + inference.mul + inference.special >= 1
        assert training.flops >= inference.flops  # training only ever adds work
        assert describe(config).startswith(name)


def test_measure_tiny_model_by_hand():
    act = {"name": "sr_relu"}
    model = nn.Sequential(nn.Linear(3, 5), build_activation(act), nn.Linear(5, 2), build_activation(act))
    cost = measure(model, torch.randn(4, 3), act)
    assert cost.model_flops == 2 * (3 * 5 + 5 * 2)  # FlopCounterMode: 2 per multiply-add
    assert cost.activation_flops == (5 + 2) * 7  # 7 elements per sample through SR-ReLU
    assert cost.params == (3 * 5 + 5) + (5 * 2 + 2)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), build_activation("relu"))
    assert measure(conv, torch.randn(2, 1, 4, 4), "relu").activation_flops == 2 * 4 * 4
