"""Plivo's and Telnyx's status webhooks: signature checked (forged: 403, nothing changes),
recorded once however often delivered, and 503 (so the provider retries) when not stored."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dialer.adapters.clock import ManualClock
from dialer.adapters.store.engine import make_engine
from dialer.adapters.telephony import plivo_signature, telnyx_signature
from dialer.adapters.telephony.inbound import Inbound
from dialer.api.app import create_app
from dialer.bootstrap import Runtime, open_runtime
from dialer.domain.machines import AnsweredBy
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports import ContactDraft
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings
from tests.support.clock import T0
from tests.support.engine import HeldExecutor
from tests.support.providers import ACCOUNTS, TOKEN, telnyx_public_key
from tests.support.webhooks import event_count

BASE = "https://dialer.example.com"
CALL_ID = {"plivo": "0d2f8e4a-1111-4c2b-9a7e-5b0c1d2e3f40", "telnyx": "v3:AbCdEf0123456789"}
SIGNING_KEY = telnyx_signature.key_from_secret(TOKEN)


@pytest.fixture(params=["plivo", "telnyx"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def runtime(database_url: str, dialect: str) -> AsyncIterator[Runtime]:
    provider: dict[str, Any] = {
        "plivo": {"plivo_auth_id": ACCOUNTS["plivo"], "plivo_auth_token": TOKEN},
        "telnyx": {
            "telnyx_api_key": TOKEN,
            "telnyx_public_key": telnyx_public_key(),
            "telnyx_connection_id": ACCOUNTS["telnyx"],
        },
    }[dialect]
    settings = load_settings(
        database_url=database_url,
        provider=dialect,
        plivo_api_base="http://127.0.0.1:9",
        telnyx_api_base="http://127.0.0.1:9",
        public_base_url=BASE,
        **provider,
    )
    async with open_runtime(settings, clock=ManualClock(T0)) as runtime:
        yield runtime


@pytest.fixture
async def attempt_id(runtime: Runtime) -> int:
    services = runtime.services
    campaign = await create_campaign(services, "acme", CampaignSettings("w", "+14155550100"))
    await import_drafts(services, campaign.id, [ContactDraft("+12125550100", "America/New_York")])
    await start_campaign(services, campaign.id)
    await Dispatcher(services, HeldExecutor()).run_once()
    async with runtime.store.unit() as uow:
        lead = await uow.leads.get(1)
    assert lead.last_attempt_id is not None
    return lead.last_attempt_id


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def report(dialect: str, status: str, **extra: str) -> bytes | dict[str, str]:
    """Plivo: a callback form with this CallStatus. Telnyx: a JSON event of this type."""
    if dialect == "plivo":
        return {"CallUUID": CALL_ID["plivo"], "CallStatus": status, "To": "12125550100", **extra}
    payload = {"call_control_id": CALL_ID["telnyx"], **extra}
    data = {"event_type": status, "id": f"ev-{status}", "occurred_at": "2026-03-03T15:00:01Z"}
    return json.dumps({"data": {**data, "payload": payload}}).encode()


STATUSES = {
    "plivo": {"ringing": "ringing", "answered": "in-progress", "ended": "completed"},
    "telnyx": {"ringing": "call.initiated", "answered": "call.answered", "ended": "call.hangup"},
}


async def post(
    client: httpx.AsyncClient,
    dialect: str,
    attempt: int | str,
    body: bytes | dict[str, str],
    *,
    token: str = TOKEN,
    key: Ed25519PrivateKey = SIGNING_KEY,
    timestamp: int | None = None,
) -> httpx.Response:
    path = f"/webhooks/{dialect}/status?attempt={attempt}&campaign=1"
    if isinstance(body, dict):
        nonce = plivo_signature.new_nonce()
        signature = plivo_signature.sign(token, BASE + path, body, nonce)
        headers = {plivo_signature.SIGNATURE_HEADER: signature, plivo_signature.NONCE_HEADER: nonce}
        return await client.post(path, data=body, headers=headers)
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        telnyx_signature.TIMESTAMP_HEADER: stamp,
        telnyx_signature.SIGNATURE_HEADER: telnyx_signature.sign(key, stamp, body),
        "content-type": "application/json",
    }
    return await client.post(path, content=body, headers=headers)


async def attempt_status(runtime: Runtime, attempt_id: int) -> AttemptStatus:
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    return attempt.status


async def test_signed_reports_move_the_attempt_and_are_kept_once(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    words = STATUSES[dialect]
    for word in ("ringing", "answered", "answered", "ringing"):  # repeats and a late one
        response = await post(client, dialect, attempt_id, report(dialect, words[word]))
        assert response.status_code in {200, 204}
    ending = {"plivo": {"HangupCause": "NORMAL_CLEARING", "Duration": "17"}}.get(dialect, {})
    if dialect == "telnyx":
        ending = {"hangup_cause": "normal_clearing"}
    response = await post(client, dialect, attempt_id, report(dialect, words["ended"], **ending))
    assert response.status_code in {200, 204}
    if dialect == "plivo":  # the answer request gets Plivo XML back
        assert response.headers["content-type"].startswith("application/xml")
        assert "<Response>" in response.text
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
        lead = await uow.leads.get(1)
    assert attempt is not None
    assert attempt.status is AttemptStatus.COMPLETED
    assert attempt.provider_call_id == CALL_ID[dialect]
    assert lead.status is LeadStatus.DONE
    # Plivo: ringing, answered, ended, once each. Telnyx: call.initiated is acknowledged and
    # not stored (the accepted create set INITIATED); answered and ended once each.
    assert await event_count(runtime) == {"plivo": 3, "telnyx": 2}[dialect]


async def test_a_forged_report_is_refused_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    body = report(dialect, STATUSES[dialect]["ended"])
    forged = await post(
        client, dialect, attempt_id, body, token="not-the-token", key=Ed25519PrivateKey.generate()
    )
    stale = await post(client, dialect, attempt_id, body, timestamp=int(time.time()) - 3600)
    assert forged.status_code == 403
    assert forged.headers["content-type"] == "application/problem+json"
    if dialect == "telnyx":
        assert stale.status_code == 403  # a replay from an hour ago
    assert await event_count(runtime) == (0 if dialect == "telnyx" else 1)
    if dialect == "telnyx":
        assert await attempt_status(runtime, attempt_id) is AttemptStatus.QUEUED


async def test_a_tampered_body_is_refused(
    client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    path = f"/webhooks/{dialect}/status?attempt={attempt_id}&campaign=1"
    body = report(dialect, STATUSES[dialect]["answered"])
    if isinstance(body, dict):
        nonce = plivo_signature.new_nonce()
        signature = plivo_signature.sign(TOKEN, BASE + path, body, nonce)
        headers = {plivo_signature.SIGNATURE_HEADER: signature, plivo_signature.NONCE_HEADER: nonce}
        response = await client.post(path, data={**body, "CallStatus": "busy"}, headers=headers)
    else:
        stamp = str(int(time.time()))
        headers = {
            telnyx_signature.TIMESTAMP_HEADER: stamp,
            telnyx_signature.SIGNATURE_HEADER: telnyx_signature.sign(SIGNING_KEY, stamp, body),
        }
        tampered = body.replace(b"call.answered", b"call.hangup!")
        response = await client.post(path, content=tampered, headers=headers)
    assert response.status_code == 403


async def test_a_report_not_stored_gets_503_and_its_retry_is_kept(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    body = report(dialect, STATUSES[dialect]["answered"])
    working = runtime.store.engine
    runtime.store.engine = make_engine("postgresql://postgres@127.0.0.1:1/down")
    try:
        response = await post(client, dialect, attempt_id, body)
    finally:
        await runtime.store.engine.dispose()
        runtime.store.engine = working
    assert response.status_code == 503
    assert await event_count(runtime) == 0
    assert (await post(client, dialect, attempt_id, body)).status_code in {200, 204}
    assert await event_count(runtime) == 1
    assert await attempt_status(runtime, attempt_id) is AttemptStatus.ANSWERED


async def test_malformed_reports_get_a_clear_400_and_other_events_are_only_acknowledged(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    if dialect == "plivo":
        bad = await post(client, dialect, attempt_id, {"CallStatus": "ringing"})
        field = "CallUUID"
        other = await post(client, dialect, attempt_id, report(dialect, "sort-of-ringing"))
        assert other.status_code == 400
    else:
        bad = await post(client, dialect, attempt_id, b'{"data": {"event_type": "call.answered"}}')
        field = "data.payload"
        other = await post(client, dialect, attempt_id, report(dialect, "call.bridged"))
        assert other.status_code == 204  # no status change: acknowledged, not stored
    assert bad.status_code == 400
    assert field in str(bad.json()["errors"])
    assert await event_count(runtime) == 0


def test_the_verifiers_read_only_whole_valid_requests() -> None:
    url = BASE + "/webhooks/plivo/status?attempt=1"
    form = {"CallUUID": "x", "CallStatus": "ringing"}
    nonce = "12345678901234567890"
    good = plivo_signature.sign(TOKEN, url, form, nonce)
    verifier = plivo_signature.PlivoWebhookVerifier(TOKEN)
    body = b"CallUUID=x&CallStatus=ringing"

    def inbound(signature: str, nonce_value: str = nonce) -> Inbound:
        headers = {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce_value}
        return Inbound(url, headers, body)

    assert verifier.verify_request(inbound(good))
    assert verifier.verify_request(inbound(f"c29tZXRoaW5nIGVsc2U=,{good}"))  # one of several
    assert not verifier.verify_request(inbound(good, "another-nonce"))
    assert not verifier.verify_request(inbound(""))
    telnyx_verifier = telnyx_signature.TelnyxWebhookVerifier(telnyx_public_key())
    stamp = str(int(time.time()))
    signed = telnyx_signature.sign(SIGNING_KEY, stamp, b"{}")
    headers = {"telnyx-timestamp": stamp, "telnyx-signature-ed25519": signed}
    assert telnyx_verifier.verify_request(Inbound(url, headers, b"{}"))
    assert not telnyx_verifier.verify_request(
        Inbound(url, {**headers, "telnyx-timestamp": "x"}, b"{}")
    )
    assert not telnyx_verifier.verify_request(
        Inbound(url, {**headers, "telnyx-signature-ed25519": "%%%"}, b"{}")
    )


# ---------------------------------------------------------------- answering-machine detection

DETECTION = {
    "plivo": ("in-progress", {"Event": "MachineDetection", "Machine": "true"}),
    "telnyx": ("call.machine.greeting.ended", {"result": "beep_detected"}),
}


async def test_a_detection_report_sets_who_answered_once(
    runtime: Runtime, client: httpx.AsyncClient, attempt_id: int, dialect: str
) -> None:
    """Plivo's detection is ``in-progress`` like its answer: it is another event all the same."""
    answered = report(dialect, STATUSES[dialect]["answered"])
    assert (await post(client, dialect, attempt_id, answered)).is_success
    status, extra = DETECTION[dialect]
    for _ in range(2):  # a repeated delivery is recognised
        response = await post(client, dialect, attempt_id, report(dialect, status, **extra))
        assert response.is_success
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    assert (attempt.status, attempt.answered_by) == (AttemptStatus.ANSWERED, AnsweredBy.MACHINE)
    assert await event_count(runtime) == 2  # the answer and the detection


@pytest.mark.parametrize("dialect", ["plivo"])
@pytest.mark.parametrize(("hold", "wait"), [("10", '<Wait length="10"/>'), (None, 'length="1"')])
async def test_plivo_answer_xml_holds_the_call_when_our_answer_url_asks(
    client: httpx.AsyncClient, attempt_id: int, hold: str | None, wait: str
) -> None:
    """With machine detection, the adapter's answer URL asks for ``hold`` seconds."""
    attempt = f"{attempt_id}&hold={hold}" if hold else attempt_id
    response = await post(client, "plivo", attempt, report("plivo", "in-progress"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert wait in response.text
