"""A call placed through the API and dialled for real (the simulator over HTTP) leaves JSON log
lines that carry the request's id, the attempt's ids, and no phone number in full."""

from __future__ import annotations

from typing import Any

import httpx

from dialer.api.app import create_app
from dialer.services.access import KeyScope, create_key
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import EngineFactory
from tests.support.logs import CapturedLogs, dial_until_finished

NUMBERS = ("+12125550142", "+13125550177")
CALLER = "+14155550100"


def _raw_forms(number: str) -> list[str]:
    digits = number[1:]
    return [number, digits, digits[1:]]  # E.164, with and without the country code


async def test_an_api_call_logs_json_lines_with_request_and_attempt_ids(
    engine: EngineFactory, json_logs: CapturedLogs
) -> None:
    async with engine() as e:
        _, token = await create_key(e.store, "acme", KeyScope.OPERATOR, "logs", T0)
        transport = httpx.ASGITransport(app=create_app(e.runtime))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            calls = [{"to": number, "from": CALLER} for number in NUMBERS]
            placed = await client.post(
                "/v1/calls/bulk", json={"calls": calls}, headers=bearer(token)
            )
            assert placed.status_code == 202, placed.text
            lead_ids = [call["id"] for call in placed.json()["accepted"]]
            leads = await dial_until_finished(e, client, token, lead_ids)

    records = json_logs.records()
    for record in records:
        assert {"timestamp", "level", "logger", "event"} <= record.keys(), record

    request_id = placed.headers["X-Request-ID"]
    mine = [r for r in records if r.get("request_id") == request_id]
    access = [r for r in mine if r["logger"] == "dialer.access"]
    assert [r["event"] for r in access] == ["POST /v1/calls/bulk 202"]
    assert access[0]["status"] == 202
    # Other requests have ids of their own.
    assert {r["request_id"] for r in records if r["logger"] == "dialer.access"} - {request_id}

    attempts = {a["id"]: lead_id for lead_id in lead_ids for a in leads[lead_id]["attempts"]}
    assert len(attempts) == len(NUMBERS)
    by_attempt = _records_by_attempt(records)
    for attempt_id, lead_id in attempts.items():
        lines = by_attempt[attempt_id]
        assert {r["lead_id"] for r in lines} == {lead_id}
        assert any(r["event"].startswith("originated") for r in lines)
        assert any(r["event"].startswith("provider event") and r.get("call_sid") for r in lines)

    for number in NUMBERS:
        for raw in _raw_forms(number):
            assert raw not in json_logs.text


def _records_by_attempt(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if "attempt_id" in record:
            found.setdefault(record["attempt_id"], []).append(record)
    return found


async def test_a_sane_request_id_is_echoed_and_any_other_replaced(
    client: httpx.AsyncClient, json_logs: CapturedLogs
) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:x"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42:x"
    odd = await client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 200})
    fresh = await client.get("/healthz")
    made = {odd.headers["X-Request-ID"], fresh.headers["X-Request-ID"]}
    assert len(made) == 2
    assert all(len(rid) == 32 and rid.isalnum() for rid in made)
    logged = [r["request_id"] for r in json_logs.records() if r["logger"] == "dialer.access"]
    assert logged == ["lb-7f3a.42:x", odd.headers["X-Request-ID"], fresh.headers["X-Request-ID"]]
