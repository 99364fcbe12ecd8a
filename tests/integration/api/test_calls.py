"""POST /v1/calls and /v1/calls/bulk: 202 at once, queued as leads of the tenant's API queue;
idempotency keys; the backlog guard; the call log and leads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from dialer.adapters.clock import ManualClock
from dialer.adapters.store.api_tables import idempotency_keys
from dialer.adapters.store.tables import campaigns, leads
from dialer.bootstrap import Runtime
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.services import adhoc_calls
from dialer.services.calls import end_attempt
from tests.support.api import Keys, bearer, new_campaign, place
from tests.support.clock import T0
from tests.support.engine import dispatch_once


async def _count(runtime: Runtime, table: Any) -> int:
    async with runtime.store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_call_is_accepted_at_once_as_a_lead_of_a_running_queue(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    response = await place(client, keys.operator, "(212) 555-0100", name="Ada")
    assert response.status_code == 202
    call = response.json()
    assert (call["to"], call["status"], call["queued"]) == ("+12125550100", "PENDING", True)
    assert response.headers["location"] == f"/v1/leads/{call['id']}"
    queue = await client.get(f"/v1/campaigns/{call['campaign_id']}", headers=bearer(keys.viewer))
    assert queue.json()["status"] == "RUNNING"
    assert queue.json()["settings"]["caller_id"] == "+14155550100"
    lead = await client.get(f"/v1/leads/{call['id']}", headers=bearer(keys.viewer))
    assert (lead.json()["status"], lead.json()["attempts"]) == ("PENDING", [])

    assert await dispatch_once(runtime) == 1  # the ordinary dispatcher dials it
    dialled = await client.get(f"/v1/leads/{call['id']}", headers=bearer(keys.viewer))
    assert dialled.json()["status"] == "DIALING"
    assert [a["to"] for a in dialled.json()["attempts"]] == ["+12125550100"]


async def test_a_number_already_waiting_is_not_queued_twice(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    first = (await place(client, keys.operator, "+12125550100")).json()
    second = await place(client, keys.operator, "+12125550100")
    assert second.status_code == 202
    assert (second.json()["id"], second.json()["queued"]) == (first["id"], False)


async def test_calls_with_another_caller_id_get_their_own_queue(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    first = (await place(client, keys.operator, "+12125550100")).json()
    other = await place(client, keys.operator, "+12125550101", **{"from": "+14155550199"})
    answered = await place(
        client, keys.operator, "+12125550102", answer_url="https://example.com/twiml"
    )
    ids = {first["campaign_id"], other.json()["campaign_id"], answered.json()["campaign_id"]}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("call", "location"),
    [
        ({"to": "not a number", "from": "+14155550100"}, "body.to"),
        ({"to": "+12125550100", "from": "12"}, "body.caller_id"),
        ({"to": "+12125550100", "from": "+14155550100", "timezone": "Mars/Base"}, "body.timezone"),
        ({"to": "+12125550100"}, "body.from"),
        (
            {"to": "+12125550100", "from": "+14155550100", "answer_url": "ftp://x"},
            "body.answer_url",
        ),
        (  # the cloud metadata address: the provider must never be sent there
            {"to": "+12125550100", "from": "+14155550100", "answer_url": "http://169.254.169.254/"},
            "body.answer_url",
        ),
        (
            {"to": "+12125550100", "from": "+14155550100", "answer_url": "http://10.0.0.5/twiml"},
            "body.answer_url",
        ),
    ],
)
async def test_a_bad_call_is_422_naming_the_field_and_queues_nothing(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime, call: dict[str, str], location: str
) -> None:
    response = await client.post("/v1/calls", json=call, headers=bearer(keys.operator))
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == location
    assert await _count(runtime, leads) == 0


async def test_a_listed_number_is_refused(client: httpx.AsyncClient, keys: Keys) -> None:
    listed = {"numbers": [{"number": "+12125550100"}]}
    await client.post("/v1/dnc", json=listed, headers=bearer(keys.operator))
    response = await place(client, keys.operator, "+12125550100")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"location": "body.to", "message": "on a do-not-call list"}
    ]


async def test_an_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    call = {"to": "+12125550100", "from": "+14155550100"}
    headers = {**bearer(keys.operator), "Idempotency-Key": "order-42"}
    first = await client.post("/v1/calls", json=call, headers=headers)
    repeat = await client.post("/v1/calls", json=call, headers=headers)
    assert (first.status_code, repeat.status_code) == (202, 202)
    assert repeat.json() == first.json()
    assert repeat.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count(runtime, leads) == 1

    other = await client.post("/v1/calls", json={**call, "to": "+12125550101"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["location"] == "Idempotency-Key"

    theirs = {**bearer(keys.other), "Idempotency-Key": "order-42"}
    assert (await client.post("/v1/calls", json=call, headers=theirs)).json()["queued"] is True
    assert await _count(runtime, idempotency_keys) == 2


async def test_a_refused_request_does_not_use_up_its_idempotency_key(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    headers = {**bearer(keys.operator), "Idempotency-Key": "k1"}
    bad = {"to": "nope", "from": "+14155550100"}
    assert (await client.post("/v1/calls", json=bad, headers=headers)).status_code == 422
    good = {"to": "+12125550100", "from": "+14155550100"}
    assert (await client.post("/v1/calls", json=good, headers=headers)).status_code == 202


async def test_bulk_accepts_and_refuses_call_by_call(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await client.post(
        "/v1/dnc", json={"numbers": [{"number": "+12125559999"}]}, headers=bearer(keys.operator)
    )
    calls = [{"to": f"+1212555{i:04d}", "from": "+14155550100"} for i in range(150)]
    calls[10]["to"] = "garbage"
    calls[20]["to"] = calls[19]["to"]
    calls[30]["to"] = "+12125559999"
    response = await client.post(
        "/v1/calls/bulk", json={"calls": calls}, headers=bearer(keys.operator)
    )
    assert response.status_code == 202
    body = response.json()
    assert len(body["accepted"]) == 147
    assert [(r["index"], r["location"]) for r in body["refused"]] == [
        (10, "calls[10].to"),
        (20, "calls[20].to"),
        (30, "calls[30].to"),
    ]
    assert "calls[19]" in body["refused"][1]["message"]
    assert await _count(runtime, leads) == 147


async def test_bulk_limits_are_checked(client: httpx.AsyncClient, keys: Keys) -> None:
    many = [{"to": "+12125550100", "from": "+14155550100"}] * 1001
    response = await client.post(
        "/v1/calls/bulk", json={"calls": many}, headers=bearer(keys.operator)
    )
    assert response.status_code == 422
    empty = await client.post("/v1/calls/bulk", json={"calls": []}, headers=bearer(keys.operator))
    assert empty.status_code == 422


@pytest.mark.parametrize("settings_overrides", [{"api_max_pending_calls": 3}])
async def test_a_backlog_past_the_limit_is_429_with_retry_after(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    for i in range(3):
        assert (await place(client, keys.operator, f"+121255500{i:02d}")).status_code == 202
    refused = await place(client, keys.operator, "+12125550099")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "DIALER_API_MAX_PENDING_CALLS" in refused.json()["detail"]
    assert (await place(client, keys.other, "+12125550099")).status_code == 202  # per tenant
    assert await dispatch_once(runtime) == 4  # dialling drains the backlog ...
    assert (await place(client, keys.operator, "+12125550099")).status_code == 202  # ... room


NO_DISPATCHER = "no call has been started in the last 60 s: is a dispatcher running?"


@pytest.mark.parametrize("settings_overrides", [{"api_max_pending_calls": 3}])
async def test_a_backlog_nothing_drains_says_so_and_asks_for_a_minute(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    for i in range(3):
        assert (await place(client, keys.operator, f"+121255500{i:02d}")).status_code == 202
    refused = await place(client, keys.operator, "+12125550099")  # no dispatcher runs here
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert NO_DISPATCHER in refused.json()["detail"]


@pytest.mark.parametrize("settings_overrides", [{"api_max_pending_calls": 4}])
async def test_retry_after_follows_the_measured_drain_rate(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    for i in range(4):
        assert (await place(client, keys.operator, f"+121255500{i:02d}")).status_code == 202
    assert await dispatch_once(runtime) == 4  # four calls started in the last minute
    for i in range(4, 8):
        assert (await place(client, keys.operator, f"+121255500{i:02d}")).status_code == 202
    refused = await place(client, keys.operator, "+12125550099")
    assert refused.status_code == 429
    # One call over the limit, draining at 4 per 60 s: a place is free in 15 s.
    assert refused.headers["retry-after"] == "15"
    assert "dispatcher" not in refused.json()["detail"]
    assert isinstance(runtime.services.clock, ManualClock)
    runtime.services.clock.advance(61)  # those starts leave the measured minute
    stalled = await place(client, keys.operator, "+12125550099")
    assert stalled.headers["retry-after"] == "60"
    assert NO_DISPATCHER in stalled.json()["detail"]


async def test_a_completed_queue_is_reopened_by_the_next_call(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    first = (await place(client, keys.operator, "+12125550100")).json()
    async with runtime.store.unit() as uow:  # the lead finishes without a call ...
        await uow.leads.move_all(first["campaign_id"], [LeadStatus.PENDING], LeadStatus.FAILED, T0)
        await uow.commit()
    await dispatch_once(runtime)  # ... and the dispatcher completes the empty queue
    queue_url = f"/v1/campaigns/{first['campaign_id']}"
    assert (await client.get(queue_url, headers=bearer(keys.viewer))).json()[
        "status"
    ] == "COMPLETED"

    again = await place(client, keys.operator, "+12125550100")
    assert (again.json()["id"], again.json()["queued"]) == (first["id"], True)  # re-queued
    assert (await client.get(queue_url, headers=bearer(keys.viewer))).json()["status"] == "RUNNING"
    assert await dispatch_once(runtime) == 1


async def test_a_queue_completed_under_a_new_call_is_reopened(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    call = (await place(client, keys.operator, "+12125550100")).json()
    async with runtime.store.engine.begin() as conn:  # the race: completed with a lead waiting
        await conn.execute(
            update(campaigns)
            .where(campaigns.c.id == call["campaign_id"])
            .values(status="COMPLETED")
        )
    assert await adhoc_calls.reopen_stranded(runtime.services) == 1
    assert await dispatch_once(runtime) == 1


async def test_a_cancelled_queue_is_replaced(client: httpx.AsyncClient, keys: Keys) -> None:
    first = (await place(client, keys.operator, "+12125550100")).json()
    cancel = f"/v1/campaigns/{first['campaign_id']}/cancel"
    assert (await client.post(cancel, headers=bearer(keys.operator))).status_code == 200
    second = (await place(client, keys.operator, "+12125550100")).json()
    assert second["campaign_id"] != first["campaign_id"]
    assert second["status"] == "PENDING"


async def test_the_call_log_filters_and_pages(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    numbers = [f"+121255501{i:02d}" for i in range(5)]
    for number in numbers:
        await place(client, keys.operator, number)
    await place(client, keys.other, "+12125550199")
    assert await dispatch_once(runtime) == 6
    auth = bearer(keys.viewer)
    log = (await client.get("/v1/calls", headers=auth)).json()
    assert [c["to"] for c in log["items"]] == numbers[::-1]  # newest first, acme's only
    failed_id = log["items"][0]["id"]
    await end_attempt(runtime.services, failed_id, AttemptStatus.FAILED, "test")

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/v1/calls?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids("status=FAILED") == [failed_id]
    assert len(await ids("status=FAILED&status=QUEUED")) == 5
    assert len(await ids(f"number={numbers[2].replace('+', '%2B')}")) == 1
    assert len(await ids("number=(212)%20555-0102")) == 1  # normalised like any number
    assert len(await ids(f"campaign_id={log['items'][0]['campaign_id']}")) == 5
    since = T0.isoformat().replace("+", "%2B")
    later = (T0 + timedelta(seconds=1)).isoformat().replace("+", "%2B")
    assert len(await ids(f"since={since}")) == 5
    assert await ids(f"until={since}") == []
    assert await ids(f"since={later}") == []
    page = (await client.get("/v1/calls?limit=2", headers=auth)).json()
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"]:
        page = (
            await client.get(f"/v1/calls?limit=2&cursor={page['next_cursor']}", headers=auth)
        ).json()
        seen += [c["id"] for c in page["items"]]
    assert seen == [c["id"] for c in log["items"]]
    naive = await client.get("/v1/calls?since=2026-03-03T15:00:00", headers=auth)
    assert naive.status_code == 422


async def test_another_tenants_calls_and_leads_are_404(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    theirs = (await place(client, keys.other, "+12125550100")).json()
    await dispatch_once(runtime)
    lead = (await client.get(f"/v1/leads/{theirs['id']}", headers=bearer(keys.other))).json()
    attempt_id = lead["attempts"][0]["id"]
    assert (
        await client.get(f"/v1/leads/{theirs['id']}", headers=bearer(keys.admin))
    ).status_code == 404
    assert (
        await client.get(f"/v1/calls/{attempt_id}", headers=bearer(keys.admin))
    ).status_code == 404
    mine = await client.get(f"/v1/calls/{attempt_id}", headers=bearer(keys.other))
    assert (mine.status_code, mine.json()["from"]) == (200, "+14155550100")
    campaign = await new_campaign(client, keys.other)
    assert campaign["id"] != theirs["campaign_id"]


async def test_letters_and_extensions_in_a_call_number_are_refused(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    for to in ("212-555-CALL", "+1312555xxxx", "212.555.0142 x12"):
        response = await place(client, keys.operator, to)
        assert response.status_code == 422, to
        assert response.json()["errors"][0]["location"] == "body.to"
    assert await _count(runtime, leads) == 0


@pytest.mark.parametrize("settings_overrides", [{"allow_vanity_numbers": True}])
async def test_vanity_call_numbers_are_read_on_the_keypad_when_allowed(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await place(client, keys.operator, "212-555-CALL")
    assert response.status_code == 202
    assert response.json()["to"] == "+12125552255"
