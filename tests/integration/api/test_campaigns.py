"""/v1/campaigns: create, list, read, update with If-Match, transitions, progress; and the
same for another tenant's campaign, which answers 404 as if it did not exist."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.ports import ContactDraft
from dialer.services.contacts import import_drafts
from tests.support.api import CAMPAIGN, Keys, bearer, new_campaign


async def test_create_answers_201_with_location_etag_and_the_normalised_document(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await client.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(keys.operator))
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/campaigns/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert (body["status"], body["version"], body["name"]) == ("DRAFT", 1, "spring-reminders")
    assert body["settings"]["retry"] == {"max_attempts": 2, "no_answer": ["10m"]}
    got = await client.get(f"/v1/campaigns/{body['id']}", headers=bearer(keys.viewer))
    assert got.json() == body


async def test_every_bad_key_is_named_and_nothing_is_created(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    document = {**CAMPAIGN, "retry": {"no_answer": ["soon"]}, "priority": 500, "colour": "red"}
    response = await client.post("/v1/campaigns", json=document, headers=bearer(keys.operator))
    assert response.status_code == 422
    locations = {e["location"] for e in response.json()["errors"]}
    assert locations == {"retry.no_answer[0]", "priority", "colour"}
    listed = await client.get("/v1/campaigns", headers=bearer(keys.viewer))
    assert listed.json()["items"] == []


@pytest.mark.parametrize("settings_overrides", [{"campaign_max_concurrency": 10}])
async def test_a_cap_above_the_deployments_limit_is_refused(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    document = {**CAMPAIGN, "max_concurrency": 11}
    response = await client.post("/v1/campaigns", json=document, headers=bearer(keys.operator))
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "max_concurrency"


@pytest.mark.parametrize(
    ("changes", "location", "words"),
    [
        ({"name": "spring\x00reminders"}, "name", "control characters"),
        ({"segment": {"tags": ["vip\x00"]}}, "segment.tags[0]", "control characters"),
        (
            {"retry": {"max_attempts": 2, "no_answer": ["3650000d"]}},
            "retry.no_answer[0]",
            "at most 365 days",
        ),
        ({"answer_url": "javascript:alert(1)"}, "answer_url", "http or https"),
        ({"answer_url": "http://169.254.169.254/latest/"}, "answer_url", "link-local"),
    ],
)
async def test_bad_text_durations_and_urls_are_422_before_storage(
    client: httpx.AsyncClient,
    keys: Keys,
    changes: dict[str, Any],
    location: str,
    words: str,
) -> None:
    document = {**CAMPAIGN, **changes}
    response = await client.post("/v1/campaigns", json=document, headers=bearer(keys.operator))
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["location"] == location
    assert words in error["message"]
    listed = await client.get("/v1/campaigns", headers=bearer(keys.viewer))
    assert listed.json()["items"] == []


async def test_an_update_is_held_to_the_same_limits(client: httpx.AsyncClient, keys: Keys) -> None:
    campaign = await new_campaign(client, keys.operator)
    url = f"/v1/campaigns/{campaign['id']}"
    headers = {**bearer(keys.operator), "If-Match": '"1"'}
    for changes in ({"name": "a\x00b"}, {"answer_url": "http://[fe80::1]/x"}):
        response = await client.put(url, json={**CAMPAIGN, **changes}, headers=headers)
        assert response.status_code == 422, response.text
    current = await client.get(url, headers=bearer(keys.viewer))
    assert current.json()["version"] == 1


async def test_list_pages_with_a_cursor_and_shows_only_the_tenants_campaigns(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    mine = [(await new_campaign(client, keys.operator, name=f"c{i}"))["id"] for i in range(3)]
    await new_campaign(client, keys.other, name="theirs")
    first = (await client.get("/v1/campaigns?limit=2", headers=bearer(keys.viewer))).json()
    assert [c["id"] for c in first["items"]] == mine[:2]
    cursor = first["next_cursor"]
    rest = await client.get(f"/v1/campaigns?limit=2&cursor={cursor}", headers=bearer(keys.viewer))
    assert [c["id"] for c in rest.json()["items"]] == mine[2:]
    assert rest.json()["next_cursor"] is None


async def test_update_needs_the_current_version(client: httpx.AsyncClient, keys: Keys) -> None:
    campaign = await new_campaign(client, keys.operator)
    url, auth = f"/v1/campaigns/{campaign['id']}", bearer(keys.operator)
    changed = {**CAMPAIGN, "max_concurrency": 7, "name": "renamed"}

    missing = await client.put(url, json=changed, headers=auth)
    assert missing.status_code == 428
    updated = await client.put(url, json=changed, headers={**auth, "If-Match": '"1"'})
    assert updated.status_code == 200
    assert updated.headers["etag"] == '"2"'
    assert (updated.json()["settings"]["max_concurrency"], updated.json()["name"]) == (
        7,
        "renamed",
    )
    stale = await client.put(url, json=CAMPAIGN, headers={**auth, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]
    assert (await client.get(url, headers=auth)).json()["name"] == "renamed"
    bad = await client.put(url, json={"name": ""}, headers={**auth, "If-Match": '"2"'})
    assert bad.status_code == 422
    garbage = await client.put(url, json=CAMPAIGN, headers={**auth, "If-Match": "soon"})
    assert garbage.status_code == 422


async def test_transitions_are_atomic_and_an_illegal_one_names_the_state(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    url, auth = f"/v1/campaigns/{campaign['id']}", bearer(keys.operator)

    async def act(action: str) -> httpx.Response:
        return await client.post(f"{url}/{action}", headers=auth)

    assert (await act("pause")).status_code == 409
    resume_draft = await act("resume")
    assert resume_draft.status_code == 409
    assert "is DRAFT" in resume_draft.json()["detail"]
    assert (await act("start")).json()["status"] == "RUNNING"
    assert (await act("start")).status_code == 409
    assert (await act("pause")).json()["status"] == "PAUSED"
    assert (await act("resume")).json()["status"] == "RUNNING"
    cancelled = await act("cancel")
    assert (cancelled.json()["status"], cancelled.headers["etag"]) == ("CANCELLED", '"5"')
    again = await act("cancel")
    assert again.status_code == 409
    assert "is CANCELLED" in again.json()["detail"]
    frozen = await client.put(url, json=CAMPAIGN, headers={**auth, "If-Match": '"5"'})
    assert frozen.status_code == 409


async def test_viewers_read_but_do_not_change_campaigns(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    url = f"/v1/campaigns/{campaign['id']}"
    assert (await client.get(url, headers=bearer(keys.viewer))).status_code == 200
    assert (await client.post(f"{url}/start", headers=bearer(keys.viewer))).status_code == 403
    created = await client.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(keys.viewer))
    assert created.status_code == 403


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", CAMPAIGN),
        ("POST", "/start", None),
        ("POST", "/cancel", None),
        ("GET", "/progress", None),
        ("POST", "/contacts", None),
    ],
)
async def test_another_tenants_campaign_is_404(
    client: httpx.AsyncClient, keys: Keys, method: str, suffix: str, body: Any
) -> None:
    theirs = await new_campaign(client, keys.other)
    headers = {**bearer(keys.admin), "If-Match": '"1"'}
    url = f"/v1/campaigns/{theirs['id']}{suffix}"
    if body is None:
        csv = {**headers, "Content-Type": "text/csv"}
        response = await client.request(method, url, headers=csv, content=b"phone\n")
    else:
        response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == 404
    assert response.json()["detail"] == f"campaign {theirs['id']} does not exist"
    unchanged = await client.get(f"/v1/campaigns/{theirs['id']}", headers=bearer(keys.other))
    assert (unchanged.json()["status"], unchanged.json()["version"]) == ("DRAFT", 1)


async def test_progress_counts_leads_and_estimates(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    drafts = [ContactDraft(f"+1212555{i:04d}", "America/New_York") for i in range(4)]
    await import_drafts(runtime.services, campaign["id"], drafts)
    response = await client.get(
        f"/v1/campaigns/{campaign['id']}/progress", headers=bearer(keys.viewer)
    )
    body = response.json()
    assert body["leads"] == {"PENDING": 4}
    assert (body["total_leads"], body["remaining_leads"], body["finished_leads"]) == (4, 4, 0)
    assert body["live_calls"] == {"live": 0, "cap": 5}
    assert body["global_live_calls"] == {"live": 0, "cap": 10000}
    assert body["eta_seconds"] is None  # nothing is being started: no rate to estimate from
