"""Start rates: how many calls (or messages) may begin per second, and in a burst."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Calls per second with a burst: the most calls that may start back to back."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @classmethod
    def per_period(cls, calls: int, seconds: int, burst: int | None = None) -> Rate:
        """``calls`` per ``seconds`` sustained (a GCRA limiter), at most ``burst`` back to back
        (by default the period's share of one second, at least one)."""
        per_second = calls / seconds
        return cls(per_second, burst or max(1, math.ceil(per_second)))


Rates = tuple[Rate, ...]
