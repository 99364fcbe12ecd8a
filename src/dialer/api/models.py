"""The REST API's request and response bodies (and so its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dialer.campaign_document import WindowSpec, settings_to_mapping
from dialer.domain.channels import Channel
from dialer.domain.figures import ChannelFigures
from dialer.domain.messages import Message
from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.domain.stages import Stage, attempt_stage, lead_stage
from dialer.domain.statuses import AttemptStatus, CampaignStatus, LeadStatus, MessageStatus
from dialer.ports.cost_store import NewCharge

MAX_ID = 2**53 - 1  # ids stay exact in every JSON client
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Text = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
Number = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_CONTROL)]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\x00-\x20\x7f]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CampaignOut(BaseModel):
    id: int
    name: str
    status: CampaignStatus
    version: int
    created_at: datetime | None
    settings: dict[str, Any] = Field(description="The campaign document, normalised")

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignOut:
        return cls(
            id=campaign.id,
            name=campaign.name,
            status=campaign.status,
            version=campaign.version,
            created_at=campaign.created_at,
            settings=settings_to_mapping(campaign.settings),
        )


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None


class Usage(BaseModel):
    live: int
    cap: int | None


class WaitingOut(BaseModel):
    reason: str = Field(
        description="window_closed, retry, frequency_cap, number_lock, quiet_hours, deferred, "
        "paused, not_started, cap_full, pace or ready"
    )
    leads: int = Field(description="Due leads held back for this reason")
    until: datetime | None = Field(
        description="The earliest moment one of them can be dialled; null when unknown "
        "(a paused campaign, a full cap)"
    )
    zone: str | None = Field(description="For window_closed: the contacts' time zone(s)")
    message: str = Field(description="The same in one sentence, for people")


class ChannelProgressOut(BaseModel):
    """One channel's messages; each is counted under exactly one of waiting, pending, sent,
    delivered, failed and skipped."""

    statuses: dict[str, int] = Field(description="Messages by status")
    total: int
    waiting: int = Field(
        description="PENDING, not due yet: a step's `after`, the contact's window, a send put "
        "back for a while"
    )
    pending: int = Field(description="PENDING and due now: the next ticks send them")
    sent: int = Field(description="SENDING, QUEUED or SENT: left, no delivery receipt yet")
    delivered: int
    failed: int = Field(description="UNDELIVERED (refused, bounced) or FAILED")
    skipped: int = Field(
        description="SKIPPED (opted out, do-not-call, no address, no window left) or CANCELLED"
    )

    @classmethod
    def of(cls, figures: ChannelFigures) -> ChannelProgressOut:
        return cls(statuses={s.value: n for s, n in figures.statuses.items()}, **figures.words())


class ProgressOut(BaseModel):
    campaign_id: int
    name: str
    status: CampaignStatus
    leads: dict[str, int] = Field(description="Leads by state")
    attempts: dict[str, int] = Field(description="Call attempts by status")
    total_leads: int
    finished_leads: int
    remaining_leads: int = Field(description="Leads pending, waiting for a retry or dialling")
    live_calls: Usage = Field(description="This campaign's live calls against its cap")
    tenant_live_calls: int
    global_live_calls: Usage
    calls_per_second: float = Field(description="Attempts started per second, last 30 s")
    eta_seconds: float | None = Field(
        description="Remaining leads at the current start rate (a lower bound: retries add "
        "to it); null while nothing is being started"
    )
    waiting: list[WaitingOut] = Field(
        default_factory=list,
        description="Why the leads still due are not being dialled, soonest first; each due "
        "lead is counted under one reason",
    )
    channels: dict[str, ChannelProgressOut] | None = Field(
        default=None,
        description="Only for a campaign with SMS or email steps: each channel of its steps "
        "(`sms`, `email`) and its messages",
    )


class CallIn(_In):
    to: Number
    from_: Number = Field(alias="from", description="Caller ID, E.164")
    answer_url: Url | None = None
    name: Text | None = None
    timezone: Annotated[str, StringConstraints(max_length=64, pattern=NO_CONTROL)] | None = None
    attributes: dict[Text, Text] = Field(default_factory=dict, max_length=50)
    window: WindowSpec | None = Field(
        default=None,
        description="Contact-local calling hours, as a campaign file's window; default: "
        "every day 08:00-21:00. Outside them the call waits until they open",
    )


class BulkCallsIn(_In):
    calls: list[CallIn] = Field(min_length=1, max_length=1000)


class CallAccepted(BaseModel):
    id: int = Field(description="The lead that carries this call; see GET /v1/leads/{id}")
    campaign_id: int = Field(description="The tenant's API queue campaign")
    to: str
    status: LeadStatus
    queued: bool = Field(description="False: this number was already waiting; not added twice")
    not_before: datetime = Field(
        description="The earliest the call is dialled: now, or when the contact's calling "
        "window next opens (then within the caps, like any call)"
    )


class IndexedCall(CallAccepted):
    index: int


class Refusal(BaseModel):
    index: int
    location: str
    message: str


class BulkAccepted(BaseModel):
    accepted: list[IndexedCall]
    refused: list[Refusal]


class AttemptOut(BaseModel):
    id: int
    lead_id: int
    campaign_id: int
    number: int = Field(description="1 for the lead's first attempt")
    to: str
    from_: str = Field(serialization_alias="from")
    status: AttemptStatus
    stage: Stage = Field(description="The older dialers' word for the call's status")
    provider_call_id: str | None
    created_at: datetime | None
    initiated_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration: int | None
    hangup_cause: str | None
    cost: Decimal | None = Field(None, description="By the rate card, once the call ended")
    cost_currency: str | None = None

    @classmethod
    def of(cls, a: CallAttempt, charge: NewCharge | None = None) -> AttemptOut:
        return cls(
            id=a.id,
            lead_id=a.lead_id,
            campaign_id=a.campaign_id,
            number=a.number,
            to=a.phone,
            from_=a.caller_id,
            status=a.status,
            stage=attempt_stage(a.status),
            provider_call_id=a.provider_call_id,
            created_at=a.created_at,
            initiated_at=a.initiated_at,
            answered_at=a.answered_at,
            ended_at=a.ended_at,
            duration=a.duration,
            hangup_cause=a.hangup_cause,
            cost=charge.amount if charge else None,
            cost_currency=charge.currency if charge else None,
        )


class MessageOut(BaseModel):
    id: int
    campaign_id: int
    lead_id: int
    step: int = Field(description="The campaign step it carries out (1: the first after the call)")
    channel: Channel = Field(description="sms or email")
    to: str = Field(description="E.164 for SMS, the address for email")
    from_: str = Field(serialization_alias="from")
    status: MessageStatus
    outcome: str = Field(description="The word later steps' `when` see: `sms.delivered` ...")
    provider_message_id: str | None
    segments: int | None = Field(description="SMS segments the provider billed")
    error: str | None = Field(description="Why it was skipped, refused or failed")
    created_at: datetime
    due_at: datetime = Field(description="When it is (or was) due to be sent")
    sent_at: datetime | None
    settled_at: datetime | None = Field(description="When the lead moved on to its next step")

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            campaign_id=m.campaign_id,
            lead_id=m.lead_id,
            step=m.step,
            channel=m.channel,
            to=m.to,
            from_=m.sender,
            status=m.status,
            outcome=m.outcome,
            provider_message_id=m.provider_message_id,
            segments=m.segments,
            error=m.error,
            created_at=m.created_at,
            due_at=m.due_at,
            sent_at=m.sent_at,
            settled_at=m.settled_at,
        )


class CallPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


def _last_status(lead: Lead, attempts: list[CallAttempt]) -> AttemptStatus | None:
    return next((a.status for a in attempts if a.id == lead.last_attempt_id), None)


class LeadOut(BaseModel):
    id: int
    campaign_id: int
    to: str
    status: LeadStatus
    stage: Stage | None = Field(
        description="The older dialers' word for where the lead stands; null before its first call"
    )
    attempt_count: int
    next_attempt_at: datetime | None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, lead: Lead, attempts: list[CallAttempt]) -> LeadOut:
        return cls(
            id=lead.id,
            campaign_id=lead.campaign_id,
            to=lead.phone,
            status=lead.status,
            stage=lead_stage(lead.status, _last_status(lead, attempts)),
            attempt_count=lead.attempts,
            next_attempt_at=lead.next_attempt_at,
            attempts=[AttemptOut.of(a) for a in attempts],
        )
