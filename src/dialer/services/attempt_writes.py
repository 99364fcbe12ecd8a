"""The worker's store work per call — the attempt read as its job starts, the sent marker
before the provider request, the provider's call id after it — done per batch: the jobs a
worker runs at once share one read, one transaction for their markers and one for their
acceptances (``Coalescer``). At-most-once is unchanged: each job waits for the commit of its
own marker before its request.

An acceptance that moves an attempt out of QUEUED is its ``attempt.started`` event, written to
the outbox in the batch's transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from dialer.domain import webhooks
from dialer.domain.model import CallAttempt
from dialer.domain.statuses import AttemptStatus
from dialer.ports import Clock, Store, UnitOfWork
from dialer.services.coalescing import Coalescer
from dialer.services.webhook_events import Outbox

MAX_WRITES_PER_BATCH = 500


class AttemptWrites:
    def __init__(self, store: Store, clock: Clock, outbox: Outbox) -> None:
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._markers = Coalescer[int, bool](self._mark_sending, MAX_WRITES_PER_BATCH)
        self._acceptances = Coalescer[tuple[int, str], None](self._accept, MAX_WRITES_PER_BATCH)
        self._reads = Coalescer[int, CallAttempt | None](self._read, MAX_WRITES_PER_BATCH)

    async def read(self, attempt_id: int) -> CallAttempt | None:
        """The attempt as stored (read without a lock, with the others of its batch)."""
        return await self._reads.submit(attempt_id)

    async def mark_sending(self, attempt_id: int) -> bool:
        """Take the attempt's sent marker (committed when this returns); False when it was
        taken before, or the attempt has ended."""
        return await self._markers.submit(attempt_id)

    async def accept(self, attempt_id: int, call_id: str) -> None:
        """The provider created the attempt's call (committed when this returns)."""
        await self._acceptances.submit((attempt_id, call_id))

    async def _mark_sending(self, attempt_ids: list[int]) -> Sequence[bool]:
        async with self._store.unit() as uow:
            marked = await uow.attempts.mark_sending_many(attempt_ids, self._clock.now())
            await uow.commit()
        # One job held twice in a batch (a redelivery beside the original) is sent once.
        answers = []
        for attempt_id in attempt_ids:
            answers.append(attempt_id in marked)
            marked.discard(attempt_id)
        return answers

    async def _read(self, attempt_ids: list[int]) -> Sequence[CallAttempt | None]:
        async with self._store.unit() as uow:
            found = await uow.attempts.get_many(set(attempt_ids))
        return [found.get(attempt_id) for attempt_id in attempt_ids]

    async def _accept(self, accepted: list[tuple[int, str]]) -> Sequence[None]:
        async with self._store.unit() as uow:
            await accept_many(uow, self._outbox, dict(accepted), self._clock.now())
            await uow.commit()
        return [None] * len(accepted)


async def accept_many(
    uow: UnitOfWork, outbox: Outbox, accepted: Mapping[int, str], now: datetime
) -> None:
    """Keep each attempt's call id and INITIATE the QUEUED ones, announcing those in ``uow``
    (``attempt.started``). The attempts are read, under their locks, only when some tenant
    subscribes to the event: without endpoints an acceptance stays one statement. The locks
    order this against a provider event moving the same attempt: whichever moves it out of
    QUEUED first announces it, once."""
    started: list[CallAttempt] = []
    if await outbox.wanted_by_anyone(uow, webhooks.ATTEMPT_STARTED):
        found = await uow.attempts.get_many(accepted.keys(), lock=True)
        started = [_initiated(a, accepted[a.id], now) for a in found.values() if _queued(a)]
    await uow.attempts.accept_many(accepted, now)
    for attempt in started:
        await outbox.attempt_started(uow, attempt, now)


def _queued(attempt: CallAttempt) -> bool:
    return attempt.status is AttemptStatus.QUEUED


def _initiated(attempt: CallAttempt, call_id: str, now: datetime) -> CallAttempt:
    """The attempt as ``accept_many`` leaves a QUEUED one."""
    return dataclasses.replace(
        attempt,
        status=AttemptStatus.INITIATED,
        provider_call_id=attempt.provider_call_id or call_id,
        initiated_at=attempt.initiated_at or now,
    )
