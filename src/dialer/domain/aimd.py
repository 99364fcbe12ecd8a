"""Adaptive pacing for one provider: additive increase, multiplicative decrease (AIMD).

The provider's own calls-per-second limit is often unknown, shared with other software on the
same account, or lowered without notice. A 429 (or a CPS refusal) is its way of saying so, and
the answer is to slow down at once and speed up carefully: each refusal multiplies the start
rate by ``decrease`` (at most once per ``cooldown_seconds``, so one burst of refusals from one
tick counts once), and every second of creates without a refusal adds ``step`` starts per second,
up to ``ceiling``. The rate never goes under ``floor``: a provider is always probed.

Starts are drawn from a token bucket refilled at the current rate, holding at most one second
of starts (at least one start). Pure: time is passed in, in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AimdPolicy:
    ceiling: float = 100.0  # starts per second when nothing is refused
    floor: float = 1.0
    decrease: float = 0.5  # rate multiplier on a refusal
    step: float = 1.0  # starts per second added per second of success
    cooldown_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling:
            raise ValueError(f"need 0 < floor <= ceiling, got {self.floor} and {self.ceiling}")
        if not 0 < self.decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), not {self.decrease}")
        if self.step <= 0 or self.cooldown_seconds < 0:
            raise ValueError("step must be > 0 and cooldown_seconds >= 0")


@dataclass
class AimdPacer:
    policy: AimdPolicy = field(default_factory=AimdPolicy)
    rate: float = math.nan  # starts per second now; the ceiling until the first refusal
    tokens: float = math.nan
    decreases: int = 0
    _stamp: float | None = None  # last refill
    _last_decrease: float = float("-inf")
    _last_increase: float = float("-inf")

    def __post_init__(self) -> None:
        if math.isnan(self.rate):
            self.rate = self.policy.ceiling
        if math.isnan(self.tokens):
            self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate)

    def allowance(self, now: float) -> int:
        """How many calls may start now, back to back."""
        self._refill(now)
        return int(self.tokens + 1e-9)

    def started(self, now: float, count: int) -> None:
        self._refill(now)
        self.tokens = max(0.0, self.tokens - count)

    def throttled(self, now: float) -> None:
        """The provider refused a create for its rate: slow down (once per cooldown)."""
        self._refill(now)
        if now - self._last_decrease < self.policy.cooldown_seconds:
            return
        self.rate = max(self.policy.floor, self.rate * self.policy.decrease)
        self.tokens = min(self.tokens, self.capacity)
        self._last_decrease = self._last_increase = now
        self.decreases += 1

    def succeeded(self, now: float) -> None:
        """A create the provider accepted: one step up per second of success."""
        self._refill(now)
        if self.rate >= self.policy.ceiling or now - self._last_increase < 1.0:
            return
        self.rate = min(self.policy.ceiling, self.rate + self.policy.step)
        self._last_increase = now

    def _refill(self, now: float) -> None:
        if self._stamp is None or now < self._stamp:
            self._stamp = now if self._stamp is None else self._stamp
            return
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
