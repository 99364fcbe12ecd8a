"""The rate card document: read as written, refused naming the key, written back unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dialer.domain.costs import CostChannel, Increment
from dialer.errors import InvalidInput
from dialer.rate_card_document import card_from_mapping, card_from_yaml, card_to_mapping

CALL_CARD = """\
provider: twilio
channel: call
currency: USD
increment: 60/60
connection_fee: 0.001
prices:
  - {prefix: "1", per_minute: 0.0140}
  - {prefix: "+44", per_minute: 0.0255, increment: 1/1, connection_fee: 0}
"""


def problems(data: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        card_from_mapping(data)
    return {p.location: p.message for p in info.value.problems}


def test_a_call_card_reads_as_written_with_the_defaults_filled_in() -> None:
    card = card_from_yaml(CALL_CARD)
    assert (card.provider, card.channel, card.currency) == ("twilio", CostChannel.CALL, "USD")
    us, uk = card.prices
    assert (us.prefix, us.per_minute, us.increment, us.connection_fee) == (
        "1",
        Decimal("0.0140"),
        Increment(60, 60),
        Decimal("0.001"),
    )
    assert (uk.prefix, uk.increment, uk.connection_fee) == ("44", Increment(1, 1), Decimal(0))


def test_a_card_written_back_reads_as_the_same_card() -> None:
    card = card_from_yaml(CALL_CARD)
    assert card_from_mapping(card_to_mapping(card)) == card


def test_each_bad_key_is_named() -> None:
    found = problems(
        {
            "provider": "twilio",
            "channel": "fax",
            "currency": "usd",
            "prices": [{"prefix": "1x", "per_minute": -1}],
        }
    )
    assert "channel" in found
    assert "ISO 4217" in found["currency"]
    assert "prices[0].prefix" in found
    assert "prices[0].per_minute" in found


def test_a_price_needs_the_amount_its_channel_charges_by_and_no_other() -> None:
    found = problems(
        {
            "provider": "twilio",
            "channel": "sms",
            "currency": "USD",
            "prices": [{"prefix": "1", "per_minute": 0.01}],
        }
    )
    assert found == {
        "prices[0].per_segment": "required on a sms card",
        "prices[0].per_minute": "not charged on a sms card",
    }


def test_a_prefix_priced_twice_is_refused() -> None:
    found = problems(
        {
            "provider": "twilio",
            "channel": "call",
            "currency": "USD",
            "prices": [{"prefix": "1", "per_minute": 0.01}, {"prefix": "1", "per_minute": 0.02}],
        }
    )
    assert "priced twice" in next(iter(found.values()))


def test_an_email_card_has_one_price_without_a_prefix() -> None:
    found = problems(
        {
            "provider": "smtp",
            "channel": "email",
            "currency": "USD",
            "prices": [{"prefix": "1", "per_message": 0.0001}],
        }
    )
    assert found == {"prices[0].prefix": "an email card has one price, no prefix"}


def test_amounts_beyond_a_millionth_are_refused_not_rounded() -> None:
    found = problems(
        {
            "provider": "twilio",
            "channel": "call",
            "currency": "USD",
            "prices": [{"prefix": "1", "per_minute": "0.0000001"}],
        }
    )
    assert "prices[0].per_minute" in found


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(InvalidInput) as info:
        card_from_yaml("provider: twilio\nprices: [\n")
    assert info.value.problems[0].location.startswith("line ")
