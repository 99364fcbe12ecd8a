"""Protecting the provider and the contacts during a provider's bad day.

One ``ProviderGuard`` per provider account holds its circuit breaker and its adaptive pacer
(both pure domain logic, fed the clock's time here). ``GuardedTelephony`` wraps the adapter:
every create's outcome is reported to the guard, and while the breaker is open a create is
refused *before* any request is made (``CircuitOpen``, a not-created error, so the lead is put
back without spending an attempt). The dispatcher asks ``room()`` before claiming: while the
breaker is open it claims nothing for this provider, and the pacer caps how many calls start
per tick.

What counts, for the breaker (see docs/providers.md):

=========================================  ================  ==========================
create outcome                             breaker           pacer
=========================================  ================  ==========================
accepted (a call id came back)             success           one step up per second
ProviderRejected (bad number, 4xx)         success: the      -
                                           provider is up
ProviderThrottled (429, CPS)               success: the      multiplicative decrease
                                           provider is up
ProviderAuthFailed (401/403)               failure           -
ProviderUnavailable (5xx, refused, pool)   failure           -
ProviderOutcomeUnknown (timeout)           failure           -
=========================================  ================  ==========================

A 429 goes to the pacer, and counts as a sign of life for the breaker: the provider is
healthy and said exactly what it wants (fewer starts per second); opening the breaker on it
would turn a rate problem into an outage. A timeout counts as a failure even though the call
may exist: a provider that does not answer in time is not healthy.

The guard's state sits behind the ``GuardBackend`` port. Embedded, it lives in the process
(``adapters/guard/memory.py``). With DIALER_REDIS_URL it is shared through Redis
(``adapters/guard/redis.py``): failures seen by any worker open the breaker for every
dispatcher and worker, the half-open probes are counted once for all, and a 429 seen anywhere
lowers the one paced rate. If Redis fails, each process decides on its own state meanwhile.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from dialer import metrics
from dialer.domain.breaker import BreakerSnapshot, BreakerState, ProviderHealth
from dialer.domain.machines import Voicemail
from dialer.errors import (
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.ports import (
    CallPrice,
    CallRequest,
    Clock,
    CreateOutcome,
    GuardBackend,
    ProviderEvent,
    Store,
    Telephony,
)

log = logging.getLogger(__name__)


class CircuitOpen(ProviderUnavailable):
    """Not sent: the provider's circuit breaker is open. Nothing reached the provider."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class GuardState:
    """The guard as metrics and ``dialer status`` show it."""

    account: str
    breaker: BreakerSnapshot
    rate: float  # starts per second the pacer allows now
    ceiling: float
    rate_decreases: int

    def describe(self) -> str:
        text = f"provider {self.account}: breaker {self.breaker.state.value}"
        if self.breaker.retry_at is not None:
            text += f" (half-opens at {datetime.fromtimestamp(self.breaker.retry_at):%H:%M:%S})"
        return text + f", pacing {self.rate:g}/{self.ceiling:g} calls/s"


def create_outcome(error: ProviderError | None) -> CreateOutcome:
    """What a sent create's result (None: accepted) tells the guard (the table above)."""
    if error is None:
        return CreateOutcome.ACCEPTED
    if isinstance(error, ProviderThrottled):
        return CreateOutcome.THROTTLED
    if isinstance(error, ProviderRejected):
        return CreateOutcome.REJECTED
    return CreateOutcome.FAILED


class ProviderGuard:
    def __init__(self, account: str, state: GuardBackend, clock: Clock) -> None:
        self.account = account
        self._state = state
        self._clock = clock

    # ------------------------------------------------------------ the dispatcher's side

    async def room(self) -> int:
        """How many calls may start now for this provider (breaker and pacer together)."""
        return await self._state.room()

    async def started(self, count: int) -> None:
        await self._state.started(count)

    # ------------------------------------------------------------ the adapter's side

    async def admit_create(self) -> None:
        """Before a create is sent: raise CircuitOpen while the breaker refuses it."""
        if not await self._state.try_start():
            retry_at = self._state.view().breaker.retry_at
            now = self._clock.now().timestamp()
            retry_after = max(1.0, retry_at - now) if retry_at is not None else None
            raise CircuitOpen(f"circuit open for {self.account}", retry_after)

    async def record(self, error: ProviderError | None) -> None:
        """The outcome of one create that was sent (None: accepted)."""
        before = self._state.view().breaker.state
        await self._state.record(create_outcome(error))
        after = self._state.view().breaker.state
        if after is not before:
            log.warning("provider %s: circuit breaker %s -> %s", self.account, before, after)

    async def abandon(self) -> None:
        """A create admitted by ``admit_create`` was never sent (its task was cancelled)."""
        await self._state.abandon()

    async def aclose(self) -> None:
        await self._state.aclose()

    def state(self) -> GuardState:
        """As of this process's latest operation on the guard."""
        view = self._state.view()
        return GuardState(self.account, view.breaker, view.rate, view.ceiling, view.decreases)

    def health(self) -> ProviderHealth:
        state = self.state()
        retry_at = state.breaker.retry_at
        return ProviderHealth(
            self.account,
            state.breaker.state,
            state.breaker.times_opened,
            datetime.fromtimestamp(retry_at, UTC) if retry_at is not None else None,
            state.rate,
            state.ceiling,
            self._clock.now(),
        )

    @property
    def is_open(self) -> bool:
        return self._state.view().breaker.state is BreakerState.OPEN


class HealthPublisher:
    """Stores the guard's state for other processes (``dialer status``): at once when the
    breaker changes state, and a rate change at most every ``every`` real seconds."""

    def __init__(self, guard: ProviderGuard, store: Store, every: float = 2.0) -> None:
        self._guard = guard
        self._store = store
        self._every = every
        self._last: tuple[BreakerState, int, float] | None = None
        self._last_at = float("-inf")

    async def maybe_publish(self) -> bool:
        health = self._guard.health()
        key = (health.breaker_state, health.times_opened, round(health.rate, 1))
        if key == self._last:
            return False
        state_changed = self._last is None or key[:2] != self._last[:2]
        if not state_changed and time.monotonic() - self._last_at < self._every:
            return False
        async with self._store.unit() as uow:
            await uow.providers.save_health(health)
            await uow.commit()
        self._last, self._last_at = key, time.monotonic()
        return True


class GuardedTelephony:
    """The ``Telephony`` port with its guard in front of every create."""

    def __init__(self, inner: Telephony, guard: ProviderGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.name = inner.name
        self.leaves_voicemail = inner.leaves_voicemail
        self.reports_prices = inner.reports_prices

    async def create_call(self, request: CallRequest) -> str:
        await self.guard.admit_create()
        try:
            call_id = await self.inner.create_call(request)
        except ProviderError as exc:
            await self.guard.record(exc)
            metrics.provider_errors.labels(self.guard.account, metrics.error_kind(exc)).inc()
            raise
        except BaseException:
            await self.guard.abandon()
            raise
        await self.guard.record(None)
        return call_id

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        return await self.inner.fetch_call(provider_call_id)

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        return await self.inner.find_call(request, since)

    async def hang_up(self, provider_call_id: str) -> None:
        await self.inner.hang_up(provider_call_id)

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        return await self.inner.call_price(provider_call_id)

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        await self.inner.leave_voicemail(provider_call_id, voicemail)

    async def aclose(self) -> None:
        await self.inner.aclose()
        await self.guard.aclose()
