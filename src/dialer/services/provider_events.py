"""Provider events, recorded exactly once and written many to a transaction.

A listener under load receives thousands of status callbacks a second; one transaction each
would spend its CPU on round trips. ``EventWriter`` gathers the events that arrive while the
previous batch is being written (no timer: alone under light load, hundreds together under
heavy load) and writes each batch as one unit: the batch's attempts read under their locks
in one statement, their stored events' keys in one, the new events in one insert, the moved
attempts in one update, the ended attempts' leads read and decided, one commit — then the
ended calls' leases released in one admission script. Every request is answered after the
commit that stored its event: never a 2xx for an event not kept.

The batch's events for the tenants' webhooks go in its transaction: an attempt that leaves
QUEUED (the provider's word came before our own acceptance was written) is ``attempt.started``,
one that reaches ANSWERED is ``attempt.answered``, each in the order its event was applied and
before the ``attempt.ended`` and ``lead.finished`` of the same batch, so that a lead's
sequence follows the call.

A detection report (who answered, see ``ProviderEvent``) is recorded like any event and sets
the attempt's ``answered_by``; a call a machine answered ends as MACHINE. When it says a
machine's greeting has ended and the campaign has a voicemail, the request that brought it
asks the provider to leave the voicemail once the event is stored (at most once: a repeated
delivery is a duplicate, and leaves nothing).

One event's trouble is its own: an unknown attempt or a call id that belongs to another
attempt is that event's answer, decided before anything is written; a batch that fails as a
whole for any reason but the store's own unavailability is written again one event at a
time, so that only the culprit fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.domain import webhooks
from dialer.domain.costs import to_micros
from dialer.domain.machines import Voicemail, merge_answered_by
from dialer.domain.model import CallAttempt, Campaign
from dialer.domain.statuses import AttemptStatus, attempt_status_after
from dialer.errors import DialerError, NotFound, ProviderError, Unavailable
from dialer.observability import logs
from dialer.observability.scope import LateScope
from dialer.ports import ProviderEvent, RecordedEvent, UnitOfWork
from dialer.ports.answer_store import AnswerKey
from dialer.ports.cost_store import NewCharge
from dialer.services.answer_times import add_counts, increments
from dialer.services.budgets import settle_quietly
from dialer.services.calls import finish_with, lease_of
from dialer.services.coalescing import Coalescer
from dialer.services.context import Services
from dialer.services.costs import charge_calls, count_spend

log = logging.getLogger(__name__)

MAX_EVENTS_PER_BATCH = 500  # one transaction's worth: a few ms of work at most


@dataclass(frozen=True)
class Delivery:
    """One provider event as a webhook delivered it; ``attempt_id`` from our callback URL."""

    attempt_id: int | None
    event: ProviderEvent


@dataclass(frozen=True)
class EventResult:
    attempt_id: int
    effect: str  # the new status, "ignored" (stale or out of order) or "duplicate"
    attempt: CallAttempt | None = None  # as the event left it: its ids, for logs and traces
    voicemail: Voicemail | None = None  # to leave now: a machine's greeting has just ended


Outcome = EventResult | DialerError


# ------------------------------------------------------------------ one event


async def apply_event(
    services: Services, attempt_id: int | None, event: ProviderEvent
) -> EventResult:
    """Record one provider event exactly once and move the attempt (and, at its end, the
    lead): the reaper's and housekeeping's way in, and a batch of one."""
    with LateScope("provider event") as scope:
        [outcome] = await apply_events(services, [Delivery(attempt_id, event)])
        result = observed(scope, event, outcome)
    await leave_voicemail(services, result)
    return result


def observed(scope: LateScope, event: ProviderEvent, outcome: Outcome) -> EventResult:
    """Start the event's span in its attempt's trace (linked to the request that brought it),
    log the effect; raise the event's own error."""
    if isinstance(outcome, DialerError):
        raise outcome
    attempt = outcome.attempt
    if attempt is not None:
        fields = logs.attempt_fields(
            attempt.id, attempt.lead_id, attempt.campaign_id, event.provider_call_id
        )
        attributes = {"dialer.event": event.progress.value}
        scope.start(fields, parent=attempt.traceparent, attributes=attributes)
    scope.span.set_attribute("dialer.effect", outcome.effect)
    log.debug("provider event %s: %s", event.progress.value, outcome.effect)
    return outcome


# ------------------------------------------------------------------ a batch


async def apply_events(services: Services, deliveries: Sequence[Delivery]) -> list[Outcome]:
    """Each delivery's outcome, in order; the batch is one transaction. Raises only when the
    store could not be used at all (every event then goes unstored, and is asked again)."""
    try:
        return await _write_batch(services, deliveries)
    except (Unavailable, OSError):
        raise
    except Exception:
        if len(deliveries) == 1:
            raise
        log.warning("a batch of %d provider events failed; one at a time", len(deliveries))
        return [await _alone(services, delivery) for delivery in deliveries]


async def _alone(services: Services, delivery: Delivery) -> Outcome:
    try:
        [outcome] = await _write_batch(services, [delivery])
    except DialerError as exc:
        return exc
    return outcome


@dataclass
class _Batch:
    """What one batch found and changed, kept between its statements."""

    attempts: dict[int, CallAttempt]
    stored: set[tuple[int, str]]  # (attempt id, dedupe key) of the events already stored
    first_status: dict[int, AttemptStatus] = field(default_factory=dict)
    records: list[RecordedEvent] = field(default_factory=list)
    moved: dict[int, CallAttempt] = field(default_factory=dict)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    # (event type, attempt id) of the starts and answers, in the order they happened
    announced: list[tuple[str, int]] = field(default_factory=list)
    charged: list[NewCharge] = field(default_factory=list)  # the charges of the calls it ended
    answers: dict[AnswerKey, tuple[int, int]] = field(default_factory=dict)  # to count

    def ended(self) -> list[CallAttempt]:
        """The attempts this batch ended (or, from UNKNOWN, ended again)."""
        return [
            a
            for a in self.moved.values()
            if a.is_terminal and a.status is not self.first_status[a.id]
        ]

    async def campaign(self, uow: UnitOfWork, campaign_id: int) -> Campaign:
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = await uow.campaigns.get(campaign_id)
        return self.campaigns[campaign_id]


async def _write_batch(services: Services, deliveries: Sequence[Delivery]) -> list[Outcome]:
    now = services.clock.now()
    async with services.store.unit() as uow:
        ids = await _attempt_ids(uow, deliveries)
        found = await uow.attempts.get_many({i for i in ids if i is not None}, lock=True)
        batch = _Batch(found, await uow.attempts.event_keys(found))
        batch.first_status = {i: a.status for i, a in found.items()}
        outcomes = [
            _apply(services, batch, attempt_id, d.event, now)
            for attempt_id, d in zip(ids, deliveries, strict=True)
        ]
        await uow.attempts.record_events(batch.records, now)
        await uow.attempts.save_many(list(batch.moved.values()))
        await _finish(services, uow, batch, now)
        outcomes = [
            await _voicemail(uow, batch, d, o) for d, o in zip(deliveries, outcomes, strict=True)
        ]
        await uow.commit()
    await _after_commit(services, batch)
    return outcomes


async def _attempt_ids(uow: UnitOfWork, deliveries: Sequence[Delivery]) -> list[int | None]:
    """Each delivery's attempt: named by our callback URL, else found by the provider's id."""
    ids: list[int | None] = []
    for delivery in deliveries:
        attempt_id = delivery.attempt_id
        if attempt_id is None:
            found = await uow.attempts.by_call_id(delivery.event.provider_call_id)
            attempt_id = found.id if found else None
        ids.append(attempt_id)
    return ids


def _apply(
    services: Services,
    batch: _Batch,
    attempt_id: int | None,
    event: ProviderEvent,
    now: datetime,
) -> Outcome:
    attempt = batch.attempts.get(attempt_id) if attempt_id is not None else None
    if attempt is None:
        return NotFound(f"no attempt for call {event.provider_call_id}")
    if attempt.provider_call_id not in {None, event.provider_call_id}:
        return NotFound(f"attempt {attempt.id} belongs to another call")
    key = (attempt.id, event.dedupe_key)
    if key in batch.stored:
        return EventResult(attempt.id, "duplicate", attempt)
    batch.stored.add(key)
    answered_by = merge_answered_by(attempt.answered_by, event.answered_by)
    target = attempt_status_after(
        attempt.status,
        event.progress,
        was_answered=attempt.was_answered,
        by_machine=answered_by is not None and answered_by.is_machine,
    )
    learned = answered_by is not attempt.answered_by
    effect = target.value if target else f"answered by {answered_by}" if learned else "ignored"
    batch.records.append(RecordedEvent(attempt.id, event, effect))
    if target is None and not learned:
        log.info("attempt %s: %s after %s ignored", attempt.id, event.progress, attempt.status)
        return EventResult(attempt.id, effect, attempt)
    attempt.answered_by = answered_by
    if target is not None:
        _announce(batch, attempt, target)
        _apply_fields(attempt, event, target, now)
    if not attempt.is_terminal:
        # Progress renews the lease: the store's expiry is what the reaper and a rebuild
        # read, so it moves first; admission follows after the commit.
        attempt.lease_expires_at = now + timedelta(seconds=services.limits.lease_ttl)
    batch.moved[attempt.id] = attempt
    return EventResult(attempt.id, effect, attempt)


def _announce(batch: _Batch, attempt: CallAttempt, target: AttemptStatus) -> None:
    """Note the webhook events of this move. Each happens once per attempt: nothing moves
    back to QUEUED, nor into ANSWERED a second time."""
    if attempt.status is AttemptStatus.QUEUED:
        batch.announced.append((webhooks.ATTEMPT_STARTED, attempt.id))
    if target is AttemptStatus.ANSWERED:
        batch.announced.append((webhooks.ATTEMPT_ANSWERED, attempt.id))


def _apply_fields(
    attempt: CallAttempt, event: ProviderEvent, status: AttemptStatus, now: datetime
) -> None:
    # Our own clock, not the provider's timestamp: retries and windows are computed on it,
    # and the provider's time is kept with the event itself.
    attempt.status = status
    attempt.provider_call_id = attempt.provider_call_id or event.provider_call_id
    attempt.initiated_at = attempt.initiated_at or now
    if status is AttemptStatus.ANSWERED:
        attempt.answered_at = now
    if attempt.is_terminal:
        attempt.ended_at = now
        attempt.duration = event.duration if event.duration is not None else attempt.duration
        attempt.hangup_cause = event.hangup_cause or attempt.hangup_cause


async def _finish(services: Services, uow: UnitOfWork, batch: _Batch, now: datetime) -> None:
    """Write the starts and answers, then decide the leads of the attempts that ended: their
    leads read under locks at once, before any event takes a lead's sequence number (the
    order every writer takes them in: attempts, leads, then sequences)."""
    ended = batch.ended()
    leads = await uow.leads.get_many({a.lead_id for a in ended}, lock=True)
    for event_type, attempt_id in batch.announced:
        attempt = batch.moved[attempt_id]
        if event_type == webhooks.ATTEMPT_STARTED:
            await services.outbox.attempt_started(uow, attempt, now)
        else:
            await services.outbox.attempt_answered(uow, attempt, now)
    for attempt in ended:
        campaign = await batch.campaign(uow, attempt.campaign_id)
        lead = leads.get(attempt.lead_id)
        if lead is not None:
            await finish_with(services, uow, attempt, lead, campaign)
    batch.charged = await charge_calls(uow, services.pricing, services.telephony.name, ended, now)
    batch.answers = increments(ended, leads)


async def _voicemail(
    uow: UnitOfWork, batch: _Batch, delivery: Delivery, outcome: Outcome
) -> Outcome:
    """The outcome, with the voicemail to leave when its event (new, on a live call) says a
    machine's greeting has just ended and the campaign leaves one."""
    event = delivery.event
    if not isinstance(outcome, EventResult) or outcome.effect == "duplicate":
        return outcome
    attempt = outcome.attempt
    if attempt is None or attempt.is_terminal or not event.greeting_ended:
        return outcome
    detection = (await batch.campaign(uow, attempt.campaign_id)).settings.machine_detection
    voicemail = detection.voicemail_after(event.answered_by, True) if detection else None
    return dataclasses.replace(outcome, voicemail=voicemail) if voicemail else outcome


async def leave_voicemail(services: Services, result: EventResult) -> None:
    """Leave the result's voicemail on its live call. Its event is stored by now: a provider
    that refuses or cannot be reached is logged, and the call goes on as it would have."""
    attempt = result.attempt
    if result.voicemail is None or attempt is None or attempt.provider_call_id is None:
        return
    try:
        await services.telephony.leave_voicemail(attempt.provider_call_id, result.voicemail)
    except ProviderError as exc:
        log.warning("attempt %s: voicemail not left (%s)", attempt.id, exc)
        return
    log.info("attempt %s: voicemail left after the beep", attempt.id)


async def _after_commit(services: Services, batch: _Batch) -> None:
    """Admission follows the stored events. They are durable by now, so nothing here may fail
    their delivery (the provider would send them again, or worse, give up on a 4xx): a
    release that does not happen is reclaimed by lease expiry and the reconciler, a renewal
    that does not happen is restored by the reconciler from the store's expiry."""
    # An attempt that was UNKNOWN had its lease released when it became so.
    ended = [a for a in batch.ended() if batch.first_status[a.id] is not AttemptStatus.UNKNOWN]
    live = [a for a in batch.moved.values() if not a.is_terminal]
    try:
        if ended:
            await services.admission.release_many([lease_of(a) for a in ended])
    except Exception as exc:  # any failure at all: the stored events stand
        log.warning("%d leases not released now (%s); they will expire", len(ended), exc)
    # Budgets are settled to the real cost; a call whose cost is unknown, at its worst case.
    count_spend(batch.charged)
    await add_counts(services.store, batch.answers)
    costs = {charge.subject_id: to_micros(charge.amount) for charge in batch.charged}
    await settle_quietly(services, [(a.lease_id, costs.get(a.id)) for a in batch.ended()])
    if live:
        await asyncio.gather(*(_renew(services, attempt) for attempt in live))


async def _renew(services: Services, attempt: CallAttempt) -> None:
    try:
        renewed = await services.admission.renew(lease_of(attempt), services.limits.lease_ttl)
    except Exception as exc:  # any failure at all: the stored event stands
        log.warning("attempt %s: lease not renewed now (%s); the reconciler will", attempt.id, exc)
        return
    if not renewed:
        # Never end a live call over this: the reconciler restores the lease from the store.
        log.warning("attempt %s: lease was not live at renewal", attempt.id)


# ------------------------------------------------------------------ the listener's writer


class EventWriter:
    """A listener's provider events, gathered into batches (see the module's docstring)."""

    def __init__(self, services: Services, max_batch: int = MAX_EVENTS_PER_BATCH) -> None:
        self._services = services
        self._coalescer = Coalescer[Delivery, Outcome](
            lambda batch: apply_events(services, batch), max_batch
        )

    async def write(self, attempt_id: int | None, event: ProviderEvent) -> EventResult:
        """Store the event (with the others of its batch), then answer: raises the event's own
        error, or the store's when the batch could not be written."""
        with LateScope("provider event") as scope:
            outcome = await self._coalescer.submit(Delivery(attempt_id, event))
            result = observed(scope, event, outcome)
        await leave_voicemail(self._services, result)
        return result
