"""GET /v1/campaigns/{id}/progress says why the due leads are not being dialled."""

from __future__ import annotations

import httpx

from dialer.bootstrap import Runtime
from dialer.ports import ContactDraft
from dialer.services.contacts import import_drafts
from tests.support.api import Keys, bearer, new_campaign


async def test_progress_of_a_draft_says_its_leads_wait_for_a_start(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    drafts = [ContactDraft(f"+1212555{i:04d}", "America/New_York") for i in range(4)]
    await import_drafts(runtime.services, campaign["id"], drafts)
    response = await client.get(
        f"/v1/campaigns/{campaign['id']}/progress", headers=bearer(keys.viewer)
    )
    assert response.status_code == 200
    assert response.json()["waiting"] == [
        {
            "reason": "paused",
            "leads": 4,
            "until": None,
            "zone": None,
            "message": "4 leads wait — the campaign has not been started",
        }
    ]
