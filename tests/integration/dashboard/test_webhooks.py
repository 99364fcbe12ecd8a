"""The dashboard's webhooks page: endpoints and their latest attempts shown to any key; an
admin adds one (its secret shown on that page only), sends a test event, rotates its secret,
disables and enables it, through CSRF'd forms with the API's URL rules; one tenant at a time."""

from __future__ import annotations

import httpx

from dialer.bootstrap import Runtime
from tests.support.api import Keys, api_client, bearer
from tests.support.dashboard import sign_in

FORM = {"url": "https://crm.example.com/dialer", "events": ["lead.finished"], "description": "CRM"}


async def test_an_admin_manages_endpoints_from_the_page(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    csrf = await sign_in(client, keys.admin)
    page = await client.get("/dashboard/webhooks")
    assert page.status_code == 200
    assert 'data-testid="add-endpoint"' in page.text

    added = await client.post("/dashboard/webhooks", data={**FORM, "csrf": csrf})
    assert added.status_code == 200
    assert 'data-testid="secret"' in added.text
    assert "whsec_" in added.text
    [endpoint] = (await client.get("/v1/webhook-endpoints", headers=bearer(keys.viewer))).json()
    assert endpoint["events"] == ["lead.finished"]
    again = await client.get("/dashboard/webhooks")
    assert "whsec_" not in again.text  # shown once
    assert "crm.example.com" in again.text

    path = f"/dashboard/webhooks/{endpoint['id']}"
    tested = await client.post(f"{path}/test", data={"csrf": csrf})
    assert tested.status_code == 303
    assert "test event is queued" in (await client.get("/dashboard/webhooks")).text
    rotated = await client.post(f"{path}/rotate", data={"csrf": csrf})
    assert "whsec_" in rotated.text
    assert (await client.post(f"{path}/disable", data={"csrf": csrf})).status_code == 303
    assert "disabled by the tenant" in (await client.get("/dashboard/webhooks")).text
    assert (await client.post(f"{path}/enable", data={"csrf": csrf})).status_code == 303

    refused = await client.post(
        "/dashboard/webhooks", data={**FORM, "url": "https://10.0.0.1/x", "csrf": csrf}
    )
    assert refused.status_code == 422
    assert "url" in refused.text


async def test_a_viewer_reads_and_another_tenant_sees_nothing(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    csrf = await sign_in(client, keys.admin)
    await client.post("/dashboard/webhooks", data={**FORM, "csrf": csrf})
    [endpoint] = (await client.get("/v1/webhook-endpoints", headers=bearer(keys.admin))).json()

    async with api_client(runtime) as viewer:
        csrf = await sign_in(viewer, keys.viewer)
        page = await viewer.get("/dashboard/webhooks")
        assert "crm.example.com" in page.text
        assert 'data-testid="add-endpoint"' not in page.text
        path = f"/dashboard/webhooks/{endpoint['id']}"
        assert (await viewer.post(f"{path}/test", data={"csrf": csrf})).status_code == 403

    async with api_client(runtime) as other:
        csrf = await sign_in(other, keys.other_admin)
        assert "crm.example.com" not in (await other.get("/dashboard/webhooks")).text
        theirs = await other.post(f"{path}/disable", data={"csrf": csrf})
        assert theirs.status_code == 404
