"""Provider webhooks: signed, recorded once, fast, and durable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dialer.adapters.store.engine import make_engine
from dialer.adapters.telephony.twilio_signature import sign
from dialer.bootstrap import Runtime
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.observability.throttle import ThrottledWarnings
from dialer.ports import ContactDraft
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from tests.support.api import api_runtime
from tests.support.engine import HeldExecutor
from tests.support.webhooks import BASE, TOKEN, callback, event_count, post


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    """The API's runtime, on the token these callbacks are signed with."""
    async with api_runtime(database_url, token=TOKEN) as runtime:
        yield runtime


@pytest.fixture
async def attempt_id(runtime: Runtime) -> int:
    """One admitted attempt, as the dispatcher leaves it before origination."""
    services = runtime.services
    campaign = await create_campaign(services, "acme", CampaignSettings("w", "+14155550100"))
    await import_drafts(services, campaign.id, [ContactDraft("+12125550100", "America/New_York")])
    await start_campaign(services, campaign.id)
    held = HeldExecutor()
    await Dispatcher(services, held).run_once()
    assert len(held.batches) == 1  # admitted and recorded; the create is "in flight"
    async with runtime.store.unit() as uow:
        lead = await uow.leads.get(1)
    assert lead.last_attempt_id is not None
    return lead.last_attempt_id


async def test_signed_events_move_the_attempt_and_lead(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int
) -> None:
    for sequence, status in enumerate(["initiated", "ringing", "in-progress"]):
        assert (await post(client, attempt_id, callback(status, sequence))).status_code == 204
    done = callback("completed", 3, CallDuration="42")
    assert (await post(client, attempt_id, done)).status_code == 204
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
        lead = await uow.leads.get(1)
    assert attempt is not None
    assert (attempt.status, attempt.duration) == (AttemptStatus.COMPLETED, 42)
    assert attempt.provider_call_id == "CA" + "f" * 32
    assert lead.status is LeadStatus.DONE
    assert (await runtime.services.admission.usage()).global_active == 0


async def test_forged_signature_is_refused_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int
) -> None:
    response = await post(client, attempt_id, callback("completed", 1), token="not-the-token")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert await event_count(runtime) == 0
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    assert attempt.status is AttemptStatus.QUEUED


async def test_tampered_parameters_are_refused(client: httpx.AsyncClient, attempt_id: int) -> None:
    params = callback("completed", 1)
    path = f"/webhooks/twilio/status?attempt={attempt_id}"
    signature = sign(TOKEN, BASE + path, params)
    forged = {**params, "CallStatus": "busy"}
    response = await client.post(path, data=forged, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


async def test_a_repeated_delivery_is_recorded_once(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int
) -> None:
    for _ in range(3):
        assert (await post(client, attempt_id, callback("ringing", 1))).status_code == 204
    assert await event_count(runtime) == 1


async def test_out_of_order_event_is_kept_but_ignored(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int
) -> None:
    await post(client, attempt_id, callback("in-progress", 2))
    await post(client, attempt_id, callback("ringing", 1))  # arrives late
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    assert attempt.status is AttemptStatus.ANSWERED
    assert await event_count(runtime) == 2  # the record keeps both reports


@pytest.mark.parametrize(
    ("attempt", "params", "status", "field"),
    [
        ("1", {"CallStatus": "ringing"}, 400, "CallSid"),
        ("1", callback("ringing-ish", 1), 400, "CallStatus"),
        ("abc", callback("ringing", 1), 400, "attempt"),
        ("999", callback("ringing", 1), 404, ""),
        # beyond any id the database can hold: not found, never a 500
        ("99999999999999999999999", callback("ringing", 1), 404, "99999999999999999999999"),
        ("9223372036854775808", callback("ringing", 1), 404, "9223372036854775808"),
        ("0", callback("ringing", 1), 404, ""),
        ("%C2%B2", callback("ringing", 1), 400, "attempt"),  # a superscript two: not a digit
        ("-1", callback("ringing", 1), 400, "attempt"),
    ],
)
async def test_malformed_callbacks_get_a_clear_4xx(
    runtime: Runtime,
    client: httpx.AsyncClient,
    attempt_id: int,
    attempt: str,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    response = await post(client, attempt, params)
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status
    assert field in body["detail"] + str(body["errors"])
    assert await event_count(runtime) == 0


async def test_database_down_answers_503_so_the_provider_retries(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, tmp_path: Path
) -> None:
    working = runtime.store.engine
    runtime.store.engine = make_engine("postgresql://postgres@127.0.0.1:1/down")
    try:
        response = await post(client, attempt_id, callback("completed", 1))
    finally:
        await runtime.store.engine.dispose()
        runtime.store.engine = working
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert await event_count(runtime) == 0
    retried = await post(client, attempt_id, callback("completed", 1))  # the provider retries
    assert retried.status_code == 204
    assert await event_count(runtime) == 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "dialer.api.webhooks"
    ]


async def test_every_refused_webhook_is_logged_once_per_reason(
    runtime: Runtime,
    client: httpx.AsyncClient,
    attempt_id: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="dialer.api.webhooks")
    for _ in range(3):  # a provider retrying with a wrong token: one line, not three
        await post(client, attempt_id, callback("ringing", 1), token="not-the-token")
    await post(client, attempt_id, {"CallStatus": "ringing"})
    await post(client, 999, callback("ringing", 1))
    working = runtime.store.engine
    runtime.store.engine = make_engine("postgresql://postgres@127.0.0.1:1/down")
    try:
        await post(client, attempt_id, callback("completed", 1))
    finally:
        await runtime.store.engine.dispose()
        runtime.store.engine = working
    lines = _warnings(caplog)
    assert len(lines) == 4, lines
    for line, reason in zip(
        lines, ["bad signature", "malformed", "unknown attempt", "store unavailable"], strict=True
    ):
        assert reason in line
    assert "403" in lines[0]
    assert "CallSid" in lines[1]
    assert "no attempt" in lines[2]


async def test_a_webhook_the_router_refuses_is_logged_at_warning_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Another provider's path, or the right path by GET: the handler never sees them, so the
    access log says so at WARNING (the webhooks' routine records are DEBUG)."""
    caplog.set_level(logging.WARNING, logger="dialer.access")
    for _ in range(3):  # retried: one line
        assert (await client.post("/webhooks/plivo/status?attempt=1")).status_code == 404
    assert (await client.get("/webhooks/twilio/status")).status_code == 405
    assert (await client.post("/v1/nothing-here")).status_code in {401, 404}  # not a webhook
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        "webhook POST /webhooks/plivo/status answered 404: no webhook is served there "
        "(this deployment serves DIALER_PROVIDER's status webhook, by POST)",
        "webhook GET /webhooks/twilio/status answered 405: no webhook is served there "
        "(this deployment serves DIALER_PROVIDER's status webhook, by POST)",
    ]


def test_throttled_warnings_count_what_they_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    warnings = ThrottledWarnings(logging.getLogger("tests.throttle"), 10.0, lambda: now[0])
    caplog.set_level(logging.WARNING, logger="tests.throttle")
    assert warnings.warn("bad signature", "refused %s", "one")
    assert not warnings.warn("bad signature", "refused %s", "two")
    assert warnings.warn("malformed", "refused %s", "three")  # another reason: its own line
    now[0] += 9.9
    assert not warnings.warn("bad signature", "refused %s", "four")
    now[0] += 0.2
    assert warnings.warn("bad signature", "refused %s", "five")
    assert [r.getMessage() for r in caplog.records] == [
        "refused one",
        "refused three",
        "refused five (2 more since the last such line, not logged)",
    ]


async def test_concurrent_callbacks_are_each_stored_once_and_end_every_call(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Many callbacks at once go to the store together (EventWriter): each is answered 2xx
    once stored, none is stored twice, and every call's end frees its lead and its lease."""
    services = runtime.services
    settings = CampaignSettings("many", "+14155550100", max_concurrency=100, ramp_up=0)
    campaign = await create_campaign(services, "acme", settings)
    numbers = [f"+1212555{1000 + i:04d}" for i in range(60)]
    await import_drafts(
        services, campaign.id, [ContactDraft(n, "America/New_York") for n in numbers]
    )
    await start_campaign(services, campaign.id)
    await Dispatcher(services, HeldExecutor()).run_once()
    async with runtime.store.unit() as uow:
        live = await uow.attempts.live()
    assert len(live) == len(numbers)

    def status(attempt_id: int, state: str, sequence: int) -> dict[str, str]:
        call = {"CallSid": f"CA{attempt_id:032d}", "To": live[0].phone, "CallDuration": "9"}
        return callback(state, sequence, **call)

    answered = [post(client, a.id, status(a.id, "in-progress", 1)) for a in live]
    assert {r.status_code for r in await asyncio.gather(*answered)} == {204}
    ended = [post(client, a.id, status(a.id, "completed", 2)) for a in live for _ in range(2)]
    assert {r.status_code for r in await asyncio.gather(*ended)} == {204}

    assert await event_count(runtime) == 2 * len(live)  # the repeated deliveries not kept
    async with runtime.store.unit() as uow:
        attempts = await uow.attempts.get_many([a.id for a in live])
        leads = await uow.leads.get_many([a.lead_id for a in live])
    assert {a.status for a in attempts.values()} == {AttemptStatus.COMPLETED}
    assert all(a.answered_at is not None for a in attempts.values())
    assert {lead.status for lead in leads.values()} == {LeadStatus.DONE}
    assert (await services.admission.usage()).global_active == 0
