"""The Plivo and Telnyx adapters against the simulator speaking their wire formats, over real
HTTP on 127.0.0.1: creates, callbacks (signed, checked both ways), look-ups, hang-ups and the
translation of every refusal into dialer.errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from dialer.adapters.telephony import plivo, telnyx
from dialer.adapters.telephony.plivo_signature import NONCE_HEADER, SIGNATURE_HEADER
from dialer.adapters.telephony.rest import NotFoundAtProvider
from dialer.domain.statuses import CallProgress
from dialer.errors import (
    ProviderAuthFailed,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.ports import CallRequest, ProviderEvent, Telephony
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.recorder import CallbackRecorder, ReceivedCallback
from dialer.simulator.server import running_simulator
from tests.support.providers import TOKEN, dialect_config, telephony_for

TO, FROM = "+14155550123", "+14155550100"
OTHERS = ("plivo", "telnyx")
Recorders = Callable[[str], AbstractAsyncContextManager[Any]]

# What each provider reports for each simulated outcome, and how it reads. Plivo is given no
# ring_url unless ringing callbacks are asked for; Telnyx always posts call.initiated.
REPORTED = {
    "plivo": {
        Outcome.ANSWER: ["in-progress", "completed"],
        Outcome.NO_ANSWER: ["no-answer"],
        Outcome.BUSY: ["busy"],
        Outcome.FAILED: ["failed"],
        Outcome.DROPPED: ["in-progress", "failed"],
        Outcome.MACHINE: ["in-progress", "completed"],  # no detection asked for: an answer
    },
    "telnyx": {
        Outcome.ANSWER: ["call.initiated", "call.answered", "call.hangup"],
        Outcome.NO_ANSWER: ["call.initiated", "call.hangup"],
        Outcome.BUSY: ["call.initiated", "call.hangup"],
        Outcome.FAILED: ["call.initiated", "call.hangup"],
        Outcome.DROPPED: ["call.initiated", "call.answered", "call.hangup"],
        Outcome.MACHINE: ["call.initiated", "call.answered", "call.hangup"],
    },
}
ENDING = {
    Outcome.ANSWER: CallProgress.COMPLETED,
    Outcome.NO_ANSWER: CallProgress.NO_ANSWER,
    Outcome.BUSY: CallProgress.BUSY,
    Outcome.FAILED: CallProgress.FAILED,
    Outcome.DROPPED: CallProgress.FAILED,  # after an answer: DISCONNECTED in the domain
    Outcome.MACHINE: CallProgress.COMPLETED,
}


@asynccontextmanager
async def provider(
    dialect: str, config: SimulatorConfig, **options: Any
) -> AsyncIterator[tuple[Telephony, str]]:
    async with running_simulator(config) as url:
        telephony = telephony_for(dialect, url, **options)
        try:
            yield telephony, url
        finally:
            await telephony.aclose()


def request(base: str, *, to: str = TO, attempt: int = 1, **fields: Any) -> CallRequest:
    values: dict[str, Any] = {"ring_timeout": 20, "time_limit": 10, **fields}
    callback = f"{base}/webhooks/x/status?attempt={attempt}&campaign=4"
    return CallRequest(attempt, to, FROM, callback, **values)


def event_of(dialect: str, callback: ReceivedCallback) -> ProviderEvent | None:
    if dialect == "plivo":
        return plivo.parse_callback(callback.form)
    return telnyx.parse_webhook(callback.body)


async def until_ended(recorder: CallbackRecorder, call_id: str, dialect: str) -> None:
    def ended(_: object) -> bool:
        events = [event_of(dialect, c) for c in recorder.for_call(call_id)]
        return any(e is not None and e.progress in set(ENDING.values()) for e in events) or any(
            e is not None and e.progress is CallProgress.CANCELED for e in events
        )

    async with asyncio.timeout(5):
        await recorder.wait_until(ended)


@pytest.mark.parametrize("dialect", OTHERS)
@pytest.mark.parametrize("outcome", list(Outcome))
async def test_each_outcome_is_reported_signed_and_read_back(
    recorder_for: Recorders, dialect: str, outcome: Outcome
) -> None:
    config = dialect_config(dialect, outcome_overrides={TO: outcome.value})
    async with recorder_for(dialect) as (recorder, base), provider(dialect, config) as (tel, _):
        call_id = await tel.create_call(request(base))
        await until_ended(recorder, call_id, dialect)
        callbacks = recorder.for_call(call_id)

    assert [c.status for c in callbacks] == REPORTED[dialect][outcome]
    assert all(c.signature_valid for c in callbacks)
    assert all(c.url == request(base).status_callback_url for c in callbacks)
    events = [event_of(dialect, c) for c in callbacks]
    # call.initiated changes no status (the accepted create did): read as nothing to store.
    assert [e is None for e in events] == [c.status == "call.initiated" for c in callbacks]
    assert all(e.provider_call_id == call_id for e in events if e is not None)
    ending = events[-1]
    assert ending is not None
    assert ending.progress is ENDING[outcome]
    assert ending.hangup_cause
    if dialect == "plivo":  # Plivo's own helper accepts every signature the simulator made
        for c in callbacks:
            signature, nonce = c.headers[SIGNATURE_HEADER.lower()], c.headers[NONCE_HEADER.lower()]
            assert validate_v3_signature("POST", c.url, nonce, TOKEN, signature, dict(c.form))
        assert ending.duration is not None
        answered = {Outcome.ANSWER, Outcome.DROPPED, Outcome.MACHINE}
        assert (ending.duration > 0) == (outcome in answered)


@pytest.mark.parametrize("dialect", OTHERS)
async def test_refusals_are_translated_like_twilios(dialect: str) -> None:
    async with provider(dialect, dialect_config(dialect, speed=1.0, cps=1.0)) as (tel, url):
        await tel.create_call(request("http://127.0.0.1:9"))
        with pytest.raises(ProviderThrottled) as throttled:
            await tel.create_call(request("http://127.0.0.1:9", attempt=2))
        with pytest.raises(ProviderRejected) as rejected:
            await tel.create_call(request("http://127.0.0.1:9", to="0123", attempt=3))
        with pytest.raises(NotFoundAtProvider):
            await tel.fetch_call("no-such-call")
        wrong = telephony_for(dialect, url, token="wrong-token")
        with pytest.raises(ProviderAuthFailed):
            await wrong.create_call(request("http://127.0.0.1:9", attempt=4))
        await wrong.aclose()
    assert throttled.value.retry_after == 1.0
    assert not isinstance(rejected.value, ProviderAuthFailed | ProviderThrottled)
    async with provider(dialect, dialect_config(dialect, error_rate=1.0)) as (tel, _):
        with pytest.raises(ProviderUnavailable, match=r"HTTP 50[03]"):
            await tel.create_call(request("http://127.0.0.1:9"))


@pytest.mark.parametrize("dialect", OTHERS)
async def test_a_refused_connection_is_unavailable_not_unknown(dialect: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tel = telephony_for(dialect, f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderUnavailable) as caught:
        await tel.create_call(request("http://127.0.0.1:9"))
    await tel.aclose()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("dialect", OTHERS)
async def test_find_fetch_and_hang_up_a_live_call(recorder_for: Recorders, dialect: str) -> None:
    config = dialect_config(dialect, outcome_overrides={TO: "answer"}, talk_mean=1e9)
    since = datetime.now(UTC) - timedelta(seconds=2)
    async with recorder_for(dialect) as (recorder, base), provider(dialect, config) as (tel, _):
        call_id = await tel.create_call(request(base, time_limit=600))
        answered = "in-progress" if dialect == "plivo" else "call.answered"
        async with asyncio.timeout(5):
            await recorder.wait_for_status(call_id, answered)
        live = await tel.fetch_call(call_id)
        found = await tel.find_call(request(base), since)
        elsewhere = await tel.find_call(request(base, to="+14155550999", attempt=9), since)
        await tel.hang_up(call_id)
        await until_ended(recorder, call_id, dialect)
        await tel.hang_up(call_id)  # ended already: no error
        ending = event_of(dialect, recorder.for_call(call_id)[-1])

    assert found == call_id
    assert elsewhere is None
    assert live.provider_call_id == call_id
    assert live.progress in {CallProgress.ANSWERED, CallProgress.INITIATED}
    assert ending is not None
    assert ending.progress is CallProgress.COMPLETED


async def test_plivo_looks_up_an_ended_call_from_its_record(recorder_for: Recorders) -> None:
    config = dialect_config("plivo", outcome_overrides={TO: "busy"})
    since = datetime.now(UTC) - timedelta(seconds=2)
    async with recorder_for("plivo") as (recorder, base), provider("plivo", config) as (tel, _):
        call_id = await tel.create_call(request(base))
        await until_ended(recorder, call_id, "plivo")
        record = await tel.fetch_call(call_id)
        found = await tel.find_call(request(base), since)
        later = await tel.find_call(request(base), datetime.now(UTC) + timedelta(hours=1))
    assert record.progress is CallProgress.BUSY
    assert record.hangup_cause == "USER_BUSY"
    assert found == call_id
    assert later is None


async def test_plivo_reports_ringing_only_when_asked(recorder_for: Recorders) -> None:
    config = dialect_config("plivo", outcome_overrides={TO: "answer"})
    async with (
        recorder_for("plivo") as (recorder, base),
        provider("plivo", config, ringing_callbacks=True) as (tel, _),
    ):
        call_id = await tel.create_call(request(base))
        await until_ended(recorder, call_id, "plivo")
        callbacks = recorder.for_call(call_id)
    assert [c.status for c in callbacks] == ["ringing", "in-progress", "completed"]
    assert plivo.parse_callback(callbacks[0].form).progress is CallProgress.RINGING


async def test_a_ringing_plivo_call_hung_up_ends_cancelled(recorder_for: Recorders) -> None:
    config = dialect_config("plivo", outcome_overrides={TO: "no_answer"})
    # Ringing callbacks asked for: the test hangs up once the phone is heard ringing.
    async with (
        recorder_for("plivo") as (recorder, base),
        provider("plivo", config, ringing_callbacks=True) as (tel, _),
    ):
        call_id = await tel.create_call(request(base, ring_timeout=600))
        async with asyncio.timeout(5):
            await recorder.wait_for_status(call_id, "ringing")
        await tel.hang_up(call_id)
        await until_ended(recorder, call_id, "plivo")
        ending = plivo.parse_callback(recorder.for_call(call_id)[-1].form)
    assert ending.progress is CallProgress.CANCELED
    assert ending.hangup_cause == "ORIGINATOR_CANCEL"


async def test_telnyx_repeats_a_lost_create_with_its_key_and_gets_the_same_call() -> None:
    # The simulator makes the call, then answers too late for a 0.2 s timeout.
    config = dialect_config("telnyx", response_delay=100.0, outcome_overrides={TO: "failed"})
    async with provider("telnyx", config, timeout=0.2) as (tel, url):
        call_id = await tel.create_call(request("http://127.0.0.1:9"))
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{url}/_sim/stats")).json()
    assert call_id.startswith("v3:")
    assert stats["calls_created"] == 1  # the repeat made no second call
    assert stats["idempotent_replays"] == 1


async def test_a_plivo_create_whose_answer_was_lost_is_unknown_then_found() -> None:
    config = dialect_config("plivo", response_delay=100.0, outcome_overrides={TO: "no_answer"})
    since = datetime.now(UTC) - timedelta(seconds=2)
    async with provider("plivo", config, timeout=0.2) as (tel, url):
        with pytest.raises(ProviderOutcomeUnknown):
            await tel.create_call(request("http://127.0.0.1:9"))
        patient = telephony_for("plivo", url)
        found = await patient.find_call(request("http://127.0.0.1:9"), since)
        await patient.aclose()
    assert found is not None
