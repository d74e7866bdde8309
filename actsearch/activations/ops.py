"""Per-element operation counts: the unit every activation states its own cost in.

======== ====== ==========================================================================
kind     weight what it stands for
======== ====== ==========================================================================
cmp      1      a compare or select (max, where)
add      1      an add or subtract
mul      1      a multiply (a divide counts as one multiply by a reciprocal)
special  10     exp, log, erf, tanh or sqrt: a vectorized polynomial approximation costs
                about ten multiply-adds
rand     20     one random draw (counter-based hash plus, for a normal, a quantile map)
======== ====== ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields

WEIGHTS = {"cmp": 1, "add": 1, "mul": 1, "special": 10, "rand": 20}


@dataclass(frozen=True)
class OpCount:
    """Operations per element, by kind."""

    cmp: int = 0
    add: int = 0
    mul: int = 0
    special: int = 0
    rand: int = 0

    def __add__(self, other: OpCount) -> OpCount:
        return OpCount(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def flops(self) -> int:
        """Weighted FLOP equivalents per element."""
        return sum(getattr(self, f.name) * WEIGHTS[f.name] for f in fields(self))


NONE = OpCount()
GRAD_ACCUMULATE = OpCount(mul=1, add=1)  # per element, for one learnable scalar's gradient
