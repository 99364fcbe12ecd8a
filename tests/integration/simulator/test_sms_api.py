"""The simulator speaks Twilio's Messages API: the official client sends and fetches messages,
signed status callbacks and inbound messages arrive as Twilio sends them, a sender's rate and
opt-outs are refused with Twilio's codes, and the observer lists what it accepted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dialer.simulator.config import SimulatorConfig
from dialer.simulator.server import running_app, running_simulator
from dialer.simulator.sms_wire import FAILED_CODES, UNDELIVERED_CODES

TO = "+14155550123"
OTHER_CONTACT = "+14155550124"
FROM = "+14155550100"
OTHER_SENDER = "+14155550101"
MakeConfig = Callable[..., SimulatorConfig]
QUICK = {"sms_delay_min": 1.0, "sms_delay_max": 2.0, "sms_reply_delay": 1.0}


@dataclass(frozen=True)
class Posted:
    url: str
    form: dict[str, str]
    signature: str


@dataclass
class FormReceiver:
    """Any form POSTed to it, kept in arrival order; answers 204."""

    base_url: str = ""
    received: list[Posted] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str) -> str:
        return self.base_url + path

    async def receive(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        posted = Posted(str(request.url), form, request.headers.get("X-Twilio-Signature", ""))
        async with self.arrived:
            self.received.append(posted)
            self.arrived.notify_all()
        return Response(status_code=204)

    async def wait_for(self, done: Callable[[list[Posted]], bool], seconds: float = 5) -> None:
        async with asyncio.timeout(seconds), self.arrived:
            await self.arrived.wait_for(lambda: done(self.received))

    def statuses(self, sid: str) -> list[str]:
        return [p.form["MessageStatus"] for p in self.received if p.form.get("MessageSid") == sid]

    def inbound(self) -> list[Posted]:
        return [p for p in self.received if p.form.get("SmsStatus") == "received"]


@pytest.fixture
async def forms() -> AsyncIterator[FormReceiver]:
    receiver = FormReceiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.receive, methods=["POST"])])
    async with running_app(app) as url:
        receiver.base_url = url
        yield receiver


@pytest.fixture(autouse=True)
def _no_twilio_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    # The official client would otherwise aim at a Twilio edge, not at the simulator.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@contextlib.contextmanager
def official(url: str, config: SimulatorConfig) -> Any:
    client = Client(config.account_sid, config.auth_token)
    client.api.base_url = url
    try:
        yield client
    finally:
        session = client.http_client.session  # type: ignore[attr-defined]
        if session is not None:
            session.close()


def send(url: str, config: SimulatorConfig, **message: Any) -> Any:
    """One message through the official client (blocking: run it in a thread)."""
    with official(url, config) as client:
        return client.messages.create(**{"to": TO, "from_": FROM, "body": "Hi", **message})


def send_refused(url: str, config: SimulatorConfig, **message: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as refused:
        send(url, config, **message)
    return refused.value


def fetch(url: str, config: SimulatorConfig, sid: str) -> Any:
    with official(url, config) as client:
        return client.messages(sid).fetch()


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_sim/stats")).json()  # type: ignore[no-any-return]


async def configure(url: str, **changes: Any) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{url}/_sim/config", json=changes)
    assert response.status_code == 200, response.text


def signed_by(config: SimulatorConfig, posted: Posted) -> bool:
    return bool(
        RequestValidator(config.auth_token).validate(posted.url, posted.form, posted.signature)
    )


# ---------------------------------------------------------------- sending and callbacks


async def test_the_official_client_sends_a_message_and_signed_callbacks_follow_it(
    sim_config: MakeConfig, forms: FormReceiver
) -> None:
    config = sim_config(sms_outcome_overrides={TO: "delivered"}, **QUICK)
    callback = forms.url("/sms/status?message=17")
    async with running_simulator(config) as url:
        sent = await asyncio.to_thread(send, url, config, body="Hi Ann", status_callback=callback)
        await forms.wait_for(lambda _: "delivered" in forms.statuses(sent.sid))
        fetched = await asyncio.to_thread(fetch, url, config, sent.sid)
        seen = await stats(url)

    assert sent.sid.startswith("SM")
    assert len(sent.sid) == 34
    assert (sent.status, sent.num_segments, sent.error_code) == ("queued", "1", None)
    assert (sent.to, sent.from_, sent.body, sent.account_sid) == (
        TO,
        FROM,
        "Hi Ann",
        config.account_sid,
    )
    assert isinstance(sent.date_created, datetime)
    assert sent.direction == "outbound-api"
    assert (fetched.status, fetched.error_code) == ("delivered", None)
    assert isinstance(fetched.date_sent, datetime)

    assert forms.statuses(sent.sid) == ["queued", "sent", "delivered"]
    for posted in forms.received:
        assert posted.url == callback
        assert signed_by(config, posted)
        assert posted.form["SmsSid"] == posted.form["MessageSid"] == sent.sid
        assert posted.form["SmsStatus"] == posted.form["MessageStatus"]
        assert (posted.form["From"], posted.form["To"]) == (FROM, TO)
        assert (posted.form["AccountSid"], posted.form["ApiVersion"]) == (
            config.account_sid,
            "2010-04-01",
        )
        assert "ErrorCode" not in posted.form

    sms = seen["sms"]
    assert (sms["messages_accepted"], sms["callbacks_sent"], sms["outcomes"]) == (
        1,
        3,
        {"delivered": 1},
    )
    [listed] = sms["messages"]
    assert (listed["sid"], listed["to"], listed["from"], listed["body"]) == (
        sent.sid,
        TO,
        FROM,
        "Hi Ann",
    )
    assert listed["status_callback"] == callback
    assert seen["calls_created"] == 0  # the call figures keep their keys
    assert seen["email"]["messages_received"] == 0


async def test_undelivered_and_failed_messages_report_twilio_error_codes(
    sim_config: MakeConfig, forms: FormReceiver
) -> None:
    config = sim_config(
        sms_outcome_overrides={TO: "undelivered", OTHER_CONTACT: "failed"}, sms_mps=100.0, **QUICK
    )
    callback = forms.url("/sms/status")
    async with running_simulator(config) as url:
        lost = await asyncio.to_thread(send, url, config, status_callback=callback)
        failed = await asyncio.to_thread(
            send, url, config, to=OTHER_CONTACT, status_callback=callback
        )
        await forms.wait_for(lambda _: len(forms.received) == 5)
        fetched = await asyncio.to_thread(fetch, url, config, lost.sid)
        outcomes = (await stats(url))["sms"]["outcomes"]

    assert forms.statuses(lost.sid) == ["queued", "sent", "undelivered"]
    assert forms.statuses(failed.sid) == ["queued", "failed"]  # it never left the provider
    codes = {p.form["MessageSid"]: p.form.get("ErrorCode") for p in forms.received}
    assert int(codes[lost.sid] or 0) in UNDELIVERED_CODES
    assert int(codes[failed.sid] or 0) in FAILED_CODES
    assert fetched.status == "undelivered"
    assert fetched.error_code == int(codes[lost.sid] or 0)
    assert outcomes == {"undelivered": 1, "failed": 1}


async def test_segments_are_counted_as_carriers_bill_them(sim_config: MakeConfig) -> None:
    config = sim_config(sms_mps=100.0)
    async with running_simulator(config) as url:
        long_gsm = await asyncio.to_thread(send, url, config, body="a" * 161)
        unicode = await asyncio.to_thread(send, url, config, body="Привет " * 10 + "!")

    assert (long_gsm.num_segments, unicode.num_segments) == ("2", "2")


# ---------------------------------------------------------------- refusals


async def test_past_a_senders_rate_it_answers_429_with_twilios_error(
    sim_config: MakeConfig,
) -> None:
    # Slowed down: one simulated second (the long code's 1 MPS) takes five real ones here.
    config = sim_config(speed=0.2, sms_mps=1.0)
    async with running_simulator(config) as url:
        first = await asyncio.to_thread(send, url, config)
        refused = await asyncio.to_thread(send_refused, url, config)
        other_sender = await asyncio.to_thread(send, url, config, from_=OTHER_SENDER)
        async with httpx.AsyncClient(auth=(config.account_sid, config.auth_token)) as client:
            raw = await client.post(
                f"{url}/2010-04-01/Accounts/{config.account_sid}/Messages.json",
                data={"To": TO, "From": FROM, "Body": "again"},
            )
        sms = (await stats(url))["sms"]

    assert first.status == other_sender.status == "queued"
    assert (refused.status, refused.code) == (429, 20429)
    assert raw.status_code == 429
    assert raw.headers["Retry-After"] == "1"
    assert raw.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert (sms["messages_accepted"], sms["rejected_429"], sms["rejected_429_over_mps"]) == (
        2,
        2,
        2,
    )
    assert sms["max_per_second_by_sender"] == {FROM: 1, OTHER_SENDER: 1}


async def test_a_429_rate_set_at_runtime_refuses_any_sender(sim_config: MakeConfig) -> None:
    config = sim_config(sms_mps=1000.0)
    async with running_simulator(config) as url:
        await configure(url, sms_throttle_rate=1.0)
        refused = await asyncio.to_thread(send_refused, url, config, from_=OTHER_SENDER)
        await configure(url, sms_throttle_rate=0.0)
        accepted = await asyncio.to_thread(send, url, config, from_=OTHER_SENDER)
        sms = (await stats(url))["sms"]

    assert (refused.status, refused.code) == (429, 20429)
    assert accepted.status == "queued"
    assert (sms["rejected_429"], sms["rejected_429_over_mps"], sms["messages_accepted"]) == (
        1,
        0,
        1,
    )


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": FROM, "Body": "x"}, 21604),
        ({"To": TO, "Body": "x"}, 21603),
        ({"To": TO, "From": FROM}, 21602),
        ({"To": "14155550123", "From": FROM, "Body": "x"}, 21211),
        ({"To": TO, "From": "us", "Body": "x"}, 21212),
        ({"To": TO, "From": FROM, "Body": "x" * 1601}, 21617),
    ],
)
async def test_invalid_messages_get_twilios_400s(
    sim_config: MakeConfig, form: dict[str, str], code: int
) -> None:
    config = sim_config()
    async with running_simulator(config) as url, httpx.AsyncClient() as client:
        messages = f"{url}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        response = await client.post(
            messages, data=form, auth=(config.account_sid, config.auth_token)
        )
        anonymous = await client.post(messages, data=form)
        missing = await client.get(
            messages.replace(".json", f"/SM{'0' * 32}.json"),
            auth=(config.account_sid, config.auth_token),
        )
        sms = (await stats(url))["sms"]

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    assert (sms["rejected_4xx"], sms["messages_accepted"]) == (1, 0)


# ---------------------------------------------------------------- opt-out


async def test_stop_arrives_inbound_then_21610_until_the_contact_texts_start(
    sim_config: MakeConfig, forms: FormReceiver
) -> None:
    config = sim_config(
        sms_replies={TO: "STOP"},
        sms_inbound_url=forms.url("/sms/inbound"),
        sms_outcome_overrides={TO: "delivered"},
        sms_mps=1000.0,
        **QUICK,
    )
    async with running_simulator(config) as url:
        sent = await asyncio.to_thread(send, url, config, body="Reply STOP to opt out")
        await forms.wait_for(lambda _: len(forms.inbound()) == 1)
        refused = await asyncio.to_thread(send_refused, url, config)
        from_another_number = await asyncio.to_thread(send, url, config, from_=OTHER_SENDER)
        await configure(url, sms_replies={})
        async with httpx.AsyncClient() as client:
            started = await client.post(
                f"{url}/_sim/sms/inbound", json={"from": TO, "to": FROM, "body": "start"}
            )
        await forms.wait_for(lambda _: len(forms.inbound()) == 2)
        again = await asyncio.to_thread(send, url, config)
        sms = (await stats(url))["sms"]

    stop, start = forms.inbound()
    for posted in (stop, start):
        assert posted.url == forms.url("/sms/inbound")
        assert signed_by(config, posted)
        assert posted.form["MessageSid"].startswith("SM")
        assert posted.form["MessageSid"] != sent.sid
        assert (posted.form["From"], posted.form["To"]) == (TO, FROM)
        assert (posted.form["NumMedia"], posted.form["NumSegments"]) == ("0", "1")
        assert (posted.form["AccountSid"], posted.form["ApiVersion"]) == (
            config.account_sid,
            "2010-04-01",
        )
    assert (stop.form["Body"], stop.form["OptOutType"]) == ("STOP", "STOP")
    assert (start.form["Body"], start.form["OptOutType"]) == ("start", "START")
    assert started.status_code == 201
    assert started.json()["sid"] == start.form["MessageSid"]

    assert (refused.status, refused.code) == (400, 21610)
    assert "unsubscribed recipient" in refused.msg
    assert from_another_number.status == again.status == "queued"
    assert sms["rejected_opted_out"] == 1
    assert sms["inbound_received"] == sms["inbound_sent"] == 2
    # Twilio blocks the number the contact stopped; the observer still counts the message
    # another of our numbers sent while the contact was opted out.
    assert (sms["sent_to_opted_out"], sms["sent_to_opted_out_numbers"]) == (1, [TO])
    assert sms["opted_out"] == {}


async def test_numbers_opted_out_in_the_settings_are_refused_from_every_sender(
    sim_config: MakeConfig,
) -> None:
    config = sim_config(sms_opted_out=[TO], sms_mps=1000.0)
    async with running_simulator(config) as url:
        refusals = [
            await asyncio.to_thread(send_refused, url, config, from_=sender)
            for sender in (FROM, OTHER_SENDER)
        ]
        other = await asyncio.to_thread(send, url, config, to=OTHER_CONTACT)

    assert [(r.status, r.code) for r in refusals] == [(400, 21610), (400, 21610)]
    assert other.status == "queued"


async def test_a_share_of_recipients_reply_stop(
    sim_config: MakeConfig, forms: FormReceiver
) -> None:
    config = sim_config(
        sms_stop_rate=1.0,
        sms_inbound_url=forms.url("/inbound"),
        sms_outcome_overrides={TO: "delivered", OTHER_CONTACT: "undelivered"},
        sms_mps=1000.0,
        **QUICK,
    )
    callback = forms.url("/status")
    async with running_simulator(config) as url:
        await asyncio.to_thread(send, url, config, status_callback=callback)
        lost = await asyncio.to_thread(
            send, url, config, to=OTHER_CONTACT, status_callback=callback
        )
        await forms.wait_for(lambda _: len(forms.inbound()) == 1)
        await forms.wait_for(lambda _: "undelivered" in forms.statuses(lost.sid))
        await asyncio.sleep(config.sms_reply_delay * 5 / config.speed)  # a reply would be in
        sms = (await stats(url))["sms"]

    [stop] = forms.inbound()  # none from the number the message did not reach
    assert (stop.form["From"], stop.form["Body"]) == (TO, "STOP")
    assert sms["opted_out"] == {TO: [FROM]}


# ---------------------------------------------------------------- what the observer lists


async def test_the_observer_lists_each_message_on_the_simulated_clock_and_counts_duplicates(
    sim_config: MakeConfig,
) -> None:
    epoch = "2026-03-03T15:00:00+00:00"
    config = sim_config(sms_mps=1000.0, epoch=epoch)
    callback = "http://127.0.0.1:9/sms/status?message=1"
    async with running_simulator(config) as url:
        for body in ("Hi Ann", "Hi Ann", "Hi Bob"):
            await asyncio.to_thread(send, url, config, body=body, status_callback=callback)
        await asyncio.to_thread(send, url, config, body="Hi Ann", from_=OTHER_SENDER)
        sms = (await stats(url))["sms"]
        async with httpx.AsyncClient() as client:
            await client.post(f"{url}/_sim/reset")
        after_reset = (await stats(url))["sms"]

    assert sms["messages_accepted"] == 4
    assert (sms["duplicates"], sms["duplicate_messages"]) == (
        1,
        [{"to": TO, "from": FROM, "body": "Hi Ann"}],
    )
    assert sms["repeated_status_callbacks"] == 2  # the dialer's own key: one URL per message
    start = datetime.fromisoformat(epoch)
    for listed in sms["messages"]:
        accepted = datetime.fromisoformat(listed["accepted_at"])
        assert start <= accepted < start + timedelta(hours=1)  # speed 100: 36 s of real time
        assert listed["elapsed"] >= 0
    assert [m["from"] for m in sms["messages"]] == [FROM, FROM, FROM, OTHER_SENDER]
    assert (after_reset["messages_accepted"], after_reset["messages"]) == (0, [])
