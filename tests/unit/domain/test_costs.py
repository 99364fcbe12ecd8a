"""Cost arithmetic: billing increments, longest-prefix prices, SMS segments, card versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.costs import (
    CostChannel,
    Increment,
    Price,
    RateCard,
    call_charge,
    card_in_force,
    from_micros,
    message_charge,
    to_micros,
    worst_case_call,
)

INCREMENTS = [Increment(60, 60), Increment(30, 6), Increment(6, 6), Increment(1, 1)]
T0 = datetime(2026, 12, 1, tzinfo=UTC)
durations = st.integers(min_value=1, max_value=6 * 3600)
increments = st.sampled_from(INCREMENTS)
per_minute = st.decimals(min_value=0, max_value=5, places=4, allow_nan=False)


def card(*prices: Price, version: int = 1, at: datetime | None = None) -> RateCard:
    return RateCard("twilio", CostChannel.CALL, "USD", prices, at, version, version)


@pytest.mark.parametrize(
    ("increment", "duration", "billed"),
    [
        (Increment(60, 60), 1, 60),
        (Increment(60, 60), 60, 60),
        (Increment(60, 60), 61, 120),
        (Increment(30, 6), 1, 30),
        (Increment(30, 6), 31, 36),
        (Increment(30, 6), 37, 42),
        (Increment(6, 6), 7, 12),
        (Increment(1, 1), 61, 61),
        (Increment(60, 60), 0, 0),
    ],
)
def test_each_increment_bills_the_seconds_its_carrier_would(
    increment: Increment, duration: int, billed: int
) -> None:
    assert increment.billable_seconds(duration) == billed


@given(increments, durations)
def test_billed_seconds_cover_the_call_by_less_than_one_step(
    increment: Increment, duration: int
) -> None:
    billed = increment.billable_seconds(duration)
    assert billed >= max(duration, increment.first)
    assert billed - max(duration, increment.first) < increment.then
    assert (billed - increment.first) % increment.then == 0


@given(increments, durations, durations)
def test_a_longer_call_never_costs_less(increment: Increment, a: int, b: int) -> None:
    price = Price(per_minute=Decimal("0.013"), increment=increment)
    shorter, longer = sorted((a, b))
    assert price.call(shorter) <= price.call(longer)


@given(increments, durations, per_minute)
def test_a_call_costs_its_billed_minutes_at_the_rate_plus_the_fee(
    increment: Increment, duration: int, rate: Decimal
) -> None:
    fee = Decimal("0.0025")
    price = Price(per_minute=rate, increment=increment, connection_fee=fee)
    exact = fee + rate * Decimal(increment.billable_seconds(duration)) / 60
    assert abs(price.call(duration) - exact) <= Decimal("0.0000005")


def test_an_unanswered_call_costs_nothing_not_even_the_connection_fee() -> None:
    price = Price(per_minute=Decimal("0.02"), connection_fee=Decimal("0.01"))
    assert price.call(0) == Decimal(0)
    charge = call_charge(card(price), "+14155550100", None)
    assert charge is not None
    assert charge.amount == Decimal(0)


def test_the_longest_matching_prefix_prices_a_number() -> None:
    rates = card(
        Price("", per_minute=Decimal("0.5")),
        Price("1", per_minute=Decimal("0.014")),
        Price("1415", per_minute=Decimal("0.010")),
        Price("44", per_minute=Decimal("0.025")),
    )
    assert rates.price_for("+14155550100").prefix == "1415"  # type: ignore[union-attr]
    assert rates.price_for("+12125550100").prefix == "1"  # type: ignore[union-attr]
    assert rates.price_for("+442071234567").prefix == "44"  # type: ignore[union-attr]
    assert rates.price_for("+81312345678").prefix == ""  # type: ignore[union-attr]


def test_a_number_no_prefix_covers_has_no_price() -> None:
    rates = card(Price("1", per_minute=Decimal("0.014")))
    assert call_charge(rates, "+442071234567", 30) is None
    assert worst_case_call(rates, "+442071234567", 600) is None


def test_the_worst_case_is_the_cost_of_the_longest_call_allowed() -> None:
    rates = card(Price("1", per_minute=Decimal("0.02"), increment=Increment(1, 1)))
    assert worst_case_call(rates, "+14155550100", 480) == Decimal("0.160000")


@given(st.integers(min_value=1, max_value=20))
def test_sms_costs_its_segments(segments: int) -> None:
    sms = RateCard(
        "twilio", CostChannel.SMS, "USD", (Price("1", per_segment=Decimal("0.0079")),), id=4
    )
    charge = message_charge(sms, "+14155550100", segments)
    assert charge is not None
    assert charge.amount == Decimal("0.0079") * segments
    assert charge.card_id == 4


def test_an_email_costs_its_one_price_whatever_the_address() -> None:
    email = RateCard("smtp", CostChannel.EMAIL, "EUR", (Price(per_message=Decimal("0.0001")),))
    charge = message_charge(email, "ada@example.org", None)
    assert charge is not None
    assert (charge.amount, charge.currency) == (Decimal("0.000100"), "EUR")


def test_a_card_applies_to_what_is_created_from_its_effective_instant() -> None:
    first = card(Price(per_minute=Decimal("0.01")), version=1, at=T0)
    second = card(Price(per_minute=Decimal("0.02")), version=2, at=T0 + timedelta(days=1))
    assert card_in_force([second, first], T0 - timedelta(seconds=1)) is None
    assert card_in_force([second, first], T0) is first
    assert card_in_force([second, first], T0 + timedelta(hours=23)) is first
    assert card_in_force([second, first], T0 + timedelta(days=1)) is second


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_micros_keep_every_digit_of_an_amount(amount: Decimal) -> None:
    assert from_micros(to_micros(amount)) == amount


@pytest.mark.parametrize("text", ["60", "0/6", "6/0", "a/b", "60/60/60", ""])
def test_a_malformed_increment_is_refused_saying_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="60/60, 30/6 or 1/1"):
        Increment.parse(text)


def test_increments_read_as_written() -> None:
    assert [str(Increment.parse(t)) for t in ("60/60", "30/6", " 6 / 6 ", "1/1")] == [
        "60/60",
        "30/6",
        "6/6",
        "1/1",
    ]
