"""What each adapter says a call cost. Twilio's Call resource: a debit ("-0.01400") is an
amount charged, a null price is "not priced yet", except for a call that never connected,
which Twilio does not charge. Plivo and Telnyx report no price (and are never asked)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dialer.adapters.telephony.plivo import PlivoTelephony
from dialer.adapters.telephony.telnyx import TelnyxTelephony
from dialer.adapters.telephony.twilio import call_resource_price
from dialer.ports import CallPrice


def resource(**changes: Any) -> dict[str, Any]:
    values = {"status": "completed", "duration": "75", "price": "-0.02800", "price_unit": "USD"}
    return {**values, **changes}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, CallPrice(Decimal("0.02800"), "USD")),
        ({"price": "0.01000", "price_unit": "eur"}, CallPrice(Decimal("0.01000"), "EUR")),
        ({"price": None}, None),  # not priced yet
        ({"price": ""}, None),
        ({"price": "soon"}, None),
        ({"price": "NaN"}, None),
        ({"price_unit": None}, None),
        ({"status": "busy", "duration": "0", "price": None}, CallPrice(Decimal(0), "USD")),
        ({"status": "no-answer", "duration": None, "price": None}, CallPrice(Decimal(0), "USD")),
        ({"status": "canceled", "duration": "0", "price": "0.00000"}, CallPrice(Decimal(0), "USD")),
        # A call that talked, then failed (a dropped line), is charged: wait for its price.
        ({"status": "failed", "duration": "12", "price": None}, None),
        ({"status": "in-progress", "duration": None, "price": None}, None),
    ],
)
def test_a_call_resource_price_is_what_the_call_cost(
    changes: dict[str, Any], expected: CallPrice | None
) -> None:
    assert call_resource_price(resource(**changes)) == expected


async def test_plivo_and_telnyx_report_no_price_without_asking() -> None:
    unreachable = "http://127.0.0.1:9"  # nothing listens: a request would fail
    for adapter in (
        PlivoTelephony(unreachable, "MAID", "token"),
        TelnyxTelephony(unreachable, "KEY", "connection"),
    ):
        assert adapter.reports_prices is False
        assert await adapter.call_price("call-1") is None
        await adapter.aclose()
