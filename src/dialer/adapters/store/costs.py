"""Rate cards and charges on SQL; amounts are kept as integer millionths (cost_tables)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.cost_tables import charges, rate_cards
from dialer.adapters.store.tables import call_attempts
from dialer.domain.costs import CostChannel, RateCard, from_micros, to_micros
from dialer.ports.cost_store import CostGrouping, CostQuery, CostRow, NewCharge, UnpricedCall
from dialer.rate_card_document import price_document, prices_from_documents

_GROUP_COLUMNS = {
    CostGrouping.CAMPAIGN: charges.c.campaign_id,
    CostGrouping.DAY: charges.c.day,
    CostGrouping.CHANNEL: charges.c.channel,
}


def _card(row: Any) -> RateCard:
    return RateCard(
        provider=row.provider,
        channel=CostChannel(row.channel),
        currency=row.currency,
        prices=prices_from_documents(row.prices),
        effective_at=row.effective_at,
        version=row.version,
        id=row.id,
    )


def _charge(row: Any) -> NewCharge:
    provider = row.provider_amount_micros
    return NewCharge(
        tenant_id=row.tenant_id,
        campaign_id=row.campaign_id,
        channel=CostChannel(row.channel),
        subject_id=row.subject_id,
        amount=from_micros(row.amount_micros),
        currency=row.currency,
        card_id=row.card_id,
        day=row.day,
        created_at=row.created_at,
        provider_amount=None if provider is None else from_micros(provider),
    )


def _charge_values(charge: NewCharge) -> dict[str, Any]:
    provider = charge.provider_amount
    return {
        "tenant_id": charge.tenant_id,
        "campaign_id": charge.campaign_id,
        "channel": charge.channel.value,
        "subject_id": charge.subject_id,
        "amount_micros": to_micros(charge.amount),
        "currency": charge.currency,
        "card_id": charge.card_id,
        "day": charge.day,
        "created_at": charge.created_at,
        "provider_amount_micros": None if provider is None else to_micros(provider),
    }


class SqlCosts(SqlRepository):
    async def add_card(self, card: RateCard, now: datetime) -> RateCard:
        # Versions of one card are numbered in order; two writers at once collide on the
        # unique (provider, channel, version), and the second is refused rather than lost.
        latest = await self._conn.scalar(
            select(func.max(rate_cards.c.version)).where(
                rate_cards.c.provider == card.provider,
                rate_cards.c.channel == card.channel.value,
            )
        )
        stored = dataclasses.replace(
            card, version=(latest or 0) + 1, effective_at=card.effective_at or now
        )
        card_id = await self._conn.scalar(
            rate_cards.insert()
            .values(
                provider=stored.provider,
                channel=stored.channel.value,
                version=stored.version,
                currency=stored.currency,
                effective_at=stored.effective_at,
                created_at=now,
                prices=[price_document(p, stored.channel) for p in stored.prices],
            )
            .returning(rate_cards.c.id)
        )
        return dataclasses.replace(stored, id=int(card_id or 0))

    async def cards(
        self, provider: str | None = None, channel: CostChannel | None = None
    ) -> list[RateCard]:
        query = select(rate_cards).order_by(rate_cards.c.id)
        if provider is not None:
            query = query.where(rate_cards.c.provider == provider)
        if channel is not None:
            query = query.where(rate_cards.c.channel == channel.value)
        return [_card(row) for row in await self._conn.execute(query)]

    async def record_charges(self, new: Sequence[NewCharge]) -> None:
        if not new:
            return
        stmt = self._insert(charges).values([_charge_values(c) for c in new])
        await self._conn.execute(
            stmt.on_conflict_do_nothing(index_elements=["channel", "subject_id"])
        )

    async def charges_of(
        self, channel: CostChannel, subject_ids: Collection[int]
    ) -> dict[int, NewCharge]:
        if not subject_ids:
            return {}
        found = await self._conn.execute(
            select(charges).where(
                charges.c.channel == channel.value, charges.c.subject_id.in_(list(subject_ids))
            )
        )
        return {row.subject_id: _charge(row) for row in found}

    async def unpriced_calls(
        self, provider: str, ended_after: datetime, ended_before: datetime, limit: int
    ) -> list[UnpricedCall]:
        c, a = charges.c, call_attempts.c
        stmt = (
            select(c.subject_id, a.provider_call_id, c.currency, c.created_at)
            .join(call_attempts, a.id == c.subject_id)
            .join(rate_cards, rate_cards.c.id == c.card_id)
            .where(
                c.channel == CostChannel.CALL.value,
                c.provider_amount_micros.is_(None),
                c.created_at >= ended_after,
                c.created_at <= ended_before,
                rate_cards.c.provider == provider,
                a.provider_call_id.is_not(None),
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return [
            UnpricedCall(row.subject_id, row.provider_call_id, row.currency, row.created_at)
            for row in await self._conn.execute(stmt)
        ]

    async def set_provider_amounts(
        self, channel: CostChannel, amounts: Mapping[int, Decimal]
    ) -> None:
        if not amounts:
            return
        c = charges.c
        stmt = (
            update(charges)
            .where(
                c.channel == channel.value,
                c.subject_id == bindparam("b_subject"),
                c.provider_amount_micros.is_(None),
            )
            .values(provider_amount_micros=bindparam("b_micros"))
        )
        params = [
            {"b_subject": subject, "b_micros": to_micros(amount)}
            for subject, amount in sorted(amounts.items())
        ]
        await self._conn.execute(stmt, params)

    async def spent(
        self,
        currency: str,
        *,
        campaign_id: int | None = None,
        tenant_id: int | None = None,
        since: datetime | None = None,
    ) -> int:
        stmt = select(func.coalesce(func.sum(charges.c.amount_micros), 0)).where(
            charges.c.currency == currency
        )
        if campaign_id is not None:
            stmt = stmt.where(charges.c.campaign_id == campaign_id)
        if tenant_id is not None:
            stmt = stmt.where(charges.c.tenant_id == tenant_id)
        if since is not None:
            stmt = stmt.where(charges.c.created_at >= since)
        return int(await self._conn.scalar(stmt) or 0)

    async def rollup(self, query: CostQuery) -> list[CostRow]:
        grouped = [_GROUP_COLUMNS[g] for g in query.group_by]
        stmt = (
            select(
                *grouped,
                charges.c.currency,
                func.sum(charges.c.amount_micros).label("amount"),
                func.count().label("count"),
                func.sum(charges.c.provider_amount_micros).label("provider_amount"),
            )
            .where(charges.c.tenant_id == query.tenant_id)
            .group_by(*grouped, charges.c.currency)
            .order_by(*grouped, charges.c.currency)
        )
        if query.campaign_id is not None:
            stmt = stmt.where(charges.c.campaign_id == query.campaign_id)
        if query.since is not None:
            stmt = stmt.where(charges.c.day >= query.since)
        if query.until is not None:
            stmt = stmt.where(charges.c.day <= query.until)
        return [_cost_row(row._mapping, query.group_by) for row in await self._conn.execute(stmt)]


def _cost_row(row: Any, group_by: tuple[CostGrouping, ...]) -> CostRow:
    provider = row["provider_amount"]
    return CostRow(
        currency=row["currency"],
        amount=from_micros(int(row["amount"])),
        count=int(row["count"]),
        provider_amount=None if provider is None else from_micros(int(provider)),
        campaign_id=row["campaign_id"] if CostGrouping.CAMPAIGN in group_by else None,
        day=row["day"] if CostGrouping.DAY in group_by else None,
        channel=CostChannel(row["channel"]) if CostGrouping.CHANNEL in group_by else None,
    )
