"""TwilioTelephony against the simulator over real HTTP on 127.0.0.1, callbacks included."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from dialer.adapters.telephony.twilio import TwilioRejected, TwilioTelephony, parse_status_callback
from dialer.domain.statuses import CallProgress
from dialer.errors import (
    ProviderAuthFailed,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.ports import CallRequest
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.server import running_simulator

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

TO = "+14155550123"
FROM = "+14155550100"
TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled"}
MakeConfig = Callable[..., SimulatorConfig]


@contextlib.asynccontextmanager
async def provider(config: SimulatorConfig, **options: Any) -> AsyncIterator[TwilioTelephony]:
    async with running_simulator(config) as url:
        telephony = TwilioTelephony(url, config.account_sid, config.auth_token, **options)
        try:
            yield telephony
        finally:
            await telephony.aclose()


def call_request(
    receiver: Receiver, *, to: str = TO, attempt: int = 1, **fields: Any
) -> CallRequest:
    values: dict[str, Any] = {"ring_timeout": 20, "time_limit": 10, **fields}
    return CallRequest(
        attempt_id=attempt,
        to=to,
        from_=FROM,
        status_callback_url=receiver.url(f"/webhooks/twilio?attempt={attempt}"),
        **values,
    )


async def until_status(receiver: Receiver, sid: str, statuses: set[str]) -> list[str]:
    async with asyncio.timeout(5):
        await receiver.recorder.wait_until(lambda _: bool(statuses & set(_seen(receiver, sid))))
    return _seen(receiver, sid)


def _seen(receiver: Receiver, sid: str) -> list[str]:
    return receiver.recorder.statuses(sid)


# The callbacks of each outcome: by default only the answer and the ending are asked for;
# with ringing_callbacks, initiated and ringing too.
@pytest.mark.parametrize(
    ("outcome", "ringing", "expected"),
    [
        (Outcome.ANSWER, False, ["in-progress", "completed"]),
        (Outcome.NO_ANSWER, False, ["no-answer"]),
        (Outcome.BUSY, False, ["busy"]),
        (Outcome.FAILED, False, ["failed"]),
        (Outcome.DROPPED, False, ["in-progress", "failed"]),
        (Outcome.ANSWER, True, ["initiated", "ringing", "in-progress", "completed"]),
        (Outcome.NO_ANSWER, True, ["initiated", "ringing", "no-answer"]),
        (Outcome.BUSY, True, ["initiated", "ringing", "busy"]),
        (Outcome.FAILED, True, ["initiated", "failed"]),
        (Outcome.DROPPED, True, ["initiated", "ringing", "in-progress", "failed"]),
    ],
)
async def test_each_outcome_sends_its_callbacks_signed_and_in_order(
    receiver: Receiver,
    sim_config: MakeConfig,
    outcome: Outcome,
    ringing: bool,
    expected: list[str],
) -> None:
    config = sim_config(outcome_overrides={TO: outcome})
    async with provider(config, ringing_callbacks=ringing) as telephony:
        sid = await telephony.create_call(call_request(receiver))
        await until_status(receiver, sid, TERMINAL)

    callbacks = receiver.recorder.for_call(sid)
    assert [c.status for c in callbacks] == expected
    assert [c.form["SequenceNumber"] for c in callbacks] == [str(i) for i in range(len(expected))]
    official = RequestValidator(config.auth_token)
    for callback in callbacks:
        assert callback.signature_valid
        assert callback.signature is not None
        assert official.validate(callback.url, callback.form, callback.signature)
        assert callback.url == receiver.url("/webhooks/twilio?attempt=1")
        assert callback.form["Direction"] == "outbound-api"
        assert callback.form["ApiVersion"] == "2010-04-01"
        assert callback.form["CallbackSource"] == "call-progress-events"
        assert (callback.form["To"], callback.form["From"]) == (TO, FROM)
        assert callback.form["AccountSid"] == config.account_sid
    events = [parse_status_callback(c.form) for c in callbacks]
    assert all(e.provider_call_id == sid and e.occurred_at is not None for e in events)
    ending = events[-1]
    assert ending.hangup_cause is not None
    assert ending.hangup_cause.startswith("sip:")
    answered = CallProgress.ANSWERED in {e.progress for e in events}
    assert ending.duration is not None
    assert (ending.duration > 0) == answered


async def test_a_ring_longer_than_the_timeout_ends_in_no_answer(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.ANSWER}, ring_min=30.0, ring_max=40.0)
    async with provider(config) as telephony:
        sid = await telephony.create_call(call_request(receiver, ring_timeout=5))
        statuses = await until_status(receiver, sid, TERMINAL)

    assert statuses == ["no-answer"]


async def test_over_the_cps_limit_the_create_is_throttled_with_retry_after(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(speed=1.0, cps=1.0, outcome_overrides={TO: Outcome.FAILED})
    async with provider(config) as telephony:
        await telephony.create_call(call_request(receiver))
        with pytest.raises(ProviderThrottled) as caught:
            await telephony.create_call(call_request(receiver, attempt=2))

    assert caught.value.retry_after == 1.0
    assert "20429" in str(caught.value)


async def test_a_5xx_from_the_provider_is_unavailable(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    async with provider(sim_config(error_rate=1.0)) as telephony:
        with pytest.raises(ProviderUnavailable, match=r"HTTP 50[03]"):
            await telephony.create_call(call_request(receiver))


async def test_bad_credentials_are_an_auth_failure_not_a_rejection(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config()
    async with running_simulator(config) as url:
        telephony = TwilioTelephony(url, config.account_sid, "wrong-token")
        try:
            with pytest.raises(ProviderAuthFailed) as caught:
                await telephony.create_call(call_request(receiver))
        finally:
            await telephony.aclose()

    # Not a ProviderRejected: the call was not created, and the lead must not spend an attempt.
    assert not isinstance(caught.value, ProviderRejected)
    assert "20003" in str(caught.value)
    assert "Authenticate" in str(caught.value)


async def test_an_invalid_number_is_a_rejection_with_twilios_code_and_message(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    async with provider(sim_config()) as telephony:
        with pytest.raises(ProviderRejected, match=r"21211.*Invalid 'To' Phone Number"):
            await telephony.create_call(call_request(receiver, to="0123"))


async def test_a_provider_that_never_answers_leaves_the_outcome_unknown(
    receiver: Receiver,
) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the request, never answers, until the client gives up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    telephony = TwilioTelephony(f"http://127.0.0.1:{port}", "AC" + "0" * 32, "t", timeout=0.3)
    async with server:
        with pytest.raises(ProviderOutcomeUnknown) as caught:
            await telephony.create_call(call_request(receiver))
        await telephony.aclose()

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_a_refused_connection_is_unavailable(receiver: Receiver) -> None:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    telephony = TwilioTelephony(f"http://127.0.0.1:{port}", "AC" + "0" * 32, "t")
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await telephony.create_call(call_request(receiver))
    finally:
        await telephony.aclose()

    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_fetch_and_hang_up_an_answered_call(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.ANSWER}, talk_mean=1e9)
    async with provider(config) as telephony:
        sid = await telephony.create_call(call_request(receiver, time_limit=600))
        await until_status(receiver, sid, {"in-progress"})
        live = await telephony.fetch_call(sid)
        await telephony.hang_up(sid)
        statuses = await until_status(receiver, sid, TERMINAL)
        ended = await telephony.fetch_call(sid)
        await telephony.hang_up(sid)  # ended already: nothing to do, no error

    assert live.progress is CallProgress.ANSWERED
    assert live.provider_call_id == sid
    assert statuses == ["in-progress", "completed"]
    assert ended.progress is CallProgress.COMPLETED
    assert ended.duration is not None
    assert ended.duration >= 1
    assert ended.occurred_at is not None
    assert ended.occurred_at.tzinfo is not None


async def test_hanging_up_a_ringing_call_cancels_it(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.NO_ANSWER})
    # Ringing callbacks asked for: the test hangs up once the phone is heard ringing.
    async with provider(config, ringing_callbacks=True) as telephony:
        sid = await telephony.create_call(call_request(receiver, ring_timeout=600))
        await until_status(receiver, sid, {"ringing"})
        await telephony.hang_up(sid)
        statuses = await until_status(receiver, sid, TERMINAL)
        fetched = await telephony.fetch_call(sid)

    assert statuses == ["initiated", "ringing", "canceled"]
    assert fetched.progress is CallProgress.CANCELED
    assert fetched.duration == 0


async def test_fetching_an_unknown_call_is_a_rejection(sim_config: MakeConfig) -> None:
    async with provider(sim_config()) as telephony:
        with pytest.raises(TwilioRejected) as caught:
            await telephony.fetch_call("CA" + "9" * 32)

    assert caught.value.code == 20404


async def test_find_call_returns_the_newest_matching_call_since_a_time(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.FAILED})
    before = datetime.now(UTC) - timedelta(seconds=1)
    request = call_request(receiver)
    async with provider(config) as telephony:
        first = await telephony.create_call(request)
        second = await telephony.create_call(call_request(receiver, attempt=2))
        await telephony.create_call(call_request(receiver, to="+14155550999", attempt=3))
        found = await telephony.find_call(request, before)
        later = await telephony.find_call(request, datetime.now(UTC) + timedelta(hours=1))
        elsewhere = await telephony.find_call(call_request(receiver, to="+14155550888"), before)

    assert found == second != first
    assert later is None
    assert elsewhere is None


async def test_a_create_whose_answer_was_lost_is_found_not_redialled(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    # The provider creates the call, then answers too late for the client (response_delay).
    config = sim_config(response_delay=100.0, outcome_overrides={TO: Outcome.FAILED})
    request = call_request(receiver)
    since = datetime.now(UTC)
    async with running_simulator(config) as url:
        impatient = TwilioTelephony(url, config.account_sid, config.auth_token, timeout=0.2)
        patient = TwilioTelephony(url, config.account_sid, config.auth_token)
        try:
            with pytest.raises(ProviderOutcomeUnknown):
                await impatient.create_call(request)
            found = await patient.find_call(request, since)
            async with httpx.AsyncClient() as client:
                stats = (await client.get(f"{url}/_sim/stats")).json()
        finally:
            await impatient.aclose()
            await patient.aclose()

    assert found is not None
    assert found.startswith("CA")
    assert stats["calls_created"] == 1
