"""The provider guard's state in this process: the domain's breaker and pacer, fed the
clock's time. The embedded default, and the fallback of the Redis backend while Redis fails."""

from __future__ import annotations

from dialer.domain.aimd import AimdPacer, AimdPolicy
from dialer.domain.breaker import Breaker, BreakerPolicy
from dialer.ports import Clock, CreateOutcome, GuardView


class LocalGuardState:
    def __init__(
        self,
        clock: Clock,
        breaker: BreakerPolicy | None = None,
        pacing: AimdPolicy | None = None,
    ) -> None:
        self._clock = clock
        self._breaker = Breaker(breaker or BreakerPolicy())
        self._pacer = AimdPacer(pacing or AimdPolicy())

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def room(self) -> int:
        now = self._now()
        permits = self._breaker.permits(now)
        allowance = self._pacer.allowance(now)
        return allowance if permits is None else min(permits, allowance)

    async def started(self, count: int) -> None:
        if count:
            self._pacer.started(self._now(), count)

    async def try_start(self) -> bool:
        return self._breaker.try_start(self._now())

    async def abandon(self) -> None:
        self._breaker.abandon(self._now())

    async def record(self, outcome: CreateOutcome) -> None:
        now = self._now()
        if outcome is CreateOutcome.THROTTLED:
            self._pacer.throttled(now)
        self._breaker.record(now, failed=outcome is CreateOutcome.FAILED)
        if outcome is CreateOutcome.ACCEPTED:
            self._pacer.succeeded(now)

    def view(self) -> GuardView:
        return GuardView(
            self._breaker.snapshot(self._now()),
            self._pacer.rate,
            self._pacer.policy.ceiling,
            self._pacer.decreases,
        )

    async def aclose(self) -> None:
        return None
