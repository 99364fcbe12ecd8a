"""Per-channel opt-out lists over the API: /v1/opt-outs/sms and /v1/opt-outs/email, tenant
by tenant, addresses normalised as contacts' are, every bad input a 422 naming its field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.domain.channels import Channel
from tests.support.api import Keys, bearer


async def _send(
    client: httpx.AsyncClient, method: str, channel: str, token: str, body: Any
) -> httpx.Response:
    return await client.request(method, f"/v1/opt-outs/{channel}", json=body, headers=bearer(token))


async def _listed(client: httpx.AsyncClient, channel: str, token: str, query: str = "") -> Any:
    response = await client.get(f"/v1/opt-outs/{channel}{query}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def _opted_out(runtime: Runtime, tenant: str, channel: Channel, address: str) -> bool:
    async with runtime.store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        return bool(await uow.messages.opted_out(tenant_id, channel, [address]))


async def test_sms_opt_outs_are_added_listed_and_removed(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    body = {"addresses": ["(212) 555-0100", "+14155550123", "+1 212 555 0100"], "reason": "asked"}
    added = await _send(client, "POST", "sms", keys.operator, body)
    assert added.status_code == 200, added.text
    assert added.json() == {"added": 2, "already_opted_out": 0}  # one number, written twice
    again = await _send(client, "POST", "sms", keys.operator, {"addresses": ["+12125550100"]})
    assert again.json() == {"added": 0, "already_opted_out": 1}
    listed = await _listed(client, "sms", keys.viewer)
    assert [(e["address"], e["reason"]) for e in listed["items"]] == [
        ("+12125550100", "asked"),
        ("+14155550123", "asked"),
    ]
    assert listed["next_cursor"] is None
    first = await _listed(client, "sms", keys.viewer, "?limit=1")
    rest = await _listed(client, "sms", keys.viewer, f"?limit=1&cursor={first['next_cursor']}")
    assert [e["address"] for e in first["items"] + rest["items"]] == [
        "+12125550100",
        "+14155550123",
    ]
    assert await _opted_out(runtime, "acme", Channel.SMS, "+12125550100")
    assert not await _opted_out(runtime, "acme", Channel.EMAIL, "+12125550100")

    removed = await _send(
        client, "DELETE", "sms", keys.operator, {"addresses": ["212-555-0100", "+13125550100"]}
    )
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"removed": 1, "not_opted_out": 1}
    assert not await _opted_out(runtime, "acme", Channel.SMS, "+12125550100")
    listed = await _listed(client, "sms", keys.viewer)
    assert [e["address"] for e in listed["items"]] == ["+14155550123"]


async def test_email_opt_outs_are_normalised_as_contacts_emails_are(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    body = {"addresses": ["Ada@EXAMPLE.com", " grace@example.org "]}
    added = await _send(client, "POST", "email", keys.operator, body)
    assert added.json() == {"added": 2, "already_opted_out": 0}
    listed = await _listed(client, "email", keys.viewer)
    assert [(e["address"], e["reason"]) for e in listed["items"]] == [
        ("ada@example.com", "listed by an operator"),  # one mailbox, whatever its case
        ("grace@example.org", "listed by an operator"),
    ]
    assert await _opted_out(runtime, "acme", Channel.EMAIL, "Ada@example.com")
    assert await _opted_out(runtime, "acme", Channel.EMAIL, "ADA@example.com")
    assert (await _listed(client, "sms", keys.viewer))["items"] == []
    removed = await _send(
        client, "DELETE", "email", keys.operator, {"addresses": ["Ada@example.COM"]}
    )
    assert removed.json() == {"removed": 1, "not_opted_out": 0}


@pytest.mark.parametrize(
    ("channel", "body", "locations"),
    [
        ("sms", {"addresses": ["+12125550100", "not-a-number"]}, ["addresses[1]"]),
        ("sms", {"addresses": ["ada@example.com"]}, ["addresses[0]"]),
        ("sms", {"addresses": ["+1 212 555 0100 ext. 5"]}, ["addresses[0]"]),
        (
            "email",
            {"addresses": ["ada@example.com", "nobody", "a@b"]},
            ["addresses[1]", "addresses[2]"],
        ),
        ("email", {"addresses": ["+12125550100"]}, ["addresses[0]"]),
        ("email", {"addresses": []}, ["body.addresses"]),
        ("email", {"addresses": ["a\x00@example.com"]}, ["body.addresses[0]"]),
        ("email", {"addresses": ["x" * 321]}, ["body.addresses[0]"]),
        ("email", {"addresses": [12]}, ["body.addresses[0]"]),
        ("sms", {"addresses": ["+12125550100"], "list": "global"}, ["body.list"]),
        ("sms", {"addresses": ["+12125550100"], "reason": "r" * 201}, ["body.reason"]),
        ("sms", {}, ["body.addresses"]),
        ("fax", {"addresses": ["+12125550100"]}, ["path.channel"]),
        ("call", {"addresses": ["+12125550100"]}, ["path.channel"]),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    keys: Keys,
    channel: str,
    body: dict[str, Any],
    locations: list[str],
) -> None:
    for method in ("POST", "DELETE"):
        if method == "DELETE" and "reason" in body:
            continue  # the reason belongs to additions: a removal refuses it as unknown
        response = await _send(client, method, channel, keys.operator, body)
        assert response.status_code == 422, (method, response.text)
        assert [e["location"] for e in response.json()["errors"]] == locations, method
    for listed in ("sms", "email"):
        assert (await _listed(client, listed, keys.viewer))["items"] == []


async def test_bad_queries_are_422_naming_them(client: httpx.AsyncClient, keys: Keys) -> None:
    for query, location in (("?cursor=x", "query.cursor"), ("?limit=0", "query.limit")):
        response = await client.get(f"/v1/opt-outs/sms{query}", headers=bearer(keys.viewer))
        assert response.status_code == 422
        assert [e["location"] for e in response.json()["errors"]] == [location]
    response = await client.get("/v1/opt-outs/voice", headers=bearer(keys.viewer))
    assert [e["location"] for e in response.json()["errors"]] == ["path.channel"]


async def test_opt_outs_are_the_tenants_own(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await _send(client, "POST", "sms", keys.operator, {"addresses": ["+12125550100"]})
    assert (await _listed(client, "sms", keys.other))["items"] == []
    assert not await _opted_out(runtime, "globex", Channel.SMS, "+12125550100")
    theirs = await _send(client, "DELETE", "sms", keys.other, {"addresses": ["+12125550100"]})
    assert theirs.json() == {"removed": 0, "not_opted_out": 1}
    assert await _opted_out(runtime, "acme", Channel.SMS, "+12125550100")


async def test_scopes_mirror_the_do_not_call_lists(client: httpx.AsyncClient, keys: Keys) -> None:
    body = {"addresses": ["+12125550100"]}
    for method in ("POST", "DELETE"):
        refused = await _send(client, method, "sms", keys.viewer, body)
        assert refused.status_code == 403, method
        assert (await _send(client, method, "sms", keys.operator, body)).status_code == 200
    assert (await client.get("/v1/opt-outs/sms")).status_code == 401
