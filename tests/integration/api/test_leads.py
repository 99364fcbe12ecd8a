"""GET /v1/campaigns/{id}/leads and its CSV export: each lead with its name, status, stage,
attempts and last call; filters, pages, scopes, tenants; and the stage on leads and calls."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.domain.statuses import AttemptStatus, CallProgress
from dialer.ports import LeadQuery, ProviderEvent
from dialer.services import lead_results
from dialer.services.calls import end_attempt
from dialer.services.provider_events import apply_event
from tests.support.api import Keys, bearer, new_campaign
from tests.support.engine import dispatch_once

CONTACTS = (
    "phone,name\n"
    "+12125550100,Ada\n"  # answered and completed
    "+12125550101,Grace\n"  # no answer: a retry waits
    "+12125550102,=HYPERLINK(1)\n"  # failed: not retried
    "+12125550103,Linus\n"  # still ringing
    "+12125550104,Katherine\n"  # never dialled (the campaign's cap is 4)
)


async def _campaign_with_results(client: httpx.AsyncClient, keys: Keys, runtime: Runtime) -> int:
    """Five leads, four dialled, ending COMPLETED, NO_ANSWER, FAILED and still live."""
    campaign = await new_campaign(client, keys.operator, max_concurrency=4)
    url = f"/v1/campaigns/{campaign['id']}"
    headers = {**bearer(keys.operator), "Content-Type": "text/csv"}
    imported = await client.post(f"{url}/contacts", content=CONTACTS.encode(), headers=headers)
    assert imported.json()["added"] == 5, imported.text
    assert (await client.post(f"{url}/start", headers=bearer(keys.operator))).status_code == 200
    dialled = 0
    for _ in range(30):  # the dispatcher starts a campaign gently: a few ticks, a second apart
        dialled += await dispatch_once(runtime)
        runtime.services.clock.advance(1)  # type: ignore[attr-defined]
    assert dialled == 4
    calls = await client.get(f"/v1/calls?campaign_id={campaign['id']}", headers=bearer(keys.viewer))
    ids = {call["to"]: call["id"] for call in calls.json()["items"]}
    services = runtime.services
    for progress in (CallProgress.ANSWERED, CallProgress.COMPLETED):
        event = ProviderEvent("CA-ada", progress, duration=42, hangup_cause="normal")
        await apply_event(services, ids["+12125550100"], event)
    await end_attempt(services, ids["+12125550101"], AttemptStatus.NO_ANSWER, "test")
    await end_attempt(services, ids["+12125550102"], AttemptStatus.FAILED, "-bad route")
    return int(campaign["id"])


def _by_phone(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["to"]: item for item in items}


async def test_the_list_shows_each_lead_with_its_stage_and_last_call(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign_id = await _campaign_with_results(client, keys, runtime)
    response = await client.get(f"/v1/campaigns/{campaign_id}/leads", headers=bearer(keys.viewer))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    leads = _by_phone(page["items"])
    assert [item["name"] for item in page["items"]] == [
        "Ada",
        "Grace",
        "=HYPERLINK(1)",
        "Linus",
        "Katherine",
    ]
    ada = leads["+12125550100"]
    assert (ada["status"], ada["stage"], ada["last_outcome"]) == ("DONE", "COMPLETED", "COMPLETED")
    assert (ada["attempt_count"], ada["duration"], ada["hangup_cause"]) == (1, 42, "normal")
    assert ada["answered_at"] is not None
    assert ada["ended_at"] is not None
    grace = leads["+12125550101"]
    assert (grace["status"], grace["stage"], grace["last_outcome"]) == (
        "WAITING_RETRY",
        "RETRYING",
        "NO_ANSWER",
    )
    assert grace["next_attempt_at"] is not None
    failed = leads["+12125550102"]
    assert (failed["status"], failed["stage"], failed["last_outcome"]) == (
        "FAILED",
        "FAILED",
        "FAILED",
    )
    live = leads["+12125550103"]
    assert (live["status"], live["stage"], live["last_outcome"]) == (
        "DIALING",
        "INITIATED",
        "QUEUED",
    )
    waiting = leads["+12125550104"]
    assert (waiting["status"], waiting["stage"], waiting["last_call_id"]) == ("PENDING", None, None)


@pytest.mark.parametrize(
    ("query", "phones"),
    [
        ("status=DONE&status=FAILED", ["+12125550100", "+12125550102"]),
        ("last_outcome=NO_ANSWER", ["+12125550101"]),
        ("last_outcome=QUEUED&last_outcome=COMPLETED", ["+12125550100", "+12125550103"]),
        ("stage=RETRYING", ["+12125550101"]),
        ("stage=INITIATED&stage=FAILED", ["+12125550102", "+12125550103"]),
        ("stage=PICKED", []),
        ("number=(212) 555-0104", ["+12125550104"]),
        ("status=DONE&stage=RETRYING", []),  # filters combine with AND
    ],
)
async def test_the_list_filters_by_state_outcome_stage_and_number(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime, query: str, phones: list[str]
) -> None:
    campaign_id = await _campaign_with_results(client, keys, runtime)
    url = f"/v1/campaigns/{campaign_id}/leads?{query}"
    response = await client.get(url, headers=bearer(keys.viewer))
    assert response.status_code == 200, response.text
    assert [item["to"] for item in response.json()["items"]] == phones


async def test_the_list_pages_with_a_cursor(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign_id = await _campaign_with_results(client, keys, runtime)
    seen: list[str] = []
    url = f"/v1/campaigns/{campaign_id}/leads?limit=2"
    while url:
        page = (await client.get(url, headers=bearer(keys.viewer))).json()
        seen += [item["to"] for item in page["items"]]
        cursor = page["next_cursor"]
        url = f"/v1/campaigns/{campaign_id}/leads?limit=2&cursor={cursor}" if cursor else ""
    assert seen == [f"+1212555010{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("status=LOST", "query.status[0]"),
        ("last_outcome=nope", "query.last_outcome[0]"),
        ("stage=PICKUP", "query.stage[0]"),
        ("number=not-a-number", "query.number"),
        ("limit=0", "query.limit"),
        ("limit=1001", "query.limit"),
        ("cursor=abc", "query.cursor"),
    ],
)
async def test_a_bad_parameter_is_422_naming_it(
    client: httpx.AsyncClient, keys: Keys, query: str, location: str
) -> None:
    campaign = await new_campaign(client, keys.operator)
    for path in ("leads", "leads.csv"):
        if path == "leads.csv" and location in ("query.limit", "query.cursor"):
            continue  # the export has no pages
        url = f"/v1/campaigns/{campaign['id']}/{path}?{query}"
        response = await client.get(url, headers=bearer(keys.viewer))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["location"] == location


async def test_another_tenants_campaign_is_404_and_a_key_is_needed(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    for path in ("leads", "leads.csv"):
        url = f"/v1/campaigns/{campaign['id']}/{path}"
        assert (await client.get(url, headers=bearer(keys.other))).status_code == 404
        assert (await client.get(url)).status_code == 401
        assert (
            await client.get(f"/v1/campaigns/999999/{path}", headers=bearer(keys.viewer))
        ).status_code == 404


async def test_the_csv_export_has_every_lead_and_neutralises_formulas(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign_id = await _campaign_with_results(client, keys, runtime)
    url = f"/v1/campaigns/{campaign_id}/leads.csv"
    response = await client.get(url, headers=bearer(keys.viewer))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_phone = {row["phone"]: row for row in rows}
    assert list(by_phone) == [f"+1212555010{i}" for i in range(5)]
    assert by_phone["+12125550100"]["stage"] == "COMPLETED"
    assert by_phone["+12125550100"]["duration"] == "42"
    assert by_phone["+12125550101"]["stage"] == "RETRYING"
    assert by_phone["+12125550102"]["name"] == "'=HYPERLINK(1)"
    assert by_phone["+12125550102"]["hangup_cause"] == "'-bad route"
    assert by_phone["+12125550104"]["stage"] == ""
    filtered = await client.get(f"{url}?stage=RNR&stage=RETRYING", headers=bearer(keys.viewer))
    assert [r["phone"] for r in csv.DictReader(io.StringIO(filtered.text))] == ["+12125550101"]


async def test_the_export_reads_page_after_page(
    client: httpx.AsyncClient,
    keys: Keys,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lead_results, "EXPORT_PAGE", 2)  # five leads: three pages
    campaign_id = await _campaign_with_results(client, keys, runtime)
    pages: list[int] = []
    async for found in lead_results.every_lead(runtime.store, LeadQuery(campaign_id, 1000)):
        pages.append(len(found))
    assert pages == [2, 2, 1]
    response = await client.get(
        f"/v1/campaigns/{campaign_id}/leads.csv", headers=bearer(keys.viewer)
    )
    assert len(list(csv.DictReader(io.StringIO(response.text)))) == 5


async def test_a_lead_and_its_calls_carry_their_stage(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign_id = await _campaign_with_results(client, keys, runtime)
    url = f"/v1/calls?campaign_id={campaign_id}"
    calls = _by_phone((await client.get(url, headers=bearer(keys.viewer))).json()["items"])
    assert {phone: call["stage"] for phone, call in calls.items()} == {
        "+12125550100": "COMPLETED",
        "+12125550101": "RNR",
        "+12125550102": "FAILED",
        "+12125550103": "INITIATED",
    }
    lead_id = calls["+12125550101"]["lead_id"]
    lead = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(keys.viewer))).json()
    assert (lead["stage"], lead["attempts"][0]["stage"]) == ("RETRYING", "RNR")
    one = await client.get(f"/v1/calls/{calls['+12125550100']['id']}", headers=bearer(keys.viewer))
    assert one.json()["stage"] == "COMPLETED"
