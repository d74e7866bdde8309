"""Search spaces: YAML files describing which activation parameters a search explores.

Schema (every key but ``params`` is optional)::

    name: bounded_negative              # defaults to the file name
    description: one line for `actsearch spaces`
    activation: bounded_negative        # the registered activation the parameters build
    fixed: {sigma_schedule: cosine}     # activation parameters held constant
    switches:                           # structural choices, not activation parameters:
      noise: [false, true]              # they only gate other parameters through `when`
    params:                             # in sampling order
      shape: {type: categorical, choices: [zero, linear, cubic]}
      alpha: {type: float, low: 0.05, high: 1.0, when: {shape: linear}}
      T:     {type: float, low: 0.25, high: 3.0, log: true, when: {shape: [linear, cubic]}}
      sigma: {type: float, low: 0.01, high: 0.3, log: true, when: {noise: true}}
    warm_start:                         # points tried first (the seed papers' defaults)
      - {shape: linear, alpha: 0.5, T: 1.0, noise: false}

A parameter whose ``when`` does not hold is not sampled; the activation's default applies.
Every problem is a ConfigError naming the file and the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from actsearch.activations import ACTIVATIONS, validate_config
from actsearch.activations.registry import read_yaml
from actsearch.choices import shipped_spaces
from actsearch.errors import ConfigError, shown

TOP_KEYS = {"name", "description", "activation", "fixed", "switches", "params", "warm_start"}
SPEC_KEYS = {"float": {"type", "low", "high", "log", "step", "when"},
             "int": {"type", "low", "high", "log", "step", "when"},
             "categorical": {"type", "choices", "when"}}


@dataclass(frozen=True)
class Dimension:
    name: str
    type: str  # float | int | categorical | switch
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def active(self, values: dict[str, Any]) -> bool:
        return all(values.get(k, _MISSING) in allowed for k, allowed in self.when.items())

    def to_unit(self, value: Any) -> float:
        """The value's position in [0, 1] (log-scaled where the space says ``log``); for a
        categorical dimension or switch, its choice index."""
        if self.choices:
            return float(self.choices.index(value))
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> Any:
        """The value at position ``u`` (clamped to [0, 1]; a choice index for categoricals),
        rounded to ``step`` and to an integer where the space says so. Every backend turns a
        draw into a value through here, so they all honour the same rounding."""
        if self.choices:
            return self.choices[min(max(int(u), 0), len(self.choices) - 1)]
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.step:
            value = self.low + round((value - self.low) / self.step) * self.step
        if self.type == "int":
            return int(round(min(max(value, self.low), self.high)))
        return float(min(max(value, self.low), self.high))

    def random(self, rng) -> Any:
        """A uniform draw (in the unit space) from ``rng``, a ``random.Random``."""
        return self.from_unit(rng.randrange(len(self.choices)) if self.choices else rng.random())

    @property
    def size(self) -> float:
        """How many distinct values it has (inf for a continuous range)."""
        if self.choices:
            return len(self.choices)
        if self.type == "int":
            return int((self.high - self.low) // (self.step or 1)) + 1
        if self.step:
            return int((self.high - self.low) // self.step) + 1
        return math.inf


_MISSING = object()


@dataclass(frozen=True)
class SearchSpace:
    name: str
    description: str
    activation: str
    fixed: dict[str, Any]
    dimensions: tuple[Dimension, ...]  # switches first, then params, in sampling order
    warm_start: tuple[dict[str, Any], ...]
    source: str
    definition: dict[str, Any]  # the parsed YAML, recorded in each run's snapshot

    def to_activation(self, values: dict[str, Any]) -> dict[str, Any]:
        """The activation config of one point (switch values dropped)."""
        params = {d.name: values[d.name] for d in self.dimensions
                  if d.type != "switch" and d.name in values}
        return validate_config({"name": self.activation, **self.fixed, **params})

    def active_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Drop values whose dimension is inactive under the others (in sampling order)."""
        out: dict[str, Any] = {}
        for d in self.dimensions:
            if d.active(out) and d.name in values:
                out[d.name] = values[d.name]
        return out

    def distinct_points(self, limit: int = 1_000_000) -> float:
        """How many distinct activation configs the space holds (inf when a range is continuous);
        counted exactly by enumeration for finite spaces up to ``limit`` points."""
        if any(math.isinf(d.size) for d in self.dimensions):
            return math.inf
        seen: set[str] = set()

        def walk(i: int, values: dict[str, Any]) -> None:
            if len(seen) > limit:
                return
            if i == len(self.dimensions):
                seen.add(config_key(self.to_activation(values)))
                return
            d = self.dimensions[i]
            if not d.active(values):
                walk(i + 1, values)
                return
            for k in range(int(d.size)):
                value = d.choices[k] if d.choices else d.from_unit(k / max(1, int(d.size) - 1))
                walk(i + 1, {**values, d.name: value})

        walk(0, {})
        return len(seen)

    def sample(self, suggest) -> dict[str, Any]:
        """Draw one point; ``suggest(dimension) -> value`` is the backend's sampler."""
        values: dict[str, Any] = {}
        for d in self.dimensions:
            if d.active(values):
                values[d.name] = suggest(d)
        return values


def config_key(activation: dict[str, Any]) -> str:
    """One string per distinct activation config, whatever the key order."""
    return json.dumps(activation, sort_keys=True)


def load_space(name_or_path: str) -> SearchSpace:
    """A shipped space by name (``actsearch spaces``) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and name_or_path in shipped_spaces():
        path = shipped_spaces()[name_or_path]
    elif not path.is_file():
        raise ConfigError(
            f"search space '{name_or_path}' is neither a file nor a shipped space; shipped: "
            f"{', '.join(shipped_spaces()) or 'none'}"
        )
    return parse_space(read_yaml(path, "search space"), str(path))


def parse_space(data: Any, source: str) -> SearchSpace:
    def fail(key: str, problem: str) -> ConfigError:
        # one line whatever the keys hold: a newline or control character is shown escaped
        return ConfigError(printable(f"{source}: {key}: {problem}"))

    if not isinstance(data, dict):
        raise fail("(top level)", "a search space is a mapping with a 'params' key")
    unknown = sorted(set(data) - TOP_KEYS, key=str)
    if unknown:
        raise fail(str(unknown[0]), f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    activation = data.get("activation", "bounded_negative")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise fail("activation", f"unknown activation {shown(activation)}; known: {', '.join(ACTIVATIONS)}")
    act_params = ACTIVATIONS[activation].params
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise fail("fixed", "must be a mapping of activation parameters")
    try:
        validate_config({"name": activation, **fixed})
    except ConfigError as exc:
        raise fail("fixed", str(exc)) from None

    dims: list[Dimension] = []
    switches = data.get("switches") or {}
    if not isinstance(switches, dict):
        raise fail("switches", "must map each switch name to its list of choices")
    for name, choices in switches.items():
        if name in act_params:
            raise fail(f"switches.{name}", f"'{name}' is a parameter of {activation}; put it under params")
        if not isinstance(choices, list) or not choices:
            raise fail(f"switches.{name}", "needs a non-empty list of choices")
        for c in choices:  # what Optuna's categorical distribution stores
            if not (c is None or isinstance(c, (str, bool, int)) or isinstance(c, float) and math.isfinite(c)):
                raise fail(f"switches.{name}", f"choice {shown(c)} must be a plain value: true/false, a number or a word")
        dims.append(Dimension(str(name), "switch", choices=tuple(choices)))

    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise fail("params", "needs a non-empty mapping of parameter name to its range")
    for name, spec in params.items():
        key = f"params.{name}"
        if name not in act_params:
            raise fail(key, f"'{name}' is not a parameter of {activation}; its parameters: {', '.join(act_params)}")
        if name in fixed:
            raise fail(key, f"'{name}' is also under fixed; keep one")
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or spec["type"] not in SPEC_KEYS:
            raise fail(key, "needs 'type: float', 'type: int' or 'type: categorical'")
        extra = sorted(set(spec) - SPEC_KEYS[spec["type"]], key=str)
        if extra:
            raise fail(f"{key}.{extra[0]}", f"unknown key for a {spec['type']} parameter; allowed: "
                       f"{', '.join(sorted(SPEC_KEYS[spec['type']]))}")
        when = _parse_when(spec.get("when"), dims, key, fail)
        check = lambda value, k=name: act_params[k].check(activation, k, value)  # noqa: E731
        if spec["type"] == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise fail(f"{key}.choices", "needs a non-empty list")
            for c in choices:
                try:
                    check(c)
                except ConfigError as exc:
                    raise fail(f"{key}.choices", str(exc)) from None
            dims.append(Dimension(name, "categorical", choices=tuple(choices), when=when))
            continue
        low, high = spec.get("low"), spec.get("high")
        for bound, value in (("low", low), ("high", high)):
            if not _finite(value):
                raise fail(f"{key}.{bound}", f"needs a finite number, got {shown(value)}")
            if spec["type"] == "int" and not float(value).is_integer():
                raise fail(f"{key}.{bound}", f"an int parameter needs a whole number, got {value!r}")
        if low >= high:
            raise fail(key, f"low ({low}) must be < high ({high})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise fail(f"{key}.log", "must be true or false")
        if log and low <= 0:
            raise fail(f"{key}.low", f"a log-scale range needs low > 0, got {low}")
        for bound, value in (("low", low), ("high", high)):
            try:
                check(value)
            except ConfigError as exc:
                raise fail(f"{key}.{bound}", f"outside what {activation} accepts: {exc}") from None
        step = spec.get("step")
        if step is not None and (not _finite(step) or step <= 0):
            raise fail(f"{key}.step", f"must be a finite positive number, got {shown(step)}")
        if step is not None and spec["type"] == "int" and not float(step).is_integer():
            raise fail(f"{key}.step", f"an int parameter needs a whole step, got {step!r}")
        if step is not None and step > high - low:
            raise fail(f"{key}.step", f"{step!r} is larger than the range {low!r}..{high!r}")
        if log and step is not None and (spec["type"] == "float" or step != 1):
            raise fail(f"{key}.step", "a log-scale range takes no step (Optuna samples it continuously)")
        dims.append(Dimension(name, spec["type"], float(low), float(high), log,
                              None if step is None else float(step), when=when))

    space = SearchSpace(
        name=str(data.get("name") or Path(source).stem),
        description=str(data.get("description") or ""),
        activation=activation,
        fixed=dict(fixed),
        dimensions=tuple(dims),
        warm_start=(),
        source=source,
        definition=data,
    )
    warm = data.get("warm_start") or []
    if not isinstance(warm, list):
        raise fail("warm_start", "must be a list of points")
    for i, point in enumerate(warm):
        _check_point(space, point, f"warm_start[{i}]", fail)
    return replace(space, warm_start=tuple(warm))  # points checked against the space above


def _parse_when(when, dims: list[Dimension], key: str, fail) -> dict[str, tuple[Any, ...]]:
    if when is None:
        return {}
    if not isinstance(when, dict) or not when:
        raise fail(f"{key}.when", "must map an earlier categorical parameter or switch to its value(s)")
    known = {d.name: d for d in dims if d.type in ("categorical", "switch")}
    out = {}
    for ref, values in when.items():
        if ref not in known:
            raise fail(f"{key}.when.{ref}", "must name a categorical parameter or switch defined before it")
        values = tuple(values) if isinstance(values, list) else (values,)
        if not values:
            raise fail(f"{key}.when.{ref}", "needs at least one value")
        for v in values:
            if not _among(v, known[ref].choices):
                raise fail(f"{key}.when.{ref}", f"{shown(v)} is not one of its choices {shown(list(known[ref].choices))}")
        out[ref] = values
    return out


def _check_point(space: SearchSpace, point: Any, key: str, fail) -> None:
    if not isinstance(point, dict):
        raise fail(key, "must be a mapping of parameter values")
    names = {d.name: d for d in space.dimensions}
    for name, value in point.items():
        d = names.get(name)
        if d is None:
            raise fail(f"{key}.{name}", "is not a parameter or switch of this space")
        if d.choices:
            if not _among(value, d.choices):
                raise fail(f"{key}.{name}", f"{shown(value)} is not one of {shown(list(d.choices))}")
            continue
        if not _finite(value):
            raise fail(f"{key}.{name}", f"{shown(value)} needs a number in [{d.low:g}, {d.high:g}]")
        if d.type == "int" and not float(value).is_integer():
            raise fail(f"{key}.{name}", f"{value!r} needs a whole number (an int parameter)")
        if not (d.low <= value <= d.high):
            raise fail(f"{key}.{name}", f"{value!r} is outside [{d.low:g}, {d.high:g}]")
    try:
        space.to_activation(space.active_values(point))
    except ConfigError as exc:
        raise fail(key, str(exc)) from None


def printable(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, control) backslash-escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _finite(value: Any) -> bool:
    """A real number (not a bool) that fits a float and is finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the largest float
        return False


def _among(value: Any, choices: tuple[Any, ...]) -> bool:
    """``value in choices`` with its type too: YAML's ``1``, ``1.0`` and ``true`` are three
    different choices, though Python finds them equal."""
    return any(type(value) is type(c) and value == c for c in choices)
