"""Fuzz: search-space YAML (types, bounds, ``log`` with zero, steps, conditions, warm starts,
fixed values). Property: only ConfigError naming the file; a space that parses yields valid
activation configs at its warm starts and at its bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given

from actsearch.errors import ConfigError
from actsearch.search.space import load_space, parse_space
from tests.strategies import dump_yaml, examples, space_docs, yaml_texts

SOURCE = "fuzz-space.yaml"
R_RELU = {"activation": "r_relu", "params": {"alpha": {"type": "float", "low": 0.1, "high": 1.0}}}


def _corners(space):
    """Points at the low and high corners of every continuous dimension, first choice elsewhere."""
    for pick in (0, -1):
        yield space.sample(lambda d: d.choices[pick] if d.choices else (d.low if pick == 0 else d.high))


@examples(80)
@given(doc=space_docs())
@example(doc={**R_RELU, "warm_start": [{"alpha": [1, 2]}]})
@example(doc={**R_RELU, "warm_start": [{"alpha": "x"}]})
@example(doc={**R_RELU, "warm_start": [{"alpha": None}]})
@example(doc={**R_RELU, "warm_start": [{"alpha": True}]})
@example(doc={**R_RELU, "warm_start": [{"alpha": math.nan}]})
@example(doc={"activation": "r_relu", "params": {"T": {"type": "float", "low": 0, "high": 1, "log": True}}})
@example(doc={"activation": "r_relu", "params": {"alpha": {"type": "int", "low": 0, "high": 10**400}}})
@example(doc={"activation": "r_relu", "params": {"alpha": {"type": "float", "low": 0, "high": 1, "step": math.inf}}})
@example(doc={"activation": ["x"], "params": {}})
@example(doc={"switches": {"noise": [[1]]}, "params": {"sigma": {"type": "float", "low": 0.1, "high": 1,
                                                                 "when": {"noise": [[1]]}}}})
def test_space_documents_raise_only_config_error(doc):
    try:
        space = parse_space(doc, SOURCE)
    except ConfigError as exc:
        assert str(exc).startswith(f"{SOURCE}: ") and "\n" not in str(exc)
        return
    for point in space.warm_start:
        space.to_activation(space.active_values(point))
    for point in _corners(space):
        try:
            space.to_activation(point)
        except ConfigError:
            pass  # an int dimension's corner may round out of an activation's range


@examples(30)
@given(text=yaml_texts)
@example(text="params: {alpha: {type: float, low: 1" + "0" * 5000 + ", high: 2}}")
def test_space_files_raise_only_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("space") / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_space(str(path))
    except ConfigError as exc:
        assert str(path) in str(exc)


@pytest.mark.parametrize("value, shown", [([1, 2], "[1, 2]"), ("x", "'x'"), (None, "None"), (True, "True"),
                                          (math.nan, "nan")])
def test_warm_start_non_numbers_name_file_and_key(value, shown):
    with pytest.raises(ConfigError) as info:
        parse_space({**R_RELU, "warm_start": [{"alpha": value}]}, SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: warm_start[0].alpha: ") and shown in message


def test_warm_start_file_from_the_issue(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(dump_yaml({**R_RELU, "warm_start": [{"alpha": [1, 2]}]}))
    with pytest.raises(ConfigError, match=r"space.yaml: warm_start\[0\]\.alpha: .*needs a number"):
        load_space(str(path))


def test_the_strategies_valid_space_parses():
    from tests.strategies import valid_space

    space = parse_space(valid_space(), SOURCE)
    assert len(space.warm_start) == 2
