"""A circuit breaker for one provider account: pure decisions, time passed in.

Closed, it counts the outcomes of creates over a sliding window (one-second buckets). When at
least ``min_calls`` were counted and the failed share reaches ``failure_ratio``, it opens: no
call is started for ``open_seconds``. Then it half-opens and lets ``probes`` calls through; the
first failure reopens it, ``probes`` successes close it with a fresh window.

What counts as a failure is the caller's choice (see services/provider_guard.py): the
provider not answering, or answering 5xx, or refusing our credentials. A bad number refused by
a healthy provider is a success for the breaker: it says nothing about the provider's health.

Time is a float of seconds on any monotonic scale (the dispatcher passes its clock's epoch
seconds); a clock that steps back is treated as no time passing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls flow; outcomes are counted
    OPEN = "open"  # no call is started until ``open_seconds`` have passed
    HALF_OPEN = "half_open"  # a few probe calls decide between closed and open


@dataclass(frozen=True)
class BreakerPolicy:
    failure_ratio: float = 0.5
    window_seconds: float = 60.0
    min_calls: int = 20
    open_seconds: float = 30.0
    probes: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ValueError(f"failure_ratio must be in (0, 1], not {self.failure_ratio}")
        if self.window_seconds < 1 or self.open_seconds <= 0:
            raise ValueError("window_seconds must be >= 1 and open_seconds > 0")
        if self.min_calls < 1 or self.probes < 1:
            raise ValueError("min_calls and probes must be at least 1")


@dataclass
class _Bucket:
    second: int
    calls: int = 0
    failures: int = 0


@dataclass(frozen=True)
class BreakerSnapshot:
    """What an operator or a metrics exporter needs to see."""

    state: BreakerState
    calls: int  # outcomes in the window (closed) or probe results so far (half-open)
    failures: int
    opened_at: float | None
    retry_at: float | None  # when an open breaker half-opens
    times_opened: int


@dataclass
class Breaker:
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    state: BreakerState = BreakerState.CLOSED
    opened_at: float | None = None
    times_opened: int = 0
    probes_started: int = 0
    probe_successes: int = 0
    _buckets: deque[_Bucket] = field(default_factory=deque)
    _calls: int = 0
    _failures: int = 0
    _latest: float = float("-inf")

    # ------------------------------------------------------------ decisions

    def permits(self, now: float) -> int | None:
        """How many calls may start now: None for no limit (closed), 0 while open, the probes
        not yet started while half-open."""
        self._advance(now)
        if self.state is BreakerState.CLOSED:
            return None
        if self.state is BreakerState.OPEN:
            return 0
        return max(0, self.policy.probes - self.probes_started)

    def try_start(self, now: float) -> bool:
        """Take permission for one call: always while closed, one probe while half-open."""
        allowed = self.permits(now)
        if allowed is None:
            return True
        if allowed == 0:
            return False
        self.probes_started += 1
        return True

    def abandon(self, now: float) -> None:
        """A call permitted by ``try_start`` was never sent (cancelled): its probe is free."""
        self._advance(now)
        if self.state is BreakerState.HALF_OPEN and self.probes_started > 0:
            self.probes_started -= 1

    def record(self, now: float, *, failed: bool) -> None:
        """The outcome of one create."""
        self._advance(now)
        if self.state is BreakerState.CLOSED:
            self._count(now, failed)
            if self._tripped():
                self._open(now)
        elif self.state is BreakerState.HALF_OPEN:
            if failed:
                self._open(now)
            else:
                self.probe_successes += 1
                if self.probe_successes >= self.policy.probes:
                    self._close()
        # OPEN: late results of calls started before it opened change nothing.

    def snapshot(self, now: float) -> BreakerSnapshot:
        self._advance(now)
        if self.state is BreakerState.HALF_OPEN:
            calls, failures = self.probe_successes, 0
        else:
            calls, failures = self._calls, self._failures
        retry_at = None
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            retry_at = self.opened_at + self.policy.open_seconds
        return BreakerSnapshot(
            self.state, calls, failures, self.opened_at, retry_at, self.times_opened
        )

    # ------------------------------------------------------------ state changes

    def _advance(self, now: float) -> None:
        now = max(now, self._latest)
        self._latest = now
        opened_at = self.opened_at
        if self.state is BreakerState.OPEN and opened_at is not None:
            self._maybe_half_open(now, opened_at)
        self._expire(now)

    def _maybe_half_open(self, now: float, opened_at: float) -> None:
        if now >= opened_at + self.policy.open_seconds:
            self.state = BreakerState.HALF_OPEN
            self.probes_started = self.probe_successes = 0

    def _open(self, now: float) -> None:
        self.state, self.opened_at = BreakerState.OPEN, max(now, self._latest)
        self.times_opened += 1
        self._reset_window()

    def _close(self) -> None:
        self.state, self.opened_at = BreakerState.CLOSED, None
        self._reset_window()

    # ------------------------------------------------------------ the window

    def _count(self, now: float, failed: bool) -> None:
        second = int(now // 1)
        if not self._buckets or self._buckets[-1].second < second:
            self._buckets.append(_Bucket(second))
        bucket = self._buckets[-1]
        bucket.calls += 1
        bucket.failures += int(failed)
        self._calls += 1
        self._failures += int(failed)

    def _expire(self, now: float) -> None:
        oldest = int(now // 1) - int(self.policy.window_seconds) + 1
        while self._buckets and self._buckets[0].second < oldest:
            gone = self._buckets.popleft()
            self._calls -= gone.calls
            self._failures -= gone.failures

    def _tripped(self) -> bool:
        return (
            self._calls >= self.policy.min_calls
            and self._failures >= self.policy.failure_ratio * self._calls
        )

    def _reset_window(self) -> None:
        self._buckets.clear()
        self._calls = self._failures = 0


@dataclass(frozen=True)
class ProviderHealth:
    """One provider account's breaker and pacing as last published (for ``dialer status``)."""

    account: str  # provider:account
    breaker_state: BreakerState
    times_opened: int
    retry_at: datetime | None  # when an open breaker half-opens
    rate: float  # calls per second the pacing allows
    ceiling: float
    updated_at: datetime
