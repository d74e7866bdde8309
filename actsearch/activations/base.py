"""What every activation shares: declared parameters, validation, the progress hook and its config."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from actsearch.activations.ops import NONE, OpCount
from actsearch.errors import ConfigError, shown


@dataclass(frozen=True)
class Param:
    """One constructor parameter of an activation: its type, default and allowed values."""

    default: Any
    kind: type = float  # float, int, bool or str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be > low, not >= low
    choices: tuple[str, ...] | None = None

    def allowed(self, key: str) -> str:
        if self.choices is not None:
            return f"one of {', '.join(self.choices)}"
        if self.kind is bool:
            return "true or false"
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            return f"{key} in {left}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{key} {'>' if self.low_open else '>='} {self.low:g}"
        return f"a finite {self.kind.__name__}"

    def check(self, owner: str, key: str, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type, or raise ConfigError saying why not.

        Numbers must be finite, representable as a float (no int beyond 1.8e308) and, when not
        zero, normal (no subnormal below 2.2e-308: ``1 / x`` of one overflows).
        """

        def fail(problem: str) -> ConfigError:
            return ConfigError(
                f"activation '{owner}': parameter '{key}' = {shown(value)} {problem}; allowed: {self.allowed(key)}"
            )

        if self.choices is not None:
            if not isinstance(value, str) or value not in self.choices:
                raise fail("is not a valid choice")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise fail("has the wrong type")
            return value
        # bool is an int subclass, but `alpha: true` in a YAML file is a mistake, not 1.0.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("has the wrong type")
        try:
            number = float(value)
        except OverflowError:  # an int beyond the largest float
            raise fail("is too large") from None
        if not math.isfinite(number):
            raise fail("is not finite")
        if self.kind is int and not number.is_integer():
            raise fail("is not an integer")
        if number != 0 and abs(number) < sys.float_info.min:
            raise fail(f"is subnormal (nonzero but below {sys.float_info.min:.1e}); use 0 or a larger value")
        value = int(value) if self.kind is int else number
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise fail("is out of range")
        if self.high is not None and value > self.high:
            raise fail("is out of range")
        return value


class Activation(nn.Module):
    """Base of every activation actsearch builds.

    Subclasses declare ``name`` (the registry key), ``params`` (constructor parameters with
    defaults and ranges) and accept exactly those keyword arguments.
    """

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    # Per-element forward cost at inference, and what training adds (noise drawn only in
    # training, a learnable parameter's gradient). Every subclass states its own.
    ops: ClassVar[OpCount]
    train_ops: ClassVar[OpCount] = NONE

    def __init__(self, **kwargs: Any):
        super().__init__()
        self._config = {"name": self.name, **self.validate(kwargs)}

    @classmethod
    def validate(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Complete ``kwargs`` with defaults and check every value; raise ConfigError on any problem."""
        unknown = sorted(set(kwargs) - set(cls.params), key=str)  # keys of a YAML mapping may be any scalar
        if unknown:
            known = ", ".join(cls.params) or "none"
            raise ConfigError(
                f"activation '{cls.name}': unknown parameter {shown(unknown[0])}; its parameters are: {known}"
            )
        return {k: spec.check(cls.name, k, kwargs.get(k, spec.default)) for k, spec in cls.params.items()}

    @classmethod
    def op_count(cls, config: dict[str, Any], training: bool = False) -> OpCount:
        """Per-element operations of the forward pass of ``config`` (a validated config)."""
        return cls.ops + cls.train_ops if training else cls.ops

    @classmethod
    def label(cls, config: dict[str, Any]) -> str:
        """A short readable name of a validated config: ``sr_relu(eta=0.5, T=1.25)``."""
        parts = [f"{k}={_fmt(v)}" for k, v in config.items() if k != "name"]
        return f"{cls.name}({', '.join(parts)})" if parts else cls.name

    def config(self) -> dict[str, Any]:
        """The mapping ``build_activation`` turns back into an equal module."""
        return dict(self._config)

    def set_progress(self, progress: float) -> None:
        """Tell the activation how far training is (0 at the start, 1 at the end).

        The trainer calls this every epoch; deterministic activations ignore it.
        """

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items() if k != "name")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


SCHEDULES = ("constant", "cosine", "linear")


def scheduled(start: float, end: float, schedule: str, progress: float) -> float:
    """Value of an annealed hyperparameter at training progress ``progress`` in [0, 1].

    cosine: end + (start - end) * (1 + cos(pi * p)) / 2, the N-ReLU seed's eq. 9 with a floor.
    """
    p = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return start
    if schedule == "cosine":
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * p))
    if schedule == "linear":
        return start + (end - start) * p
    raise ConfigError(f"unknown schedule '{schedule}'; allowed: one of {', '.join(SCHEDULES)}")
