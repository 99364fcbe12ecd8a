"""Contact import (CSV streamed, or JSON; strict or lenient), do-not-call lists, history."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dialer.bootstrap import Runtime
from tests.rest.conftest import Keys, bearer, dispatch_once, new_campaign, place

CSV = (
    "phone,name,timezone,tags,plan\n"
    "+12125550142,Ada Lovelace,,vip;east,gold\n"
    "(415) 555-0199,Grace Hopper,America/Los_Angeles,,silver\n"
    "not-a-number,Bad,,,\n"
    "+12125550142,Again,,,\n"
    "+13125550100,Zone,Mars/Base,,\n"
    "+13125550101,Listed,,,\n"
)


def _csv(token: str) -> dict[str, str]:
    return {**bearer(token), "Content-Type": "text/csv"}


async def _import(
    client: httpx.AsyncClient, token: str, campaign_id: int, body: bytes, mode: str = "lenient"
) -> httpx.Response:
    url = f"/v1/campaigns/{campaign_id}/contacts?mode={mode}"
    return await client.post(url, content=body, headers=_csv(token))


async def _leads(client: httpx.AsyncClient, token: str, campaign_id: int) -> dict[str, int]:
    url = f"/v1/campaigns/{campaign_id}/progress"
    leads: dict[str, int] = (await client.get(url, headers=bearer(token))).json()["leads"]
    return leads


async def test_lenient_import_keeps_good_rows_and_reports_each_bad_one(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    dnc = {"numbers": [{"number": "+13125550101", "reason": "asked"}]}
    await client.post("/v1/dnc", json=dnc, headers=bearer(keys.operator))
    campaign = await new_campaign(client, keys.operator)
    response = await _import(client, keys.operator, campaign["id"], CSV.encode())
    assert response.status_code == 200
    report = response.json()
    assert (report["rows"], report["accepted"], report["added"]) == (6, 3, 3)
    assert report["skipped_do_not_call"] == 1
    assert [(r["location"], r["reason"].split(":")[0]) for r in report["rejected"]] == [
        ("line 4", "phone"),
        ("line 5", "duplicate of line 2 (+1212…)"),
        ("line 6", "timezone"),
    ]
    assert await _leads(client, keys.viewer, campaign["id"]) == {"PENDING": 2, "SKIPPED": 1}


async def test_strict_import_refuses_everything_when_a_row_is_bad(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    response = await _import(client, keys.operator, campaign["id"], CSV.encode(), "strict")
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == ["line 4", "line 5", "line 6"]
    assert await _leads(client, keys.viewer, campaign["id"]) == {}
    good = b"phone\n+12125550142\n+14155550199\n"
    ok = await _import(client, keys.operator, campaign["id"], good, "strict")
    assert (ok.status_code, ok.json()["added"]) == (200, 2)


async def test_json_contacts_are_reported_by_index(client: httpx.AsyncClient, keys: Keys) -> None:
    campaign = await new_campaign(client, keys.operator, segment={"tags": ["vip"]})
    contacts = [
        {"phone": "+12125550142", "tags": ["vip"], "attributes": {"Plan": "gold"}},
        {"phone": "nope", "tags": ["vip"]},
        {"phone": "+14155550199", "name": "Grace", "tags": ["other"]},
    ]
    response = await client.post(
        f"/v1/campaigns/{campaign['id']}/contacts",
        json={"contacts": contacts},
        headers=bearer(keys.operator),
    )
    assert response.status_code == 200
    report = response.json()
    assert (report["added"], report["outside_segment"]) == (1, 1)
    assert [r["location"] for r in report["rejected"]] == ["contacts[1]"]
    strict = await client.post(
        f"/v1/campaigns/{campaign['id']}/contacts?mode=strict",
        json={"contacts": contacts},
        headers=bearer(keys.operator),
    )
    assert [e["location"] for e in strict.json()["errors"]] == ["contacts[1]"]
    wrong_type = await client.post(
        f"/v1/campaigns/{campaign['id']}/contacts",
        json={"contacts": [{"phone": 12}]},
        headers=bearer(keys.operator),
    )
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["location"] == "contacts.0.phone"


async def test_a_streamed_upload_is_imported_in_chunks(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    """A chunked body (no Content-Length), as a large file arrives: 6,000 rows."""
    campaign = await new_campaign(client, keys.operator)

    async def body() -> AsyncIterator[bytes]:
        yield b"phone,name\n"
        for block in range(6):
            area = (212, 312)[block // 3]
            rows = (f"+1{area}555{block % 10}{i:03d},n{i}\n" for i in range(1000))
            yield "".join(rows).encode()

    url = f"/v1/campaigns/{campaign['id']}/contacts"
    response = await client.post(url, content=body(), headers=_csv(keys.operator))
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["rejected_count"]) == (6000, 0)
    assert await _leads(client, keys.viewer, campaign["id"]) == {"PENDING": 6000}


@pytest.mark.parametrize("settings_overrides", [{"api_max_upload_bytes": 2048}])
async def test_an_upload_over_its_cap_is_413_and_imports_nothing(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    rows = "phone\n" + "".join(f"+1212555{i:04d}\n" for i in range(300))

    async def chunked() -> AsyncIterator[bytes]:
        yield rows.encode()

    url = f"/v1/campaigns/{campaign['id']}/contacts"
    declared = await client.post(url, content=rows.encode(), headers=_csv(keys.operator))
    streamed = await client.post(url, content=chunked(), headers=_csv(keys.operator))
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert streamed.headers["content-type"] == "application/problem+json"
    assert await _leads(client, keys.viewer, campaign["id"]) == {}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "location"),
    [
        (b"phone\n\xff\xfe\n", "text/csv", 422, "body"),
        (b"", "text/csv", 422, "line 1"),
        (b"name\nAda\n", "text/csv", 422, "line 1"),
        (b"phone\n", "application/xml", 415, None),
        (b"{not json", "application/json", 422, "body"),
    ],
)
async def test_unreadable_uploads_get_a_clear_4xx(
    client: httpx.AsyncClient,
    keys: Keys,
    body: bytes,
    content_type: str,
    status: int,
    location: str | None,
) -> None:
    campaign = await new_campaign(client, keys.operator)
    headers = {**bearer(keys.operator), "Content-Type": content_type}
    url = f"/v1/campaigns/{campaign['id']}/contacts"
    response = await client.post(url, content=body, headers=headers)
    assert response.status_code == status
    if location:
        assert response.json()["errors"][0]["location"] == location


async def test_do_not_call_lists(client: httpx.AsyncClient, keys: Keys) -> None:
    op = bearer(keys.operator)
    add = {"numbers": [{"number": "(212) 555-0100", "reason": "asked"}, {"number": "+12125550101"}]}
    added = await client.post("/v1/dnc", json=add, headers=op)
    assert added.json() == {"added": 2, "already_listed": 0}
    again = await client.post("/v1/dnc", json=add, headers=op)
    assert again.json() == {"added": 0, "already_listed": 2}
    bad = await client.post("/v1/dnc", json={"numbers": [{"number": "x"}]}, headers=op)
    assert bad.json()["errors"][0]["location"] == "numbers[0].number"

    listed = (await client.get("/v1/dnc", headers=bearer(keys.viewer))).json()
    assert [(e["number"], e["reason"]) for e in listed["items"]] == [
        ("+12125550100", "asked"),
        ("+12125550101", None),
    ]
    check = await client.get("/v1/dnc/%2B12125550100", headers=bearer(keys.viewer))
    assert check.json() == {"number": "+12125550100", "listed": True}
    theirs = await client.get("/v1/dnc/%2B12125550100", headers=bearer(keys.other))
    assert theirs.json()["listed"] is False  # a tenant's list is its own

    removed = await client.delete("/v1/dnc/%2B12125550100", headers=op)
    assert removed.json() == {"removed": True}
    gone = await client.get("/v1/dnc/%2B12125550100", headers=op)
    assert gone.json()["listed"] is False


async def test_the_global_list_is_for_admin_keys_and_binds_every_tenant(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    body = {"numbers": [{"number": "+12125550100"}], "list": "global"}
    assert (
        await client.post("/v1/dnc", json=body, headers=bearer(keys.operator))
    ).status_code == 403
    assert (await client.post("/v1/dnc", json=body, headers=bearer(keys.admin))).status_code == 200
    check = await client.get("/v1/dnc/%2B12125550100", headers=bearer(keys.other))
    assert check.json()["listed"] is True
    refused = await place(client, keys.other, "+12125550100")
    assert refused.status_code == 422
    view = await client.get("/v1/dnc?list=global", headers=bearer(keys.viewer))
    assert view.status_code == 403
    admin_view = await client.get("/v1/dnc?list=global", headers=bearer(keys.other_admin))
    assert [e["number"] for e in admin_view.json()["items"]] == ["+12125550100"]
    out = await client.delete("/v1/dnc/%2B12125550100?list=global", headers=bearer(keys.admin))
    assert out.status_code == 403  # removing takes a platform key (test_dnc_platform)


async def test_contact_history_across_campaigns(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await place(client, keys.operator, "+12125550100")
    await dispatch_once(runtime)
    url = "/v1/contacts/%2B12125550100/history"
    history = (await client.get(url, headers=bearer(keys.viewer))).json()
    assert [(h["campaign"], h["call"]["to"]) for h in history] == [
        ("api calls from +14155550100", "+12125550100")
    ]
    assert (await client.get(url, headers=bearer(keys.other))).json() == []  # acme's record
    bad = await client.get("/v1/contacts/nope/history", headers=bearer(keys.viewer))
    assert bad.status_code == 422
