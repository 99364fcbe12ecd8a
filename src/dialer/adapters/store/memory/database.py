"""Every table of the in-memory store, with the indexes its repositories look rows up by
(those of the SQL schema that the queries need), and the one undo journal they share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from dialer.adapters.store.memory.rows import (
    AttemptRow,
    CampaignRow,
    ContactRow,
    DeadLetterRow,
    DoNotCallRow,
    EventRow,
    IdempotencyRow,
    LeadRow,
    QueueRow,
    TenantRow,
)
from dialer.adapters.store.memory.tables import Journal, Table
from dialer.adapters.store.memory.webhooks import WebhookTables
from dialer.domain.breaker import ProviderHealth
from dialer.domain.costs import CostChannel, RateCard
from dialer.domain.messages import Message
from dialer.domain.statuses import MessageStatus
from dialer.ports.answer_store import AnswerKey
from dialer.ports.cost_store import NewCharge
from dialer.ports.message_store import OptOut
from dialer.ports.records import DashboardSession, NodeBeat, StoredApiKey


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: DashboardSession
    notices: list[object]  # pending notices: a JSON column, copied in and out


@dataclass(frozen=True, slots=True)
class OptOutRow:
    tenant_id: int
    entry: OptOut


def _due_zone(row: LeadRow) -> tuple[int, str] | None:
    # the partial index ix_leads_due: only the leads still to be called
    return (row.campaign_id, row.zone_key) if row.is_due else None


def _live(row: AttemptRow) -> bool | None:
    return True if row.is_live else None


def _unsent(row: AttemptRow) -> bool | None:
    return True if row.is_unsent else None


def _unpriced(charge: NewCharge) -> bool | None:
    return True if charge.channel is CostChannel.CALL and charge.provider_amount is None else None


class Database:
    """The tables. Changes go through ``Table.put``/``delete``, which note them in
    ``journal`` until the unit of work commits or rolls back."""

    def __init__(self) -> None:
        self.journal = journal = Journal()
        self.tenants = Table[int, TenantRow](journal, unique={"name": lambda r: r.name})
        self.campaigns = Table[int, CampaignRow](
            journal, groups={"tenant": lambda r: r.tenant_id, "status": lambda r: r.status}
        )
        self.queues = Table[int, QueueRow](journal, unique={"route": lambda r: r.route})
        self.contacts = Table[int, ContactRow](
            journal, unique={"phone": lambda r: (r.tenant_id, r.phone)}
        )
        self.leads = Table[int, LeadRow](
            journal,
            unique={"contact": lambda r: (r.campaign_id, r.contact_id)},
            groups={"campaign": lambda r: r.campaign_id, "due": _due_zone},
        )
        self.attempts = Table[int, AttemptRow](
            journal,
            unique={"call": lambda r: r.provider_call_id},
            groups={
                "lead": lambda r: r.lead_id,
                "campaign": lambda r: r.campaign_id,
                "number": lambda r: (r.tenant_id, r.phone),
                "live": _live,
                "unsent": _unsent,
            },
        )
        self.events = Table[tuple[int, str], EventRow](
            journal, groups={"attempt": lambda r: r.attempt_id}
        )
        self.do_not_call = Table[int, DoNotCallRow](
            journal,
            unique={"phone": lambda r: (r.tenant_id, r.phone)},
            groups={"tenant": lambda r: r.tenant_id},
        )
        self.api_keys = Table[int, StoredApiKey](journal, unique={"key_id": lambda r: r.key_id})
        self.idempotency = Table[tuple[int, str], IdempotencyRow](journal)
        self.sessions = Table[str, SessionRow](
            journal, groups={"key_id": lambda r: r.session.key_id}
        )
        self.dead_letters = Table[int, DeadLetterRow](
            journal, unique={"job": lambda r: (r.kind, r.dedupe_key)}
        )
        self.heartbeats = Table[str, NodeBeat](journal)
        self.provider_health = Table[str, ProviderHealth](journal)
        self.messages = Table[int, Message](
            journal,
            unique={
                "step": lambda m: (m.lead_id, m.step),
                "provider_id": lambda m: m.provider_message_id,
            },
            groups={
                "campaign": lambda m: m.campaign_id,
                "pending": lambda m: True if m.status is MessageStatus.PENDING else None,
                "unsettled": lambda m: True if m.settled_at is None else None,
            },
        )
        self.message_events = Table[tuple[int, str], str](journal)
        # (tenant, channel, address) -> the opt-out
        self.channel_opt_outs = Table[tuple[int, str, str], OptOutRow](
            journal, groups={"list": lambda r: (r.tenant_id, r.entry.channel.value)}
        )
        self.webhooks = WebhookTables(journal)
        self.rate_cards = Table[int, RateCard](journal)
        self.answer_stats = Table[AnswerKey, tuple[AnswerKey, int, int]](journal)
        # (channel, attempt or message id) -> its charge; "unpriced": the calls' charges
        # still without the provider's own price
        self.charges = Table[tuple[str, int], NewCharge](journal, groups={"unpriced": _unpriced})

    def due_zones(self, campaign_id: int) -> list[str]:
        """The zone keys of the campaign's leads still to be called."""
        pairs = cast(list[tuple[int, str]], self.leads.group_values("due"))
        return [zone for cid, zone in pairs if cid == campaign_id]

    def due_leads(self, campaign_id: int, zones: Iterable[str] | None = None) -> list[LeadRow]:
        """The campaign's leads still to be called (pending or waiting for a retry), of
        these zones (of every zone when None)."""
        keys = self.due_zones(campaign_id) if zones is None else dict.fromkeys(zones)
        return [row for zone in keys for row in self.leads.group("due", (campaign_id, zone))]
