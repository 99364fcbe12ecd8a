"""Call attempts and their provider events."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import AttemptRow, EventRow, json_copy
from dialer.domain.model import CallAttempt
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports.records import AttemptQuery, NewAttempt, RecordedEvent
from dialer.ports.telephony import ProviderEvent


def _by_id(rows: Iterable[AttemptRow]) -> list[CallAttempt]:
    return [row.attempt() for row in sorted(rows, key=lambda r: r.id)]


def _in_query(query: AttemptQuery, row: AttemptRow) -> bool:
    return (
        row.tenant_id == query.tenant_id
        and (query.before_id is None or row.id < query.before_id)
        and (query.campaign_id is None or row.campaign_id == query.campaign_id)
        and (not query.statuses or row.status in query.statuses)
        and (query.phone is None or row.phone == query.phone)
        and (query.since is None or row.created_at >= query.since)
        and (query.until is None or row.created_at < query.until)
    )


class MemoryAttempts(MemoryRepository):
    async def start(self, items: Sequence[NewAttempt], now: datetime) -> list[CallAttempt]:
        return [self._start(item, now).attempt() for item in items]

    def _start(self, item: NewAttempt, now: datetime) -> AttemptRow:
        """A QUEUED attempt; its lead is DIALING, one attempt more, this one its last."""
        lead = self._db.leads.get(item.lead.id)
        if lead is None:
            raise KeyError(f"lead {item.lead.id} does not exist")
        attempt = AttemptRow(
            id=self._db.attempts.next_id(),
            lead_id=lead.id,
            campaign_id=item.lead.campaign_id,
            tenant_id=lead.tenant_id,
            number=item.lead.attempts + 1,
            phone=item.lead.phone,
            caller_id=item.caller_id,
            status=AttemptStatus.QUEUED,
            lease_id=item.lease_id,
            lease_expires_at=item.lease_expires_at,
            created_at=now,
            traceparent=item.traceparent,
        )
        self._db.attempts.put(attempt.id, attempt)
        dialing = dataclasses.replace(
            lead,
            status=LeadStatus.DIALING,
            attempts=lead.attempts + 1,
            last_attempt_id=attempt.id,
            version=lead.version + 1,
            updated_at=now,
        )
        self._db.leads.put(lead.id, dialing)
        return attempt

    async def get(self, attempt_id: int, *, lock: bool = False) -> CallAttempt | None:
        row = self._db.attempts.get(attempt_id)
        return None if row is None else row.attempt()

    async def get_many(
        self, attempt_ids: Collection[int], *, lock: bool = False
    ) -> dict[int, CallAttempt]:
        found = (self._db.attempts.get(i) for i in sorted(attempt_ids))
        return {row.id: row.attempt() for row in found if row is not None}

    async def by_call_id(self, provider_call_id: str) -> CallAttempt | None:
        row = self._db.attempts.find("call", provider_call_id)
        return None if row is None else row.attempt()

    async def save(self, attempt: CallAttempt) -> None:
        row = self._db.attempts.get(attempt.id)
        if row is None:
            return
        saved = dataclasses.replace(
            row,
            status=attempt.status,
            provider_call_id=attempt.provider_call_id,
            lease_expires_at=attempt.lease_expires_at,
            initiated_at=attempt.initiated_at,
            answered_at=attempt.answered_at,
            ended_at=attempt.ended_at,
            duration=attempt.duration,
            hangup_cause=attempt.hangup_cause,
            answered_by=attempt.answered_by,
        )
        self._db.attempts.put(row.id, saved)

    async def save_many(self, attempts: Sequence[CallAttempt]) -> None:
        for attempt in attempts:
            await self.save(attempt)

    async def mark_sending_many(self, attempt_ids: Collection[int], now: datetime) -> set[int]:
        return {i for i in sorted(attempt_ids) if await self.mark_sending(i, now)}

    async def accept_many(self, accepted: Mapping[int, str], now: datetime) -> None:
        for attempt_id, call_id in sorted(accepted.items()):
            row = self._db.attempts.get(attempt_id)
            if row is None:
                continue
            queued = row.status is AttemptStatus.QUEUED
            accepted_row = dataclasses.replace(
                row,
                provider_call_id=row.provider_call_id or call_id,
                initiated_at=row.initiated_at or now,
                status=AttemptStatus.INITIATED if queued else row.status,
            )
            self._db.attempts.put(attempt_id, accepted_row)

    async def event_keys(self, attempt_ids: Collection[int]) -> set[tuple[int, str]]:
        events = (row for i in attempt_ids for row in self._db.events.group("attempt", i))
        return {(row.attempt_id, row.dedupe_key) for row in events}

    async def record_events(self, events: Sequence[RecordedEvent], now: datetime) -> None:
        for recorded in events:
            await self.record_event(recorded.attempt_id, recorded.event, recorded.effect, now)

    async def mark_sending(self, attempt_id: int, now: datetime) -> bool:
        row = self._db.attempts.get(attempt_id)
        if row is None or not row.is_unsent:
            return False
        self._db.attempts.put(attempt_id, dataclasses.replace(row, sent_at=now))
        return True

    async def record_event(
        self, attempt_id: int, event: ProviderEvent, effect: str, now: datetime
    ) -> bool:
        key = (attempt_id, event.dedupe_key)
        if self._db.events.get(key) is not None:
            return False
        row = EventRow(
            id=self._db.events.next_id(),
            attempt_id=attempt_id,
            provider_call_id=event.provider_call_id,
            dedupe_key=event.dedupe_key,
            progress=event.progress.value,
            occurred_at=event.occurred_at,
            received_at=now,
            effect=effect,
            payload=json_copy(dict(event.raw)),
        )
        self._db.events.put(key, row)
        return True

    async def expired(self, now: datetime, limit: int) -> list[CallAttempt]:
        ended = [
            row
            for row in self._db.attempts.group("live", True)
            if row.lease_expires_at is not None and row.lease_expires_at < now
        ]
        oldest = heapq.nsmallest(limit, ended, key=lambda r: (r.lease_expires_at or now, r.id))
        return [row.attempt() for row in oldest]

    async def live(self) -> list[CallAttempt]:
        return _by_id(self._db.attempts.group("live", True))

    async def find(self, query: AttemptQuery) -> list[CallAttempt]:
        rows = self._db.attempts.rows()
        if query.campaign_id is not None:
            rows = iter(self._db.attempts.group("campaign", query.campaign_id))
        found = [row for row in rows if _in_query(query, row)]
        newest = heapq.nlargest(query.limit, found, key=lambda r: r.id)
        return [row.attempt() for row in newest]

    async def of_lead(self, lead_id: int) -> list[CallAttempt]:
        return _by_id(self._db.attempts.group("lead", lead_id))

    async def unsent(self, created_before: datetime, limit: int) -> list[CallAttempt]:
        stranded = [
            row
            for row in self._db.attempts.group("unsent", True)
            if row.created_at < created_before
        ]
        oldest = heapq.nsmallest(limit, stranded, key=lambda r: (r.created_at, r.id))
        return [row.attempt() for row in oldest]
