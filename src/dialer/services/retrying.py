"""Retries in place, for the failures that are certainly safe to retry.

``RetryingTelephony`` retries a create the provider certainly did not perform — it answered
5xx, refused the connection, or said 429 with a short Retry-After — a few times with a
doubling back-off, for the same attempt under the same lease. It never retries a create
whose outcome is unknown (a timeout after sending: the call may exist), a definitive refusal,
or refused credentials (no retry will fix those). When the retries are spent, the error goes
up to ``services.calls.originate``, which voids the attempt and puts the lead back in the
queue with its attempts unspent: the dispatcher retries it later, under a new admission.

``RetryingAdmission`` retries the idempotent admission operations (release, renew) when
the backend did not answer: a release lost to a Redis restart would otherwise hold a slot
until the lease expires. Acquiring is never retried: a script that may have run is not run
twice. A send slot is (``reserve_send``): one taken twice only spaces the sends more.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import TypeVar

from dialer.domain.machines import Voicemail
from dialer.domain.phone import mask
from dialer.errors import ProviderAuthFailed, ProviderThrottled, ProviderUnavailable
from dialer.ports import (
    Admission,
    AdmissionResult,
    CallPrice,
    CallRequest,
    Lease,
    ProviderEvent,
    Scope,
    SendSlot,
    Store,
    Telephony,
    Usage,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_WAIT_SECONDS = 5.0  # a longer Retry-After is the dispatcher's business, not a worker's


def backoff_delay(base: float, retry: int, rng: random.Random) -> float:
    """``base`` doubled per retry, with ±20 % jitter so that retries do not march in step."""
    return float(base * 2**retry * rng.uniform(0.8, 1.2))


class RetryingTelephony:
    def __init__(
        self,
        inner: Telephony,
        retries: int = 3,
        backoff: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.leaves_voicemail = inner.leaves_voicemail
        self.reports_prices = inner.reports_prices
        self.retries = retries
        self.backoff = backoff
        self._rng = rng or random.Random()

    async def create_call(self, request: CallRequest) -> str:
        for retry in range(self.retries + 1):
            try:
                return await self.inner.create_call(request)
            except ProviderAuthFailed:
                raise
            except (ProviderUnavailable, ProviderThrottled) as exc:
                wait = self._wait(exc, retry)
                if wait is None:
                    raise
                log.info(
                    "create to %s not performed (%s); retry %d in %.1f s",
                    mask(request.to),
                    exc,
                    retry + 1,
                    wait,
                )
                await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last retry returns or raises")

    def _wait(self, exc: ProviderUnavailable | ProviderThrottled, retry: int) -> float | None:
        """Seconds to wait before the next try; None to give up now."""
        if retry >= self.retries:
            return None
        asked = getattr(exc, "retry_after", None)  # a 429's Retry-After, a breaker's wait
        if asked is not None and asked > MAX_WAIT_SECONDS:
            return None
        return max(backoff_delay(self.backoff, retry, self._rng), asked or 0.0)

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


class RetryingAdmission:
    """Admission whose release and renew are retried while ``unavailable(error)`` holds."""

    def __init__(
        self,
        inner: Admission,
        unavailable: Callable[[BaseException], bool],
        retries: int = 3,
        backoff: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.unavailable = unavailable
        self.retries = retries
        self.backoff = backoff
        self._rng = rng or random.Random()

    async def release(self, lease: Lease) -> bool:
        return await self._retried(lambda: self.inner.release(lease))

    async def release_many(self, leases: Sequence[Lease]) -> int:
        return await self._retried(lambda: self.inner.release_many(leases))

    async def renew(self, lease: Lease, ttl: float) -> bool:
        return await self._retried(lambda: self.inner.renew(lease, ttl))

    async def reserve_send(self, scope: Scope, max_wait: float) -> SendSlot:
        return await self._retried(lambda: self.inner.reserve_send(scope, max_wait))

    async def _retried(self, operation: Callable[[], Awaitable[T]]) -> T:
        for retry in range(self.retries + 1):
            try:
                return await operation()
            except Exception as exc:
                if retry >= self.retries or not self.unavailable(exc):
                    raise
                log.info("admission did not answer (%s); retry %d", exc, retry + 1)
                await asyncio.sleep(backoff_delay(self.backoff, retry, self._rng))
        raise AssertionError("unreachable: the last retry returns or raises")

    async def acquire_batch(
        self, scope: Scope, requests: Sequence[tuple[str, str]], ttl: float
    ) -> list[AdmissionResult]:
        return await self.inner.acquire_batch(scope, requests, ttl)

    async def headroom(self, scope: Scope) -> int:
        return await self.inner.headroom(scope)

    async def usage(self) -> Usage:
        return await self.inner.usage()

    async def needs_rebuild(self) -> bool:
        return await self.inner.needs_rebuild()

    async def ping(self) -> None:
        await self.inner.ping()

    async def rebuild(self, leases: Sequence[Lease]) -> bool:
        return await self.inner.rebuild(leases)

    async def restore(self, leases: Sequence[Lease]) -> int:
        return await self.inner.restore(leases)

    async def prune(self, keep: Collection[str], grace: float) -> int:
        return await self.inner.prune(keep, grace)


class OwnCallsOnly:
    """Telephony whose lookup never hands an attempt a call that another attempt owns.

    ``find_call`` matches a call by number, caller ID and start time. A retry to the same
    number soon after the previous attempt (seconds, under a short retry delay) would find
    that attempt's call and adopt it: the attempt would take someone else's outcome, and the
    store, which keeps a call id unique, refuses the update — for the reaper, every pass.
    A call already recorded for another attempt is therefore no answer."""

    def __init__(self, inner: Telephony, store: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.leaves_voicemail = inner.leaves_voicemail
        self.reports_prices = inner.reports_prices
        self.store = store

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        call_id = await self.inner.find_call(request, since)
        if call_id is None:
            return None
        async with self.store.unit() as uow:
            owner = await uow.attempts.by_call_id(call_id)
        if owner is not None and owner.id != request.attempt_id:
            log.info("call %s belongs to attempt %s, not %s", call_id, owner.id, request.attempt_id)
            return None
        return call_id

    async def create_call(self, request: CallRequest) -> str:
        return await self.inner.create_call(request)

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        return await self.inner.fetch_call(provider_call_id)

    async def hang_up(self, provider_call_id: str) -> None:
        await self.inner.hang_up(provider_call_id)

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        return await self.inner.call_price(provider_call_id)

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        await self.inner.leave_voicemail(provider_call_id, voicemail)

    async def aclose(self) -> None:
        await self.inner.aclose()
