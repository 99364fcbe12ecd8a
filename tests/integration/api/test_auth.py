"""API keys: stored hashed, shown once, scoped; both headers; revocation; the keys API."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from dialer.adapters.store.api_tables import api_keys
from dialer.bootstrap import Runtime
from tests.support.api import Keys, bearer


async def test_no_key_is_401_with_a_problem_and_a_challenge(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await client.get("/v1/campaigns")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert (body["status"], body["title"]) == (401, "Unauthorized")
    assert set(body) == {"type", "title", "status", "detail", "errors"}


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer dk_0123456789ab_wrong-secret"},
        {"X-Auth-Token": "dk_short_x"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_malformed_or_unknown_keys_are_401(
    client: httpx.AsyncClient, keys: Keys, header: dict[str, str]
) -> None:
    assert (await client.get("/v1/campaigns", headers=header)).status_code == 401


async def test_a_right_key_id_with_a_wrong_secret_is_refused(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    key_id = keys.viewer.split("_")[1]
    forged = f"dk_{key_id}_{'A' * 43}"
    assert (await client.get("/v1/campaigns", headers=bearer(forged))).status_code == 401


async def test_both_headers_are_accepted(client: httpx.AsyncClient, keys: Keys) -> None:
    assert (await client.get("/v1/campaigns", headers=bearer(keys.viewer))).status_code == 200
    token = {"X-Auth-Token": keys.viewer}
    assert (await client.get("/v1/campaigns", headers=token)).status_code == 200


async def test_only_the_secret_digest_is_stored(runtime: Runtime, keys: Keys) -> None:
    async with runtime.store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys))).all()
    secrets = [token.split("_", 2)[2] for token in (keys.admin, keys.viewer)]
    stored = " ".join(str(tuple(row)) for row in rows)
    assert len(rows) == 5
    assert not any(secret in stored for secret in secrets)
    assert all(len(row.secret_hash) == 64 for row in rows)


async def test_scopes_are_enforced(client: httpx.AsyncClient, keys: Keys) -> None:
    call = {"to": "+12125550100", "from": "+14155550100"}
    viewer_post = await client.post("/v1/calls", json=call, headers=bearer(keys.viewer))
    assert viewer_post.status_code == 403
    assert "operator" in viewer_post.json()["detail"]
    operator_keys = await client.get("/v1/keys", headers=bearer(keys.operator))
    assert operator_keys.status_code == 403
    assert (await client.get("/v1/keys", headers=bearer(keys.admin))).status_code == 200
    assert (
        await client.post("/v1/calls", json=call, headers=bearer(keys.admin))
    ).status_code == 202


async def test_keys_api_creates_lists_and_revokes(client: httpx.AsyncClient, keys: Keys) -> None:
    created = await client.post(
        "/v1/keys", json={"name": "ci", "scope": "operator"}, headers=bearer(keys.admin)
    )
    assert created.status_code == 201
    new = created.json()
    assert new["token"].startswith(f"dk_{new['key_id']}_")
    assert (await client.get("/v1/campaigns", headers=bearer(new["token"]))).status_code == 200

    listed = (await client.get("/v1/keys", headers=bearer(keys.admin))).json()
    assert {k["name"] for k in listed} == {"acme admin", "acme operator", "acme viewer", "ci"}
    assert all("token" not in k and "secret_hash" not in k for k in listed)

    revoked = await client.delete(f"/v1/keys/{new['key_id']}", headers=bearer(keys.admin))
    assert revoked.status_code == 204
    assert (await client.get("/v1/campaigns", headers=bearer(new["token"]))).status_code == 401
    again = await client.delete(f"/v1/keys/{new['key_id']}", headers=bearer(keys.admin))
    assert again.status_code == 404


async def test_an_admin_cannot_see_or_revoke_another_tenants_keys(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    theirs = keys.other.split("_")[1]
    listed = (await client.get("/v1/keys", headers=bearer(keys.admin))).json()
    assert theirs not in {k["key_id"] for k in listed}
    response = await client.delete(f"/v1/keys/{theirs}", headers=bearer(keys.admin))
    assert response.status_code == 404
    assert (await client.get("/v1/campaigns", headers=bearer(keys.other))).status_code == 200
