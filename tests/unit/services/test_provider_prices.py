"""The provider-price pass on the in-memory backends: a price in the charge's currency is kept
beside Dialer's cost, anything else is left (for a later pass, or for good when it is in
another currency); calls are asked only between the wait and giving up, and not at all once
the provider stops answering."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from dialer.domain.costs import CostChannel, Price, RateCard
from dialer.domain.statuses import CallProgress
from dialer.errors import ProviderRejected, ProviderThrottled
from dialer.ports import CallPrice
from dialer.services import costs
from dialer.services.provider_prices import PricePolicy, PriceReport, fetch_provider_prices
from tests.support.in_process import InProcess, InProcessProvider, in_process
from tests.unit.services.test_dialling import dispatch_and_send, end_call, started

CARD = RateCard("twilio", CostChannel.CALL, "USD", (Price("1", per_minute=Decimal("0.013")),))
POLICY = PricePolicy(wait=300, give_up=3600, concurrency=2, every=30)


@dataclass
class Asked(InProcessProvider):
    """The in-process provider, counting the price requests; ``errors`` by call id."""

    asked: list[str] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        self.asked.append(provider_call_id)
        if provider_call_id in self.errors:
            raise self.errors[provider_call_id]
        return await super().call_price(provider_call_id)


async def ended_calls(n: int) -> tuple[InProcess, Asked, list[tuple[int, str]]]:
    """``n`` calls made and ended (20 s each) at the clock's start, charged by ``CARD``."""
    p = in_process()
    provider = Asked()
    p.provider = provider
    p.services.telephony = provider
    await costs.add_card(p.services.store, p.services.pricing, CARD, p.clock.now())
    await started(p, contacts=n, max_concurrency=n)
    calls = await dispatch_and_send(p)
    for attempt_id, call_id in calls:
        await end_call(p, attempt_id, call_id, CallProgress.COMPLETED)
    return p, provider, calls


async def provider_amounts(p: InProcess, calls: list[tuple[int, str]]) -> list[Decimal | None]:
    async with p.services.store.unit() as uow:
        found = await uow.costs.charges_of(CostChannel.CALL, [a for a, _ in calls])
    return [found[a].provider_amount for a, _ in calls]


async def test_a_price_in_the_charges_currency_is_kept_and_the_rest_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p, provider, calls = await ended_calls(5)
    ids = [call_id for _, call_id in calls]
    provider.prices = {
        ids[0]: CallPrice(Decimal("0.013"), "USD"),
        ids[1]: CallPrice(Decimal("0.02"), "EUR"),
        ids[3]: CallPrice(Decimal(0), "USD"),
    }
    provider.errors = {ids[4]: ProviderRejected("no such call")}
    p.clock.advance(600)
    with caplog.at_level(logging.INFO, "dialer.services.provider_prices"):
        first = await fetch_provider_prices(p.services, 100, POLICY)
    assert first == PriceReport(priced=2, not_yet=1, other_currency=1, failed=1)
    assert await provider_amounts(p, calls) == [Decimal("0.013"), None, None, Decimal(0), None]
    assert "another currency" in caplog.text
    assert "EUR/USD" in caplog.text

    provider.prices[ids[2]] = CallPrice(Decimal("0.026"), "USD")
    del provider.errors[ids[4]]
    p.clock.advance(60)
    second = await fetch_provider_prices(p.services, 100, POLICY)
    assert second == PriceReport(priced=1, not_yet=1, other_currency=1)
    assert sorted(provider.asked[5:]) == sorted(ids[1:3] + ids[4:])  # the priced: not again
    assert (await provider_amounts(p, calls))[2] == Decimal("0.026")


async def test_calls_are_asked_after_the_wait_and_until_giving_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p, provider, calls = await ended_calls(2)
    p.clock.advance(POLICY.wait - 1)
    assert await fetch_provider_prices(p.services, 100, POLICY) == PriceReport()
    assert provider.asked == []
    p.clock.advance(1)
    assert (await fetch_provider_prices(p.services, 1, POLICY)).not_yet == 1  # a batch of 1
    assert len(provider.asked) == 1
    p.clock.advance(POLICY.give_up - POLICY.wait)  # the last pass that asks them
    with caplog.at_level(logging.WARNING, "dialer.services.provider_prices"):
        last = await fetch_provider_prices(p.services, 100, POLICY)
    assert last == PriceReport(not_yet=2, given_up=2)
    assert "no longer asked" in caplog.text
    p.clock.advance(POLICY.every)
    assert await fetch_provider_prices(p.services, 100, POLICY) == PriceReport()
    assert len(provider.asked) == 3
    assert await provider_amounts(p, calls) == [None, None]


async def test_once_the_provider_stops_answering_the_rest_is_left_for_later() -> None:
    p, provider, calls = await ended_calls(4)
    provider.errors = {call_id: ProviderThrottled("slow down") for _, call_id in calls}
    p.clock.advance(600)
    report = await fetch_provider_prices(p.services, 100, PricePolicy(concurrency=1))
    assert report == PriceReport(failed=1, skipped=3)
    assert len(provider.asked) == 1
    assert await provider_amounts(p, calls) == [None] * 4


async def test_a_provider_that_reports_no_prices_is_not_asked() -> None:
    p, provider, calls = await ended_calls(2)
    provider.reports_prices = False
    p.clock.advance(600)
    assert await fetch_provider_prices(p.services, 100) == PriceReport()
    assert provider.asked == []
    assert await provider_amounts(p, calls) == [None, None]
