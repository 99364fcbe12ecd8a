"""The outbox: events for tenants' webhook endpoints, written in the transaction of the
change they report, so that an event is never lost and never sent for a change that rolled
back. The delivery loop (``webhook_delivery``) sends them after the commit.

Most changes happen with nobody listening, so the hot path must not pay for webhooks it does
not have: which tenants subscribe to which event types is cached in the process for
``ttl`` seconds (one query per refresh), and an event nobody subscribes to costs a dict
lookup. An endpoint added through another process starts receiving events within ``ttl``;
one added through this process at once (``forget``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dialer.domain import webhooks
from dialer.domain.messages import Message
from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.domain.statuses import TERMINAL_LEAD, CampaignStatus, LeadStatus
from dialer.ports import UnitOfWork
from dialer.ports.records import NewDeadLetter
from dialer.ports.webhook_store import NewEvent

SUBSCRIPTIONS_TTL = 2.0
# A webhook that could not be delivered is a dead letter too; reporting it by webhook would
# make a failing endpoint feed itself events forever.
SILENT_DEAD_LETTER_KINDS = frozenset({"webhook"})


def _lead_data(lead: Lead, status: LeadStatus, outcome: str | None) -> dict[str, Any]:
    return {
        "lead_id": lead.id,
        "campaign_id": lead.campaign_id,
        "contact_id": lead.contact_id,
        "phone": lead.phone,
        "status": status.value,
        "outcome": outcome,
        "attempts": lead.attempts,
        "last_attempt_id": lead.last_attempt_id,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _call_of(attempt: CallAttempt) -> dict[str, Any]:
    """The fields every attempt event starts with: which call of which lead, to whom."""
    return {
        "attempt_id": attempt.id,
        "lead_id": attempt.lead_id,
        "campaign_id": attempt.campaign_id,
        "number": attempt.number,
        "to": attempt.phone,
        "caller_id": attempt.caller_id,
    }


def _answered_by(attempt: CallAttempt) -> str | None:
    return None if attempt.answered_by is None else str(attempt.answered_by)


class Outbox:
    def __init__(
        self, ttl: float = SUBSCRIPTIONS_TTL, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._subscriptions: Mapping[int, set[str]] = {}
        self._loaded_at = float("-inf")

    def forget(self) -> None:
        """Read the subscriptions again at the next event (an endpoint changed)."""
        self._loaded_at = float("-inf")

    async def wanted(self, uow: UnitOfWork, tenant_id: int, event_type: str) -> bool:
        await self._refresh(uow)
        return event_type in self._subscriptions.get(tenant_id, ())

    async def wanted_by_anyone(self, uow: UnitOfWork, event_type: str) -> bool:
        """Whether any tenant subscribes to the type: a write that would have to read rows
        only to learn their tenants (and announce them) skips the read when none does."""
        await self._refresh(uow)
        return any(event_type in types for types in self._subscriptions.values())

    async def _refresh(self, uow: UnitOfWork) -> None:
        if self._monotonic() - self._loaded_at > self._ttl:
            self._subscriptions = await uow.webhooks.subscriptions()
            self._loaded_at = self._monotonic()

    async def add(
        self,
        uow: UnitOfWork,
        tenant_id: int,
        event_type: str,
        data: dict[str, Any],
        now: datetime,
        lead_id: int | None = None,
    ) -> None:
        """Write the event in ``uow``'s transaction if an endpoint of the tenant wants it."""
        if await self.wanted(uow, tenant_id, event_type):
            await uow.webhooks.record([NewEvent(tenant_id, event_type, data, lead_id)], now)

    # ------------------------------------------------------------ the events

    async def attempt_started(self, uow: UnitOfWork, attempt: CallAttempt, now: datetime) -> None:
        """The provider accepted the call (the attempt left QUEUED)."""
        data = {
            **_call_of(attempt),
            "provider_call_id": attempt.provider_call_id,
            "initiated_at": _iso(attempt.initiated_at),
        }
        await self.add(uow, attempt.tenant_id, webhooks.ATTEMPT_STARTED, data, now, attempt.lead_id)

    async def attempt_answered(self, uow: UnitOfWork, attempt: CallAttempt, now: datetime) -> None:
        """The call was answered (the attempt reached ANSWERED)."""
        data = {
            **_call_of(attempt),
            "provider_call_id": attempt.provider_call_id,
            "answered_by": _answered_by(attempt),
            "answered_at": _iso(attempt.answered_at),
        }
        event = webhooks.ATTEMPT_ANSWERED
        await self.add(uow, attempt.tenant_id, event, data, now, attempt.lead_id)

    async def attempt_ended(self, uow: UnitOfWork, attempt: CallAttempt, now: datetime) -> None:
        data = {
            **_call_of(attempt),
            "status": attempt.status.value,
            "hangup_cause": attempt.hangup_cause,
            "answered_by": _answered_by(attempt),
            "provider_call_id": attempt.provider_call_id,
            "answered_at": _iso(attempt.answered_at),
            "ended_at": _iso(attempt.ended_at),
            "duration": attempt.duration,
        }
        await self.add(uow, attempt.tenant_id, webhooks.ATTEMPT_ENDED, data, now, attempt.lead_id)

    async def lead_finished(
        self, uow: UnitOfWork, campaign: Campaign, lead: Lead, outcome: str | None, now: datetime
    ) -> None:
        """Only when the lead has reached an end: a retry still to come is no finish."""
        if lead.status not in TERMINAL_LEAD:
            return
        data = _lead_data(lead, lead.status, outcome)
        await self.add(uow, campaign.tenant_id, webhooks.LEAD_FINISHED, data, now, lead.id)

    async def leads_skipped(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        leads: Sequence[Lead],
        outcome: str,
        now: datetime,
    ) -> None:
        """Leads skipped in bulk without a call (a number put on the do-not-call list after
        the import, no calling window left, the fallback step taken instead): each one's
        finish, written with the skip. ``leads`` as read before the skip."""
        tenant_id, event = campaign.tenant_id, webhooks.LEAD_FINISHED
        if not leads or not await self.wanted(uow, tenant_id, event):
            return
        finished = [
            NewEvent(tenant_id, event, _lead_data(lead, LeadStatus.SKIPPED, outcome), lead.id)
            for lead in leads
        ]
        await uow.webhooks.record(finished, now)

    async def campaign_changed(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        previous: CampaignStatus,
        now: datetime,
        reason: str | None = None,
    ) -> None:
        data = {
            "campaign_id": campaign.id,
            "name": campaign.settings.name,
            "status": campaign.status.value,
            "previous_status": previous.value,
            "reason": reason,  # why Dialer moved it (e.g. campaign_budget); null: a person did
        }
        await self.add(uow, campaign.tenant_id, webhooks.CAMPAIGN_STATE_CHANGED, data, now)

    async def message_delivered(self, uow: UnitOfWork, message: Message, now: datetime) -> None:
        data = {
            "message_id": message.id,
            "campaign_id": message.campaign_id,
            "lead_id": message.lead_id,
            "step": message.step,
            "channel": message.channel.value,
            "provider_message_id": message.provider_message_id,
            "segments": message.segments,
            "sent_at": _iso(message.sent_at),
        }
        event = webhooks.MESSAGE_DELIVERED
        await self.add(uow, message.tenant_id, event, data, now, message.lead_id)

    async def dead_letter_added(
        self, uow: UnitOfWork, letter: NewDeadLetter, now: datetime
    ) -> None:
        if letter.kind in SILENT_DEAD_LETTER_KINDS:
            return
        data = {
            "kind": letter.kind,
            "key": letter.key,
            "cause": letter.cause,
            "attempts": letter.attempts,
        }
        await self.add(uow, letter.tenant_id, webhooks.DEAD_LETTER_CREATED, data, now)
