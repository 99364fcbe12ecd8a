"""The dashboard's campaign page says why the leads still due are not being dialled, on the
page and in the live snapshot its script applies."""

from __future__ import annotations

import httpx

from dialer.api.dashboard.live import Snapshots
from dialer.bootstrap import Runtime
from dialer.ports import ContactDraft
from dialer.services.contacts import import_drafts
from tests.support.api import Keys, new_campaign
from tests.support.dashboard import sign_in

DRAFT_WAITS = "4 leads wait — the campaign has not been started"


async def test_the_campaign_page_shows_why_leads_wait(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    drafts = [ContactDraft(f"+1212555{i:04d}", "America/New_York") for i in range(4)]
    await import_drafts(runtime.services, campaign["id"], drafts)
    await sign_in(client, keys.operator)
    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    assert f'data-testid="waiting">\n        <li>{DRAFT_WAITS}</li>' in page.text
    async with runtime.store.unit() as uow:
        tenant_id = (await uow.campaigns.get(campaign["id"])).tenant_id
    snapshot = await Snapshots(runtime.services).build(tenant_id, campaign["id"])
    assert snapshot["campaign"]["waiting"] == [DRAFT_WAITS]
