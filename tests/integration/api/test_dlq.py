"""/v1/dlq: the tenant's dead letters, replayed or discarded."""

from __future__ import annotations

import httpx

from dialer.bootstrap import Runtime
from tests.support.api import Keys, bearer, plant_letters


async def test_list_replay_and_discard(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    ids = await plant_letters(runtime, client, keys)
    listed = (await client.get("/v1/dlq", headers=bearer(keys.viewer))).json()
    assert [letter["id"] for letter in listed["items"]] == [ids["origination"], ids["other"]]
    assert listed["items"][0]["cause"] == "provider down"
    assert listed["items"][0]["attempts"] == 5

    replayed = await client.post(
        f"/v1/dlq/{ids['origination']}/replay", headers=bearer(keys.operator)
    )
    assert replayed.status_code == 200
    assert replayed.json()["replayed_at"] is not None
    lead_id = replayed.json()["payload"]["lead_id"]
    lead = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(keys.viewer))).json()
    assert lead["status"] == "PENDING"  # never sent: withdrawn, due again, attempt unspent

    no_job = await client.post(f"/v1/dlq/{ids['other']}/replay", headers=bearer(keys.operator))
    assert no_job.status_code == 409
    discarded = await client.post(f"/v1/dlq/{ids['other']}/discard", headers=bearer(keys.operator))
    assert discarded.json()["discarded_at"] is not None
    twice = await client.post(f"/v1/dlq/{ids['other']}/discard", headers=bearer(keys.operator))
    assert twice.status_code == 409

    assert (await client.get("/v1/dlq", headers=bearer(keys.viewer))).json()["items"] == []
    closed = await client.get("/v1/dlq?include_closed=true", headers=bearer(keys.viewer))
    assert len(closed.json()["items"]) == 2


async def test_scopes_and_tenants(client: httpx.AsyncClient, keys: Keys, runtime: Runtime) -> None:
    ids = await plant_letters(runtime, client, keys)
    theirs = ids["theirs"]
    viewer = await client.post(f"/v1/dlq/{ids['other']}/discard", headers=bearer(keys.viewer))
    assert viewer.status_code == 403
    for action in ("replay", "discard"):
        response = await client.post(f"/v1/dlq/{theirs}/{action}", headers=bearer(keys.admin))
        assert response.status_code == 404
    still = (await client.get("/v1/dlq", headers=bearer(keys.other))).json()["items"]
    assert [letter["id"] for letter in still] == [theirs]
