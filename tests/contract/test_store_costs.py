"""The store contract for money, the same on SQLite, PostgreSQL and in memory: card versions
numbered per provider and channel, charges kept once per call or message, rollups summed
per campaign, day and channel and per currency, to the millionth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from dialer.domain.costs import CostChannel, Increment, Price, RateCard
from dialer.ports import Store
from dialer.ports.cost_store import CostGrouping, CostQuery, NewCharge

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DAY1, DAY2 = date(2026, 12, 1), date(2026, 12, 2)


def call_card(per_minute: str) -> RateCard:
    prices = (
        Price("1", per_minute=Decimal(per_minute), increment=Increment(30, 6)),
        Price("44", per_minute=Decimal("0.0255"), connection_fee=Decimal("0.001")),
    )
    return RateCard("twilio", CostChannel.CALL, "USD", prices)


def charge(subject: int, amount: str, **changes: object) -> NewCharge:
    values: dict[str, object] = {
        "tenant_id": 1,
        "campaign_id": 10,
        "channel": CostChannel.CALL,
        "subject_id": subject,
        "amount": Decimal(amount),
        "currency": "USD",
        "card_id": 1,
        "day": DAY1,
        "created_at": NOW,
    }
    return NewCharge(**{**values, **changes})  # type: ignore[arg-type]


async def test_cards_are_versioned_per_provider_and_channel_and_read_back_whole(
    store: Store,
) -> None:
    async with store.unit() as uow:
        first = await uow.costs.add_card(call_card("0.0140"), NOW)
        second = await uow.costs.add_card(call_card("0.0150"), NOW + timedelta(hours=1))
        sms = RateCard(
            "twilio", CostChannel.SMS, "USD", (Price("1", per_segment=Decimal("0.0079")),)
        )
        other = await uow.costs.add_card(sms, NOW)
        await uow.commit()
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.effective_at == NOW  # none given: from when it was stored
    async with store.unit() as uow:
        calls = await uow.costs.cards("twilio", CostChannel.CALL)
        everything = await uow.costs.cards()
    assert calls == [first, second]
    assert calls[1].prices == call_card("0.0150").prices
    assert {c.id for c in everything} == {first.id, second.id, other.id}


async def test_a_charge_is_kept_once_per_call_or_message(store: Store) -> None:
    async with store.unit() as uow:
        await uow.costs.record_charges([charge(7, "0.013000")])
        await uow.costs.record_charges(
            [charge(7, "9.99"), charge(7, "0.5", channel=CostChannel.SMS)]
        )
        await uow.commit()
    async with store.unit() as uow:
        calls = await uow.costs.charges_of(CostChannel.CALL, [7, 8])
        sms = await uow.costs.charges_of(CostChannel.SMS, [7])
    assert calls == {7: charge(7, "0.013000")}
    assert sms[7].amount == Decimal("0.500000")


async def test_rollups_sum_each_group_and_currency_to_the_millionth(store: Store) -> None:
    async with store.unit() as uow:
        await uow.costs.record_charges(
            [
                charge(1, "0.000001"),
                charge(2, "0.123457", provider_amount=Decimal("0.12")),
                charge(3, "1.5", day=DAY2),
                charge(4, "2", campaign_id=11),
                charge(5, "0.0079", channel=CostChannel.SMS),
                charge(6, "3", currency="EUR"),
                charge(7, "100", tenant_id=2),
            ]
        )
        await uow.commit()
    async with store.unit() as uow:
        by_campaign = await uow.costs.rollup(CostQuery(tenant_id=1))
        by_day = await uow.costs.rollup(
            CostQuery(1, (CostGrouping.DAY, CostGrouping.CHANNEL), campaign_id=10)
        )
        day2 = await uow.costs.rollup(CostQuery(1, (CostGrouping.DAY,), since=DAY2, until=DAY2))
    assert [(r.campaign_id, r.currency, r.amount, r.count) for r in by_campaign] == [
        (10, "EUR", Decimal("3.000000"), 1),
        (10, "USD", Decimal("1.631358"), 4),
        (11, "USD", Decimal("2.000000"), 1),
    ]
    assert by_campaign[1].provider_amount == Decimal("0.120000")
    assert by_campaign[2].provider_amount is None
    assert [(r.day, r.channel, r.currency, r.amount) for r in by_day] == [
        (DAY1, CostChannel.CALL, "EUR", Decimal("3.000000")),
        (DAY1, CostChannel.CALL, "USD", Decimal("0.123458")),
        (DAY1, CostChannel.SMS, "USD", Decimal("0.007900")),
        (DAY2, CostChannel.CALL, "USD", Decimal("1.500000")),
    ]
    assert [(r.day, r.amount, r.campaign_id) for r in day2] == [(DAY2, Decimal("1.500000"), None)]
