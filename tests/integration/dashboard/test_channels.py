"""The dashboard shows every channel: a campaign with SMS and email steps has its messages per
channel on its page (and in the live snapshots that update it), and the tenant page counts
the tenant's opt-out lists. One tenant at a time."""

from __future__ import annotations

import re

import httpx

from dialer.bootstrap import Runtime
from dialer.domain.channels import Channel
from dialer.domain.statuses import MessageStatus
from tests.integration.dashboard.test_events import events, next_event
from tests.support.api import Keys, bearer, new_campaign
from tests.support.clock import T0
from tests.support.dashboard import Served, sign_in
from tests.support.messages import CY, STEPS, plant_messages

WORDS = ("waiting", "pending", "sent", "delivered", "failed", "skipped", "total")
CELL = re.compile(r'data-field="((?:sms|email)-[a-z]+)">(\d+)<')


def channel_cells(html: str) -> dict[str, int]:
    return {field: int(count) for field, count in CELL.findall(html)}


async def test_the_campaign_page_shows_each_channels_messages(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator, steps=STEPS)
    await plant_messages(runtime, campaign["id"], T0)
    await sign_in(client, keys.viewer)
    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    assert page.status_code == 200
    assert 'data-testid="channels"' in page.text
    assert channel_cells(page.text) == {
        **{f"sms-{w}": n for w, n in zip(WORDS, (0, 1, 0, 1, 1, 0, 3), strict=True)},
        **{f"email-{w}": n for w, n in zip(WORDS, (1, 0, 1, 0, 0, 0, 2), strict=True)},
    }


async def test_a_campaign_without_steps_has_no_messages_table(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    await sign_in(client, keys.viewer)
    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    assert page.status_code == 200
    assert 'data-testid="channels"' not in page.text
    assert channel_cells(page.text) == {}


async def test_the_live_snapshot_carries_the_channel_counts(
    served: Served, keys: Keys, runtime: Runtime
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        campaign = await new_campaign(client, keys.operator, steps=STEPS)
        planted = await plant_messages(runtime, campaign["id"], T0)
        await sign_in(client, keys.viewer)
        url = f"/dashboard/events?campaign={campaign['id']}"
        async with client.stream("GET", url) as response:
            stream = events(response)
            _, before = await next_event(stream)
            await _deliver(runtime, planted.ids[(CY, Channel.SMS)])
            after = before
            while after["campaign"]["text"]["sms-delivered"] == "1":
                _, after = await next_event(stream)
    detail = before["campaign"]
    assert [(c["channel"], c["delivered"], c["total"]) for c in detail["channels"]] == [
        ("sms", 1, 3),
        ("email", 0, 2),
    ]
    assert (detail["text"]["sms-pending"], detail["text"]["email-waiting"]) == ("1", "1")
    assert (
        after["campaign"]["text"]["sms-delivered"],
        after["campaign"]["text"]["sms-pending"],
    ) == (
        "2",
        "0",
    )


async def _deliver(runtime: Runtime, message_id: int) -> None:
    async with runtime.store.unit() as uow:
        message = await uow.messages.get(message_id)
        assert message is not None
        message.move_to(MessageStatus.SENDING)
        message.move_to(MessageStatus.DELIVERED)
        await uow.messages.save(message)
        await uow.commit()


async def test_the_tenant_page_counts_the_opt_out_lists(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    for channel, addresses in (
        ("sms", ["+12125550100", "+12125550101"]),
        ("email", ["ada@example.com"]),
    ):
        added = await client.post(
            f"/v1/opt-outs/{channel}", json={"addresses": addresses}, headers=bearer(keys.operator)
        )
        assert added.status_code == 200
    await sign_in(client, keys.viewer)
    page = await client.get("/dashboard/tenant")
    assert page.status_code == 200
    assert 'data-opt-outs="sms">2<' in page.text
    assert 'data-opt-outs="email">1<' in page.text
    client.cookies.clear()
    await sign_in(client, keys.other)
    theirs = await client.get("/dashboard/tenant")
    assert 'data-opt-outs="sms">0<' in theirs.text
    assert 'data-opt-outs="email">0<' in theirs.text
