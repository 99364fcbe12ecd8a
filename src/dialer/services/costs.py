"""Costs: rate cards in, a charge for every call and message that ends, rollups out.

Each process keeps the cards it read (``Pricing``) and reads them again only when it must:
a card takes effect no earlier than when it is stored (``add_card`` refuses a past
``effective_at``), so cards read at instant R hold every card in force for anything created
up to R. A charge for something created after R reads them first. Nothing is charged twice:
the store keeps one charge per call or message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dialer import metrics
from dialer.domain.costs import (
    Charge,
    CostChannel,
    RateCard,
    call_charge,
    card_in_force,
    message_charge,
)
from dialer.domain.messages import Message
from dialer.domain.model import CallAttempt
from dialer.errors import InvalidInput, Problem
from dialer.ports import Store, UnitOfWork
from dialer.ports.cost_store import CostQuery, CostRow, NewCharge
from dialer.ports.messaging import EmailSender, SmsSender

log = logging.getLogger(__name__)


@dataclass
class Pricing:
    """The rate cards as this process last read them, by (provider, channel)."""

    read_at: datetime | None = None
    cards: dict[tuple[str, CostChannel], list[RateCard]] = field(default_factory=dict)

    async def card_for(
        self,
        uow: UnitOfWork,
        provider: str,
        channel: CostChannel,
        created_at: datetime,
        now: datetime,
    ) -> RateCard | None:
        """The card in force for something of ``channel`` created at ``created_at``; the
        cards are read again (at ``now``) only when it was created after the last read."""
        if self.read_at is None or self.read_at < created_at:
            await self.refresh(uow, now)
        return card_in_force(self.cards.get((provider, channel), []), created_at)

    async def refresh(self, uow: UnitOfWork, now: datetime) -> None:
        cards: dict[tuple[str, CostChannel], list[RateCard]] = {}
        for card in await uow.costs.cards():
            cards.setdefault((card.provider, card.channel), []).append(card)
        self.cards, self.read_at = cards, now


async def add_card(store: Store, pricing: Pricing, card: RateCard, now: datetime) -> RateCard:
    """Store ``card`` as the next version of its provider's card for its channel; it applies
    to calls and messages created from its ``effective_at`` (now, when it gives none)."""
    if card.effective_at is not None and card.effective_at < now:
        raise InvalidInput(
            Problem(
                "effective_at",
                "a rate card cannot take effect in the past (calls already made keep their card)",
            )
        )
    async with store.unit() as uow:
        stored = await uow.costs.add_card(card, now)
        await uow.commit()
    pricing.read_at = None  # this process reads the new card before its next charge
    return stored


async def cards(store: Store, provider: str | None, channel: CostChannel | None) -> list[RateCard]:
    async with store.unit() as uow:
        return await uow.costs.cards(provider, channel)


async def rollup(store: Store, query: CostQuery) -> list[CostRow]:
    async with store.unit() as uow:
        return await uow.costs.rollup(query)


async def charge_calls(
    uow: UnitOfWork, pricing: Pricing, provider: str, ended: Sequence[CallAttempt], now: datetime
) -> list[NewCharge]:
    """Charge each ended attempt by the card in force when it was created, in ``uow``: the
    charges new to the store (``count_spend`` them once committed)."""
    charges = []
    for attempt in ended:
        created = attempt.created_at or now
        card = await pricing.card_for(uow, provider, CostChannel.CALL, created, now)
        charge = call_charge(card, attempt.phone, attempt.duration) if card else None
        if charge is None:
            metrics.unpriced.labels(CostChannel.CALL.value).inc()
            continue
        charges.append(_new(charge, CostChannel.CALL, attempt, now))
    return await _record(uow, CostChannel.CALL, charges)


async def charge_messages(
    uow: UnitOfWork,
    pricing: Pricing,
    providers: dict[CostChannel, str],
    sent: Sequence[Message],
    now: datetime,
) -> list[NewCharge]:
    """Charge each message the provider took, by the card in force when it was created: the
    charges new to the store (``count_spend`` them once committed)."""
    charges: dict[CostChannel, list[NewCharge]] = {}
    for message in sent:
        channel = CostChannel(message.channel.value)
        provider = providers.get(channel)
        card = (
            await pricing.card_for(uow, provider, channel, message.created_at, now)
            if provider
            else None
        )
        charge = message_charge(card, message.to, message.segments) if card else None
        if charge is None:
            metrics.unpriced.labels(channel.value).inc()
            continue
        charges.setdefault(channel, []).append(_new(charge, channel, message, now))
    new: list[NewCharge] = []
    for channel, found in charges.items():
        new += await _record(uow, channel, found)
    return new


def message_providers(sms: SmsSender | None, email: EmailSender | None) -> dict[CostChannel, str]:
    """Whose rate card prices each channel's messages: its sender's provider."""
    senders: tuple[tuple[CostChannel, SmsSender | EmailSender | None], ...] = (
        (CostChannel.SMS, sms),
        (CostChannel.EMAIL, email),
    )
    return {channel: sender.name for channel, sender in senders if sender is not None}


def _new(
    charge: Charge, channel: CostChannel, subject: CallAttempt | Message, now: datetime
) -> NewCharge:
    return NewCharge(
        tenant_id=subject.tenant_id,
        campaign_id=subject.campaign_id,
        channel=channel,
        subject_id=subject.id,
        amount=charge.amount,
        currency=charge.currency,
        card_id=charge.card_id,
        day=now.date(),
        created_at=now,
    )


async def _record(
    uow: UnitOfWork, channel: CostChannel, charges: list[NewCharge]
) -> list[NewCharge]:
    """Store the charges not stored before; the new ones (to count once committed)."""
    if not charges:
        return []
    already = await uow.costs.charges_of(channel, [c.subject_id for c in charges])
    new = [c for c in charges if c.subject_id not in already]
    await uow.costs.record_charges(new)
    return new


def count_spend(charges: Sequence[NewCharge]) -> None:
    """Count committed charges in ``dialer_spend`` (called after the commit, so a charge
    rolled back is never counted)."""
    for charge in charges:
        metrics.spend.labels(str(charge.tenant_id), charge.channel.value, charge.currency).inc(
            float(charge.amount)
        )
