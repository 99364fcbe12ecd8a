"""Campaigns with SMS and email steps whose messages are written straight into the store
(nothing is sent): three contacts, and their messages in known states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.bootstrap import Runtime
from dialer.domain.channels import Channel
from dialer.domain.messages import NewMessage
from dialer.domain.statuses import MessageStatus
from dialer.ports import ContactDraft, LeadQuery
from dialer.services.contacts import import_drafts

NY = "America/New_York"
SMS_FROM = "+14155550100"
EMAIL_FROM = "reminders@acme.example"
STEPS: list[dict[str, Any]] = [
    {"call": {}},
    {"sms": {"when": ["no_answer"], "body": "Hi {{ name }}, we missed you."}},
    {
        "email": {
            "when": ["no_answer"],
            "from": f"Acme <{EMAIL_FROM}>",
            "subject": "We tried to reach you",
            "body": "Hello {{ name }}",
        }
    },
]
ADA, BOB, CY = "+12125550101", "+12125550102", "+12125550103"
EMAILS = {ADA: "ada@example.com", BOB: "bob@example.com"}  # Cy has none


@dataclass(frozen=True)
class Planted:
    ids: dict[tuple[str, Channel], int]  # (contact's number, channel) -> message id


def _contacts() -> list[ContactDraft]:
    return [
        ContactDraft(
            phone,
            NY,
            name=name,
            attributes={"email": EMAILS[phone]} if phone in EMAILS else {},
        )
        for phone, name in ((ADA, "Ada"), (BOB, "Bob"), (CY, "Cy"))
    ]


# (number, channel) -> the statuses it goes through after PENDING, and when it is due
# (hours from now): SMS: Ada's delivered, Bob's undelivered, Cy's due now; email: Ada's
# sent, Bob's due in an hour.
JOURNEYS: dict[tuple[str, Channel], tuple[tuple[MessageStatus, ...], int]] = {
    (ADA, Channel.SMS): ((MessageStatus.SENDING, MessageStatus.DELIVERED), 0),
    (BOB, Channel.SMS): ((MessageStatus.SENDING, MessageStatus.UNDELIVERED), 0),
    (CY, Channel.SMS): ((), 0),
    (ADA, Channel.EMAIL): ((MessageStatus.SENDING, MessageStatus.SENT), 0),
    (BOB, Channel.EMAIL): ((), 1),
}


async def plant_messages(runtime: Runtime, campaign_id: int, now: datetime) -> Planted:
    """Import the three contacts into the campaign (its steps: STEPS) and write their
    messages in the states JOURNEYS gives."""
    await import_drafts(runtime.services, campaign_id, _contacts())
    async with runtime.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        leads = {r.lead.phone: r.lead for r in await uow.leads.find(LeadQuery(campaign_id, 10))}
        drafts = [
            NewMessage(
                tenant_id=campaign.tenant_id,
                campaign_id=campaign_id,
                lead_id=leads[phone].id,
                step=1 if channel is Channel.SMS else 2,
                channel=channel,
                to=phone if channel is Channel.SMS else EMAILS[phone],
                sender=SMS_FROM if channel is Channel.SMS else EMAIL_FROM,
                due_at=now + timedelta(hours=hours),
                zone_key=NY,
                outcomes=("no_answer",),
                token=f"t{leads[phone].id}{channel}",
            )
            for (phone, channel), (_, hours) in JOURNEYS.items()
        ]
        await uow.messages.add(drafts, now)
        ids = {}
        for phone, lead in leads.items():
            for message in await uow.messages.for_lead(lead.id):
                ids[(phone, message.channel)] = message.id
                for status in JOURNEYS[(phone, message.channel)][0]:
                    message.move_to(status)
                message.sent_at = now if message.status is not MessageStatus.PENDING else None
                await uow.messages.save(message)
        await uow.commit()
    return Planted(ids)
