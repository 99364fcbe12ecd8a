"""TwilioSms against a small real HTTP server on 127.0.0.1 that answers like Twilio's Messages
API: each recipient number picks an answer, so every error translation is seen on the wire."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.adapters.messaging.twilio_sms import TwilioSms
from dialer.adapters.telephony.twilio import TwilioRejected
from dialer.errors import (
    ProviderAuthFailed,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.ports.messaging import MessageProgress, SmsRequest
from dialer.simulator.server import running_app

SID = "AC" + "ab" * 16
TOKEN = "sms-test-token"
FROM = "+14155550100"
OK = "+14155550123"
THROTTLED = "+14155550124"
OPTED_OUT = "+14155550125"
INVALID = "+14155550126"
BROKEN = "+14155550127"
SLOW = "+14155550128"
NO_SID = "+14155550129"
NOT_JSON = "+14155550130"
MESSAGES_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def _error(status: int, code: int, message: str, **headers: str) -> Response:
    body = {"code": code, "message": message, "more_info": "https://www.twilio.com/docs/errors"}
    return JSONResponse({**body, "status": status}, status, headers=headers)


# What Twilio answers, by recipient: (status, code, message, headers) for the refusals.
REFUSALS: dict[str, tuple[int, int, str, dict[str, str]]] = {
    THROTTLED: (429, 20429, "Too Many Requests", {"Retry-After": "3"}),
    OPTED_OUT: (400, 21610, "Attempt to send to unsubscribed recipient", {}),
    INVALID: (400, 21211, "The 'To' number is not a valid phone number.", {}),
    BROKEN: (500, 20500, "Internal Server Error", {}),
}


@dataclass
class FakeTwilio:
    """The Messages API: it checks Basic auth as Twilio does, and keeps every form posted."""

    forms: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(MESSAGES_PATH, self.create, methods=["POST"])])

    async def create(self, request: Request) -> Response:
        if request.headers.get("Authorization") != _basic(SID, TOKEN):
            return _error(401, 20003, "Authenticate")
        form = {name: str(value) for name, value in (await request.form()).items()}
        self.forms.append(form)
        to = form["To"]
        if to in REFUSALS:
            status, code, message, headers = REFUSALS[to]
            return _error(status, code, message, **headers)
        return await self._special(to) or JSONResponse(_resource(form), 201)

    async def _special(self, to: str) -> Response | None:
        if to == SLOW:
            await self.release.wait()  # past the client's timeout: it gives up first
        if to == NO_SID:
            return JSONResponse({"status": "queued"}, 201)
        if to == NOT_JSON:
            return Response("<html>gateway</html>", 201, media_type="text/html")
        return None


def _resource(form: dict[str, str]) -> dict[str, Any]:
    return {
        "sid": "SM" + "cd" * 16,
        "account_sid": SID,
        "to": form["To"],
        "from": form["From"],
        "body": form["Body"],
        "status": "queued",
        "num_segments": "2",  # Twilio sends it as a string
        "error_code": None,
    }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sms(to: str = OK, body: str = "Hi Ann, we missed you. Reply STOP to opt out.") -> SmsRequest:
    return SmsRequest(
        message_id=11,
        to=to,
        from_=FROM,
        body=body,
        status_callback_url="https://dialer.example.com/webhooks/twilio/messages/status?m=11",
    )


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@contextlib.asynccontextmanager
async def sender(
    twilio: FakeTwilio, token: str = TOKEN, **options: Any
) -> AsyncIterator[TwilioSms]:
    async with running_app(twilio.app()) as url:
        client = TwilioSms(url, SID, token, **options)
        try:
            yield client
        finally:
            twilio.release.set()
            await client.aclose()


async def test_an_accepted_message_returns_its_sid_status_and_segments(
    twilio: FakeTwilio,
) -> None:
    async with sender(twilio) as client:
        accepted = await client.send_sms(sms())

    assert accepted.provider_message_id == "SM" + "cd" * 16
    assert accepted.progress is MessageProgress.QUEUED
    assert accepted.segments == 2
    assert twilio.forms == [
        {
            "To": OK,
            "From": FROM,
            "Body": "Hi Ann, we missed you. Reply STOP to opt out.",
            "StatusCallback": "https://dialer.example.com/webhooks/twilio/messages/status?m=11",
        }
    ]


async def test_429_is_throttled_with_retry_after(twilio: FakeTwilio) -> None:
    async with sender(twilio) as client:
        with pytest.raises(ProviderThrottled) as throttled:
            await client.send_sms(sms(THROTTLED))

    assert throttled.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("to", "code"),
    [(OPTED_OUT, 21610), (INVALID, 21211)],
)
async def test_other_4xx_are_rejected_with_twilios_code(
    twilio: FakeTwilio, to: str, code: int
) -> None:
    async with sender(twilio) as client:
        with pytest.raises(TwilioRejected, match=str(code)) as rejected:
            await client.send_sms(sms(to))

    assert isinstance(rejected.value, ProviderRejected)
    assert rejected.value.code == code


async def test_bad_credentials_are_an_auth_failure(twilio: FakeTwilio) -> None:
    async with sender(twilio, token="wrong") as client:
        with pytest.raises(ProviderAuthFailed, match="20003"):
            await client.send_sms(sms())

    assert twilio.forms == []


async def test_5xx_is_unavailable(twilio: FakeTwilio) -> None:
    async with sender(twilio) as client:
        with pytest.raises(ProviderUnavailable, match="500") as unavailable:
            await client.send_sms(sms(BROKEN))

    assert not isinstance(unavailable.value, ProviderAuthFailed)


async def test_no_answer_in_time_after_sending_is_an_unknown_outcome(
    twilio: FakeTwilio,
) -> None:
    async with sender(twilio, timeout=0.5) as client:
        with pytest.raises(ProviderOutcomeUnknown, match="did not answer"):
            await client.send_sms(sms(SLOW))

    assert [f["To"] for f in twilio.forms] == [SLOW]  # it had arrived


@pytest.mark.parametrize("to", [NO_SID, NOT_JSON])
async def test_a_success_we_cannot_read_is_an_unknown_outcome(twilio: FakeTwilio, to: str) -> None:
    async with sender(twilio) as client:
        with pytest.raises(ProviderOutcomeUnknown):
            await client.send_sms(sms(to))


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = TwilioSms(f"http://127.0.0.1:{port}", SID, TOKEN)
    try:
        with pytest.raises(ProviderUnavailable, match="unreachable"):
            await client.send_sms(sms())
    finally:
        await client.aclose()


async def test_one_connection_is_kept_alive_across_messages(twilio: FakeTwilio) -> None:
    peers: set[tuple[str, int]] = set()

    async def remember_peer(request: Request) -> Response:
        assert request.client is not None
        peers.add((request.client.host, request.client.port))
        return await twilio.create(request)

    app = Starlette(routes=[Route(MESSAGES_PATH, remember_peer, methods=["POST"])])
    async with running_app(app) as url:
        client = TwilioSms(url, SID, TOKEN)
        try:
            for _ in range(3):
                await client.send_sms(sms())
        finally:
            await client.aclose()

    assert len(twilio.forms) == 3
    assert len(peers) == 1
