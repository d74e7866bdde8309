"""Fuzz: the shared training options (``--width``, ``--lr``, ``--seed``, ``--threads``, ...) as
``TrainConfig.resolved`` checks them. Property: only ConfigError. Values it accepts today that
crash later (in torch or the model) are strict xfails: training/config.py is not this work's file."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actsearch.errors import ConfigError
from actsearch.training.config import TrainConfig
from tests.strategies import EDGE_FLOATS, EDGE_INTS, examples

FIELDS = {
    "epochs": st.sampled_from(EDGE_INTS) | st.integers(),
    "batch_size": st.sampled_from(EDGE_INTS) | st.integers(),
    "train_subset": st.sampled_from(EDGE_INTS) | st.integers() | st.none(),
    "test_subset": st.sampled_from(EDGE_INTS) | st.integers() | st.none(),
    "threads": st.sampled_from(EDGE_INTS) | st.integers() | st.none(),
    "seed": st.sampled_from(EDGE_INTS) | st.integers(),
    "width": st.sampled_from(EDGE_FLOATS) | st.floats() | st.none(),
    "lr": st.sampled_from(EDGE_FLOATS) | st.floats() | st.none(),
    "target": st.sampled_from(EDGE_FLOATS) | st.floats(),
    "task": st.sampled_from(["digits", "mnist", "[bold]", ""]) | st.text(max_size=5),
    "budget": st.sampled_from(["tiny", "small", "x"]),
}


@examples(60)
@given(values=st.fixed_dictionaries({}, optional=FIELDS))
def test_train_options_raise_only_config_error(values):
    try:
        TrainConfig(**values).resolved()
    except ConfigError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("task", ["\n", "a\tb", "x" * 200])
def test_an_unknown_task_with_control_characters_is_one_line(task):
    """Found by the property above: the task name was quoted raw, its newline and all."""
    with pytest.raises(ConfigError, match="unknown task") as caught:
        TrainConfig(task=task).resolved()
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("field, value", [("width", 1e308), ("seed", 10**20), ("seed", -(2**63) - 1),
                                          ("threads", 10**6), ("lr", math.inf)])
def test_values_that_crash_later_are_refused_up_front(field, value):
    with pytest.raises(ConfigError):
        TrainConfig(**{field: value}).resolved()
