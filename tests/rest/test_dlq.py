"""/v1/dlq: the tenant's dead letters, replayed or discarded."""

from __future__ import annotations

import httpx

from dialer.bootstrap import Runtime
from dialer.ports import NewDeadLetter
from dialer.services.batches import ORIGINATE, job_payload
from dialer.services.dispatch import Dispatcher
from tests.conftest import T0
from tests.rest.conftest import HeldExecutor, Keys, bearer, place


async def _letters(runtime: Runtime, client: httpx.AsyncClient, keys: Keys) -> dict[str, int]:
    """A failed origination of acme's, a failed job of another kind, and one of globex's."""
    await place(client, keys.operator, "+12125550100")
    await place(client, keys.other, "+12125550101")
    held = HeldExecutor()
    await Dispatcher(runtime.services, held).run_once()
    jobs = {job.tenant_id: job for batch in held.batches for job in batch}
    async with runtime.store.unit() as uow:
        acme, globex = await uow.tenants.id_for("acme"), await uow.tenants.id_for("globex")
        for tenant, kind, key, payload in (
            (acme, ORIGINATE, "a", job_payload(jobs[acme])),
            (acme, "webhook", "b", {"raw": "x"}),
            (globex, ORIGINATE, "c", job_payload(jobs[globex])),
        ):
            letter = NewDeadLetter(tenant, kind, key, "provider down", payload, 5)
            await uow.cluster.add_dead_letter(letter, T0)
        await uow.commit()
        ids = {
            row.kind + str(row.tenant_id): row.id
            for row in await uow.cluster.dead_letters(None, 0, 10, False)
        }
    return {
        "origination": ids[f"{ORIGINATE}{acme}"],
        "other": ids[f"webhook{acme}"],
        "theirs": ids[f"{ORIGINATE}{globex}"],
    }


async def test_list_replay_and_discard(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    ids = await _letters(runtime, client, keys)
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
    ids = await _letters(runtime, client, keys)
    theirs = ids["theirs"]
    viewer = await client.post(f"/v1/dlq/{ids['other']}/discard", headers=bearer(keys.viewer))
    assert viewer.status_code == 403
    for action in ("replay", "discard"):
        response = await client.post(f"/v1/dlq/{theirs}/{action}", headers=bearer(keys.admin))
        assert response.status_code == 404
    still = (await client.get("/v1/dlq", headers=bearer(keys.other))).json()["items"]
    assert [letter["id"] for letter in still] == [theirs]
