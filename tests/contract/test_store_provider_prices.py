"""The store contract for the provider's own prices, the same on SQLite, PostgreSQL and in
memory: the calls still without one are listed by provider and end time, the oldest first and
a batch at a time; a price is kept once, beside Dialer's cost, and the rollups sum both."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from dialer.adapters.clock import ManualClock
from dialer.domain.costs import CostChannel, Price, RateCard
from dialer.ports import Store
from dialer.ports.cost_store import CostQuery, NewCharge, UnpricedCall
from tests.contract.test_store_repositories import dial, draft, with_leads

MINUTE = timedelta(minutes=1)


def card(provider: str) -> RateCard:
    return RateCard(provider, CostChannel.CALL, "USD", (Price("1", per_minute=Decimal("0.013")),))


async def calls(store: Store, clock: ManualClock, n: int) -> tuple[list[int], int, int]:
    """``n`` attempts with call ids ``CA<id>``; the ids of a Twilio and a Plivo call card."""
    campaign = await with_leads(store, clock, [draft(i) for i in range(n)])
    ids = await dial(store, clock, campaign, n)
    async with store.unit() as uow:
        await uow.attempts.accept_many({i: f"CA{i}" for i in ids}, clock.now())
        twilio = await uow.costs.add_card(card("twilio"), clock.now())
        plivo = await uow.costs.add_card(card("plivo"), clock.now())
        await uow.commit()
    return ids, twilio.id, plivo.id


def charge(subject: int, card_id: int, ended: ManualClock, minutes_ago: int) -> NewCharge:
    at = ended.now() - minutes_ago * MINUTE
    return NewCharge(
        1, 10, CostChannel.CALL, subject, Decimal("0.026"), "USD", card_id, at.date(), at
    )


async def test_calls_without_a_provider_price_are_listed_oldest_first_a_batch_at_a_time(
    store: Store, clock: ManualClock
) -> None:
    ids, twilio, plivo = await calls(store, clock, 7)
    async with store.unit() as uow:
        await uow.costs.record_charges(
            [
                charge(ids[0], twilio, clock, 30),
                charge(ids[1], twilio, clock, 10),
                charge(ids[2], twilio, clock, 20),
                charge(ids[3], plivo, clock, 25),  # another provider's call
                charge(ids[4], twilio, clock, 2),  # ended too recently
                charge(ids[5], twilio, clock, 90),  # ended too long ago
                replace(charge(ids[6], twilio, clock, 15), provider_amount=Decimal(1)),
                replace(charge(ids[6], twilio, clock, 15), channel=CostChannel.SMS),
            ]
        )
        await uow.commit()
    now = clock.now()
    async with store.unit() as uow:
        window = (now - 60 * MINUTE, now - 5 * MINUTE)
        listed = await uow.costs.unpriced_calls("twilio", *window, 10)
        first_two = await uow.costs.unpriced_calls("twilio", *window, 2)
        of_plivo = await uow.costs.unpriced_calls("plivo", *window, 10)
    assert listed == [
        UnpricedCall(ids[0], f"CA{ids[0]}", "USD", now - 30 * MINUTE),
        UnpricedCall(ids[2], f"CA{ids[2]}", "USD", now - 20 * MINUTE),
        UnpricedCall(ids[1], f"CA{ids[1]}", "USD", now - 10 * MINUTE),
    ]
    assert first_two == listed[:2]
    assert [c.attempt_id for c in of_plivo] == [ids[3]]


async def test_a_call_without_a_provider_call_id_is_not_listed(
    store: Store, clock: ManualClock
) -> None:
    ids, twilio, _ = await calls(store, clock, 1)
    campaign = await with_leads(store, clock, [draft(50)])
    [never_created] = await dial(store, clock, campaign, 1)
    async with store.unit() as uow:
        await uow.costs.record_charges(
            [charge(ids[0], twilio, clock, 10), charge(never_created, twilio, clock, 10)]
        )
        await uow.commit()
        listed = await uow.costs.unpriced_calls("twilio", clock.now() - 60 * MINUTE, clock.now(), 9)
    assert [c.attempt_id for c in listed] == [ids[0]]


async def test_a_provider_price_is_kept_once_beside_the_cost_and_summed(
    store: Store, clock: ManualClock
) -> None:
    ids, twilio, _ = await calls(store, clock, 3)
    async with store.unit() as uow:
        await uow.costs.record_charges([charge(i, twilio, clock, 10) for i in ids])
        await uow.commit()
    async with store.unit() as uow:
        await uow.costs.set_provider_amounts(CostChannel.CALL, {ids[0]: Decimal("0.02600")})
        # not committed: nothing kept
    async with store.unit() as uow:
        await uow.costs.set_provider_amounts(
            CostChannel.CALL,
            {ids[0]: Decimal("0.026"), ids[1]: Decimal("0.0390001"), 10**9: Decimal(1)},
        )
        await uow.costs.set_provider_amounts(CostChannel.SMS, {ids[2]: Decimal(5)})  # no such
        await uow.commit()
    async with store.unit() as uow:
        await uow.costs.set_provider_amounts(CostChannel.CALL, {ids[0]: Decimal(9)})  # has one
        await uow.commit()
    now = clock.now()
    async with store.unit() as uow:
        kept = await uow.costs.charges_of(CostChannel.CALL, ids)
        left = await uow.costs.unpriced_calls("twilio", now - 60 * MINUTE, now, 10)
        [row] = await uow.costs.rollup(CostQuery(tenant_id=1))
    assert [kept[i].provider_amount for i in ids] == [
        Decimal("0.026000"),
        Decimal("0.039000"),  # kept to the millionth
        None,
    ]
    assert [c.attempt_id for c in left] == [ids[2]]
    assert (row.amount, row.provider_amount, row.count) == (
        Decimal("0.078000"),
        Decimal("0.065000"),
        3,
    )
