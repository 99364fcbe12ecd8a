"""Campaigns' SMS and email messages over the API: the progress per channel, the messages
list (paged, filtered, tenant-scoped), a contact's history with its messages beside its
calls, and the tenant's figures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.domain.channels import Channel
from tests.support.api import Keys, bearer, new_campaign, place
from tests.support.clock import T0
from tests.support.engine import dispatch_once
from tests.support.messages import (
    ADA,
    BOB,
    CY,
    EMAIL_FROM,
    EMAILS,
    SMS_FROM,
    STEPS,
    Planted,
    plant_messages,
)


async def _planted(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> tuple[dict[str, Any], Planted]:
    campaign = await new_campaign(client, keys.operator, steps=STEPS)
    return campaign, await plant_messages(runtime, campaign["id"], T0)


async def _get(client: httpx.AsyncClient, token: str, url: str) -> Any:
    response = await client.get(url, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_progress_shows_each_channel_of_the_steps(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign, _ = await _planted(client, keys, runtime)
    progress = await _get(client, keys.viewer, f"/v1/campaigns/{campaign['id']}/progress")
    assert progress["leads"] == {"PENDING": 3}  # the call step's fields are unchanged
    assert progress["channels"] == {
        "sms": {
            "statuses": {"DELIVERED": 1, "UNDELIVERED": 1, "PENDING": 1},
            "total": 3,
            "waiting": 0,
            "pending": 1,
            "sent": 0,
            "delivered": 1,
            "failed": 1,
            "skipped": 0,
        },
        "email": {
            "statuses": {"SENT": 1, "PENDING": 1},
            "total": 2,
            "waiting": 1,
            "pending": 0,
            "sent": 1,
            "delivered": 0,
            "failed": 0,
            "skipped": 0,
        },
    }


async def test_a_campaign_without_steps_has_no_channels_in_its_progress(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    progress = await _get(client, keys.viewer, f"/v1/campaigns/{campaign['id']}/progress")
    assert "channels" not in progress
    assert {"leads", "attempts", "waiting", "eta_seconds"} <= set(progress)


async def test_a_campaigns_messages_are_paged_and_filtered(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign, planted = await _planted(client, keys, runtime)
    url = f"/v1/campaigns/{campaign['id']}/messages"
    first = await _get(client, keys.viewer, f"{url}?limit=3")
    rest = await _get(client, keys.viewer, f"{url}?limit=3&cursor={first['next_cursor']}")
    assert rest["next_cursor"] is None
    items = first["items"] + rest["items"]
    assert [m["id"] for m in items] == sorted(planted.ids.values())
    ada_sms = next(m for m in items if m["id"] == planted.ids[(ADA, Channel.SMS)])
    assert {k: ada_sms[k] for k in ("channel", "to", "from", "status", "outcome", "step")} == {
        "channel": "sms",
        "to": ADA,
        "from": SMS_FROM,
        "status": "DELIVERED",
        "outcome": "sms.delivered",
        "step": 1,
    }
    assert "token" not in ada_sms  # the unsubscribe link's secret stays in the store
    emails = await _get(client, keys.viewer, f"{url}?channel=email")
    assert [(m["to"], m["from"]) for m in emails["items"]] == [
        (EMAILS[ADA], EMAIL_FROM),
        (EMAILS[BOB], EMAIL_FROM),
    ]
    pending_sms = await _get(client, keys.viewer, f"{url}?channel=sms&status=PENDING")
    assert [m["to"] for m in pending_sms["items"]] == [CY]
    either = await _get(client, keys.viewer, f"{url}?status=DELIVERED&status=SENT")
    assert [m["outcome"] for m in either["items"]] == ["sms.delivered", "email.sent"]


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("channel=call", "query.channel[0]"),
        ("channel=fax", "query.channel[0]"),
        ("status=LOST", "query.status[0]"),
        ("cursor=abc", "query.cursor"),
        ("limit=0", "query.limit"),
        ("limit=1001", "query.limit"),
    ],
)
async def test_bad_filters_are_422_naming_them(
    client: httpx.AsyncClient, keys: Keys, query: str, location: str
) -> None:
    campaign = await new_campaign(client, keys.operator, steps=STEPS)
    url = f"/v1/campaigns/{campaign['id']}/messages?{query}"
    response = await client.get(url, headers=bearer(keys.viewer))
    assert response.status_code == 422, response.text
    assert [e["location"] for e in response.json()["errors"]] == [location]


async def test_another_tenants_campaign_messages_are_404(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign, _ = await _planted(client, keys, runtime)
    for path in ("messages", "progress"):
        url = f"/v1/campaigns/{campaign['id']}/{path}"
        theirs = await client.get(url, headers=bearer(keys.other))
        assert theirs.status_code == 404
    missing = await client.get("/v1/campaigns/999999/messages", headers=bearer(keys.viewer))
    assert missing.status_code == 404
    unauthenticated = await client.get(f"/v1/campaigns/{campaign['id']}/messages")
    assert unauthenticated.status_code == 401


async def test_a_contacts_history_has_its_messages_beside_its_calls(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign, planted = await _planted(client, keys, runtime)
    await place(client, keys.operator, ADA)
    await dispatch_once(runtime)
    url = f"/v1/contacts/%2B{ADA[1:]}/history"
    history = await _get(client, keys.viewer, url)
    assert [(h["kind"], h["campaign"]) for h in history] == [
        ("call", "api calls from +14155550100"),
        ("message", campaign["name"]),
        ("message", campaign["name"]),
    ]
    call, *messages = history
    assert (call["call"]["to"], call["message"]) == (ADA, None)
    assert {(m["message"]["channel"], m["message"]["to"], m["call"]) for m in messages} == {
        ("sms", ADA, None),
        ("email", EMAILS[ADA], None),
    }
    assert {m["message"]["id"] for m in messages} == {
        planted.ids[(ADA, Channel.SMS)],
        planted.ids[(ADA, Channel.EMAIL)],
    }
    assert len(await _get(client, keys.viewer, f"{url}?limit=1")) == 1
    assert await _get(client, keys.other, url) == []  # acme's record, not globex's
    cy = await _get(client, keys.viewer, f"/v1/contacts/%2B{CY[1:]}/history")
    assert [(h["kind"], h["message"]["status"]) for h in cy] == [("message", "PENDING")]


async def test_the_tenants_figures_count_messages_by_channel_and_status(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await _planted(client, keys, runtime)
    mine = await _get(client, keys.viewer, "/v1/metrics")
    assert mine["messages"] == {
        "email": {"PENDING": 1, "SENT": 1},
        "sms": {"DELIVERED": 1, "PENDING": 1, "UNDELIVERED": 1},
    }
    theirs = await _get(client, keys.other, "/v1/metrics")
    assert theirs["messages"] == {}


async def test_metrics_expose_every_tenants_messages_by_channel_and_status(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await _planted(client, keys, runtime)
    theirs = await new_campaign(client, keys.other, steps=STEPS)
    await plant_messages(runtime, theirs["id"], T0)  # globex's: counted too
    text = (await client.get("/metrics")).text
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("dialer_messages{")
    )
    assert "# TYPE dialer_messages gauge" in text
    assert len(samples) == 2 * 9  # every channel and status, 0 included
    shown = {key: float(value) for key, value in samples.items() if float(value)}
    assert shown == {
        'dialer_messages{channel="sms",status="PENDING"}': 2.0,
        'dialer_messages{channel="sms",status="DELIVERED"}': 2.0,
        'dialer_messages{channel="sms",status="UNDELIVERED"}': 2.0,
        'dialer_messages{channel="email",status="PENDING"}': 2.0,
        'dialer_messages{channel="email",status="SENT"}': 2.0,
    }
