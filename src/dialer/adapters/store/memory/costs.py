"""Rate cards and charges in memory, with the SQL store's answers."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.domain.costs import CostChannel, RateCard, money, to_micros
from dialer.ports.cost_store import CostGrouping, CostQuery, CostRow, NewCharge, UnpricedCall


class MemoryCosts(MemoryRepository):
    async def add_card(self, card: RateCard, now: datetime) -> RateCard:
        versions = [
            c.version
            for c in self._db.rate_cards.rows()
            if (c.provider, c.channel) == (card.provider, card.channel)
        ]
        table = self._db.rate_cards
        stored = dataclasses.replace(
            card,
            version=max(versions, default=0) + 1,
            effective_at=card.effective_at or now,
            id=table.next_id(),
        )
        table.put(stored.id, stored)
        return stored

    async def cards(
        self, provider: str | None = None, channel: CostChannel | None = None
    ) -> list[RateCard]:
        return sorted(
            (
                c
                for c in self._db.rate_cards.rows()
                if provider in {None, c.provider} and channel in {None, c.channel}
            ),
            key=lambda c: c.id,
        )

    async def record_charges(self, new: Sequence[NewCharge]) -> None:
        for charge in new:
            key = (charge.channel.value, charge.subject_id)
            if self._db.charges.get(key) is None:
                self._db.charges.put(key, charge)

    async def charges_of(
        self, channel: CostChannel, subject_ids: Collection[int]
    ) -> dict[int, NewCharge]:
        found = (self._db.charges.get((channel.value, i)) for i in subject_ids)
        return {c.subject_id: c for c in found if c is not None}

    async def unpriced_calls(
        self, provider: str, ended_after: datetime, ended_before: datetime, limit: int
    ) -> list[UnpricedCall]:
        found = []
        for charge in self._db.charges.group("unpriced", True):
            call_id = self._call_id(charge)
            card = self._db.rate_cards.get(charge.card_id)
            if (
                call_id is not None
                and card is not None
                and card.provider == provider
                and ended_after <= charge.created_at <= ended_before
            ):
                found.append(
                    UnpricedCall(charge.subject_id, call_id, charge.currency, charge.created_at)
                )
        found.sort(key=lambda u: (u.ended_at, u.attempt_id))
        return found[:limit]

    def _call_id(self, charge: NewCharge) -> str | None:
        attempt = self._db.attempts.get(charge.subject_id)
        return None if attempt is None else attempt.provider_call_id

    async def set_provider_amounts(
        self, channel: CostChannel, amounts: Mapping[int, Decimal]
    ) -> None:
        for subject, amount in amounts.items():
            key = (channel.value, subject)
            charge = self._db.charges.get(key)
            if charge is not None and charge.provider_amount is None:
                priced = dataclasses.replace(charge, provider_amount=money(amount))
                self._db.charges.put(key, priced)

    async def spent(
        self,
        currency: str,
        *,
        campaign_id: int | None = None,
        tenant_id: int | None = None,
        since: datetime | None = None,
    ) -> int:
        return sum(
            to_micros(c.amount)
            for c in self._db.charges.rows()
            if c.currency == currency
            and campaign_id in {None, c.campaign_id}
            and tenant_id in {None, c.tenant_id}
            and (since is None or c.created_at >= since)
        )

    async def rollup(self, query: CostQuery) -> list[CostRow]:
        groups: dict[tuple[Hashable, ...], list[NewCharge]] = defaultdict(list)
        for charge in self._db.charges.rows():
            if _matches(charge, query):
                groups[(*_group_key(charge, query.group_by), charge.currency)].append(charge)
        return [_row(key, found, query.group_by) for key, found in sorted(groups.items())]


def _matches(charge: NewCharge, query: CostQuery) -> bool:
    return (
        charge.tenant_id == query.tenant_id
        and query.campaign_id in {None, charge.campaign_id}
        and (query.since is None or charge.day >= query.since)
        and (query.until is None or charge.day <= query.until)
    )


def _group_key(charge: NewCharge, group_by: tuple[CostGrouping, ...]) -> tuple[Hashable, ...]:
    values = {
        CostGrouping.CAMPAIGN: charge.campaign_id,
        CostGrouping.DAY: charge.day,
        CostGrouping.CHANNEL: charge.channel.value,
    }
    return tuple(values[g] for g in group_by)


def _row(
    key: tuple[Hashable, ...], found: list[NewCharge], group_by: tuple[CostGrouping, ...]
) -> CostRow:
    provided = [c.provider_amount for c in found if c.provider_amount is not None]
    grouped = dict(zip(group_by, key, strict=False))
    channel = grouped.get(CostGrouping.CHANNEL)
    return CostRow(
        currency=str(key[-1]),
        amount=sum((c.amount for c in found), Decimal(0)),
        count=len(found),
        provider_amount=sum(provided, Decimal(0)) if provided else None,
        campaign_id=grouped.get(CostGrouping.CAMPAIGN),  # type: ignore[arg-type]
        day=grouped.get(CostGrouping.DAY),  # type: ignore[arg-type]
        channel=CostChannel(str(channel)) if channel is not None else None,
    )
