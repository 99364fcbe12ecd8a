"""Pacing math shared by every admission backend: the generic cell rate algorithm (GCRA).

GCRA keeps one number per limiter, the theoretical arrival time (TAT) of the next call. A call
at ``now`` is allowed when ``TAT - now <= burst_tolerance``; allowing it pushes TAT one emission
interval later. It is exact, needs no background refill, and is what the Redis script does too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gcra:
    interval: float  # seconds between calls at the sustained rate
    burst: int  # calls allowed back to back

    @property
    def tolerance(self) -> float:
        return self.interval * (self.burst - 1)

    def allows(self, tat: float, now: float) -> bool:
        return max(tat, now) - now <= self.tolerance + 1e-9

    def after_allow(self, tat: float, now: float) -> float:
        return max(tat, now) + self.interval

    def earliest(self, tat: float, now: float) -> float:
        """The first instant from ``now`` at which a call would be allowed."""
        return max(now, tat - self.tolerance)

    def wait(self, tat: float, now: float) -> float:
        """Seconds until the next call would be allowed (0 when allowed now)."""
        if self.allows(tat, now):
            return 0.0
        return max(tat, now) - now - self.tolerance

    def capacity(self, tat: float, now: float) -> int:
        """How many calls may start right now, back to back."""
        headroom = self.tolerance - (max(tat, now) - now)
        return max(0, int(headroom / self.interval + 1e-9) + 1) if headroom >= -1e-9 else 0
