"""The global do-not-call list across tenants: tenant admins add to it and see what is listed,
but only a platform key (made from the command line) removes entries or reads who listed a
number and why."""

from __future__ import annotations

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.services.access import KeyScope, create_key
from tests.support.api import Keys, bearer
from tests.support.clock import T0

ACME_NUMBER = "+12125550100"
GLOBEX_NUMBER = "+12125550101"
GLOBAL_ENTRY = f"/v1/dnc/%2B{ACME_NUMBER[1:]}?list=global"


@pytest.fixture
async def platform(runtime: Runtime) -> str:
    _, token = await create_key(runtime.store, "ops", KeyScope.PLATFORM, "platform", T0)
    return token


async def _list_globally(client: httpx.AsyncClient, token: str, number: str, reason: str) -> None:
    body = {"numbers": [{"number": number, "reason": reason}], "list": "global"}
    response = await client.post("/v1/dnc", json=body, headers=bearer(token))
    assert response.json() == {"added": 1, "already_listed": 0}


async def _global_view(
    client: httpx.AsyncClient, token: str
) -> list[tuple[str, str | None, str | None]]:
    response = await client.get("/v1/dnc?list=global", headers=bearer(token))
    assert response.status_code == 200, response.text
    return [(e["number"], e["reason"], e["added_by"]) for e in response.json()["items"]]


async def test_no_tenant_admin_removes_a_global_entry(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    await _list_globally(client, keys.admin, ACME_NUMBER, "complained to acme")
    for admin in (keys.other_admin, keys.admin):  # not another tenant's, nor its own
        refused = await client.delete(GLOBAL_ENTRY, headers=bearer(admin))
        assert refused.status_code == 403, refused.text
        assert "platform" in refused.json()["detail"]
    check = await client.get(f"/v1/dnc/%2B{ACME_NUMBER[1:]}", headers=bearer(keys.other))
    assert check.json()["listed"] is True


async def test_a_tenant_admin_sees_global_numbers_but_only_its_own_reasons(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    await _list_globally(client, keys.admin, ACME_NUMBER, "complained to acme")
    await _list_globally(client, keys.other_admin, GLOBEX_NUMBER, "globex legal hold")
    assert await _global_view(client, keys.other_admin) == [
        (ACME_NUMBER, None, None),
        (GLOBEX_NUMBER, "globex legal hold", None),
    ]
    assert await _global_view(client, keys.admin) == [
        (ACME_NUMBER, "complained to acme", None),
        (GLOBEX_NUMBER, None, None),
    ]


async def test_a_platform_key_reads_every_reason_and_author_and_removes(
    client: httpx.AsyncClient, keys: Keys, platform: str
) -> None:
    await _list_globally(client, keys.admin, ACME_NUMBER, "complained to acme")
    await _list_globally(client, platform, GLOBEX_NUMBER, "regulator's list")
    assert await _global_view(client, platform) == [
        (ACME_NUMBER, "complained to acme", "acme"),
        (GLOBEX_NUMBER, "regulator's list", None),
    ]
    removed = await client.delete(GLOBAL_ENTRY, headers=bearer(platform))
    assert removed.json() == {"removed": True}
    check = await client.get(f"/v1/dnc/%2B{ACME_NUMBER[1:]}", headers=bearer(keys.other))
    assert check.json()["listed"] is False


@pytest.mark.parametrize("creator", ["admin", "platform"])
async def test_the_api_never_creates_a_platform_key(
    client: httpx.AsyncClient, keys: Keys, platform: str, creator: str
) -> None:
    token = platform if creator == "platform" else keys.admin
    body = {"name": "escalate", "scope": "platform"}
    refused = await client.post("/v1/keys", json=body, headers=bearer(token))
    assert refused.status_code == 403, refused.text
    assert "command line" in refused.json()["detail"]
    listed = await client.get("/v1/keys", headers=bearer(token))
    assert "escalate" not in [k["name"] for k in listed.json()]
