"""POST /v1/calls honours the contact-local calling window like a campaign call: the tenant's
calling hours (by default every day 08:00-21:00) or the request's own inside them; outside it
the call waits until it opens, and a window outside the tenant's hours, or one that never
opens, is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dialer.adapters.clock import ManualClock
from dialer.adapters.store.tables import leads
from dialer.bootstrap import Runtime
from tests.support.api import Keys, bearer, place
from tests.support.clock import T0
from tests.support.engine import dispatch_once

NEW_YORK = "+12125550100"  # T0 is 10:00 in New York (15:00 UTC, before daylight saving)
THREE_AM_IN_NEW_YORK = T0 + timedelta(hours=17)
EIGHT_AM_IN_NEW_YORK = T0 + timedelta(hours=22)


def _clock(runtime: Runtime) -> ManualClock:
    clock = runtime.services.clock
    assert isinstance(clock, ManualClock)
    return clock


def _at(runtime: Runtime, instant: datetime) -> None:
    clock = _clock(runtime)
    clock.advance((instant - clock.now()).total_seconds())


def _instant(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["not_before"])


async def test_a_call_at_3am_contact_local_waits_for_the_default_window(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    _at(runtime, THREE_AM_IN_NEW_YORK)
    response = await place(client, keys.operator, NEW_YORK)
    assert response.status_code == 202, response.text
    assert _instant(response.json()) == EIGHT_AM_IN_NEW_YORK
    assert await dispatch_once(runtime) == 0
    _at(runtime, EIGHT_AM_IN_NEW_YORK - timedelta(seconds=1))
    assert await dispatch_once(runtime) == 0
    _at(runtime, EIGHT_AM_IN_NEW_YORK)
    assert await dispatch_once(runtime) == 1


async def test_a_call_inside_the_window_is_dialled_at_once(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    response = await place(client, keys.operator, NEW_YORK)
    assert _instant(response.json()) == T0
    assert await dispatch_once(runtime) == 1


async def test_a_request_window_outside_the_tenants_hours_is_refused_naming_it(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    _at(runtime, THREE_AM_IN_NEW_YORK)
    night = {"start": "02:00", "end": "04:00"}
    response = await place(client, keys.operator, NEW_YORK, window=night)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["location"] == "body.window"
    assert "mon 02:00-04:00" in error["message"]
    assert "outside the tenant's calling hours (08:00-21:00" in error["message"]
    assert await dispatch_once(runtime) == 0
    # Narrower than the tenant's hours is fine.
    morning = {"start": "09:00", "end": "11:00"}
    response = await place(client, keys.operator, NEW_YORK, window=morning)
    assert response.status_code == 202, response.text


async def test_the_tenants_hours_bound_and_default_the_windows_of_calls(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    """An admin widens the tenant's calling hours; then a night window may be asked for, and
    a call naming none waits for the tenant's own hours, not the campaigns' default."""
    hours = {"calling_hours": "02:00-04:00;09:00-20:00"}
    put = await client.put("/v1/policy", json=hours, headers=bearer(keys.admin))
    assert put.status_code == 200, put.text
    _at(runtime, THREE_AM_IN_NEW_YORK - timedelta(hours=2))  # 01:00 in New York
    no_window = await place(client, keys.operator, "+12125550101")
    assert _instant(no_window.json()) == THREE_AM_IN_NEW_YORK - timedelta(hours=1)  # 02:00
    other_tenant = await place(client, keys.other, "+12125550101")
    assert _instant(other_tenant.json()) == EIGHT_AM_IN_NEW_YORK  # its hours are the default
    _at(runtime, THREE_AM_IN_NEW_YORK)
    night = {"start": "02:00", "end": "04:00"}
    response = await place(client, keys.operator, NEW_YORK, window=night)
    assert response.status_code == 202, response.text
    assert _instant(response.json()) == THREE_AM_IN_NEW_YORK
    queue = await client.get(
        f"/v1/campaigns/{response.json()['campaign_id']}", headers=bearer(keys.viewer)
    )
    assert queue.json()["settings"]["window"] == {d: ["02:00-04:00"] for d in _DAYS}
    assert await dispatch_once(runtime) == 2  # this one, and the one waiting since 02:00


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def test_a_window_closed_today_waits_for_the_next_open_day(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    weekdays_but_tuesday = {"days": ["mon", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    response = await place(client, keys.operator, NEW_YORK, window=weekdays_but_tuesday)
    # T0 is Tuesday 3 March 2026: the next opening is Wednesday 09:00 New York time.
    assert _instant(response.json()) == T0 + timedelta(days=1, hours=-1)
    assert await dispatch_once(runtime) == 0


@pytest.mark.parametrize(
    ("window", "location", "says"),
    [
        ({day: [] for day in _DAYS}, "body.window", "never opens"),
        ({"start": "25:00"}, "body.window.start", "09:00"),
        ({"days": ["mon"], "mon": ["09:00-10:00"]}, "body.window", "not both"),
        ({"start": "10:00", "end": "09:00"}, "body.window", "before end"),
    ],
)
async def test_a_window_that_never_opens_or_is_malformed_is_422(
    client: httpx.AsyncClient,
    keys: Keys,
    runtime: Runtime,
    window: dict[str, Any],
    location: str,
    says: str,
) -> None:
    response = await place(client, keys.operator, NEW_YORK, window=window)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["location"] == location
    assert says in error["message"]
    async with runtime.store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(leads)) == 0


async def test_bulk_calls_each_get_their_window(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    _at(runtime, THREE_AM_IN_NEW_YORK)
    calls = [
        {"to": NEW_YORK, "from": "+14155550100"},
        {
            "to": "+12125550111",
            "from": "+14155550100",
            "window": {"start": "09:00", "end": "11:00"},
        },
        {"to": "+12125550122", "from": "+14155550100", "window": {d: [] for d in _DAYS}},
        {
            "to": "+12125550133",
            "from": "+14155550100",
            "window": {"start": "00:00", "end": "24:00"},
        },
    ]
    response = await client.post(
        "/v1/calls/bulk", json={"calls": calls}, headers=bearer(keys.operator)
    )
    body = response.json()
    assert [(c["index"], _instant(c)) for c in body["accepted"]] == [
        (0, EIGHT_AM_IN_NEW_YORK),
        (1, EIGHT_AM_IN_NEW_YORK + timedelta(hours=1)),
    ]
    assert [(r["index"], r["location"]) for r in body["refused"]] == [
        (2, "calls[2].window"),  # never opens
        (3, "calls[3].window"),  # outside the tenant's calling hours
    ]
    assert await dispatch_once(runtime) == 0
    _at(runtime, EIGHT_AM_IN_NEW_YORK)
    assert await dispatch_once(runtime) == 1  # only the call whose window is open
