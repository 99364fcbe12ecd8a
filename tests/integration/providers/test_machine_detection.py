"""Answering-machine detection through each provider's adapter and the simulator speaking its
wire format, over real HTTP: the create asks for it, the reports come signed to the status
callback URL and read back as who answered; a voicemail given to a Twilio call after the beep
is counted by the simulator's observer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from dialer.adapters.telephony import plivo, telnyx
from dialer.adapters.telephony.twilio import parse_status_callback
from dialer.domain.machines import AnsweredBy, DetectionMode, MachineDetection, Voicemail
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import CallProgress
from dialer.errors import ProviderRejected
from dialer.ports import CallRequest, ContactDraft, ProviderEvent, Telephony
from dialer.runner import run_to_end
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.recorder import CallbackRecorder, ReceivedCallback
from dialer.simulator.server import running_simulator
from tests.support.engine import NY, attempt_rows, lead_rows, settings
from tests.support.polling import until
from tests.support.providers import DIALECTS, ProviderEngine, dialect_config, telephony_for

TO, FROM = "+14155550123", "+14155550100"
Recorders = Callable[[str], AbstractAsyncContextManager[Any]]
ENDINGS = {CallProgress.COMPLETED, CallProgress.FAILED, CallProgress.CANCELED}
MESSAGE = Voicemail(text="Hi, this is Acme. Please call us back.")


@asynccontextmanager
async def provider(
    dialect: str, config: SimulatorConfig
) -> AsyncIterator[tuple[Telephony, httpx.AsyncClient]]:
    async with running_simulator(config) as url, httpx.AsyncClient(base_url=url) as sim:
        telephony = telephony_for(dialect, url)
        try:
            yield telephony, sim
        finally:
            await telephony.aclose()


def request(base: str, mode: str | None, **fields: Any) -> CallRequest:
    callback = f"{base}/webhooks/x/status?attempt=1&campaign=4"
    values: dict[str, Any] = {"ring_timeout": 20, "time_limit": 60, **fields}
    return CallRequest(1, TO, FROM, callback, machine_detection=mode, **values)


def event_of(dialect: str, callback: ReceivedCallback) -> ProviderEvent | None:
    if dialect == "plivo":
        return plivo.parse_callback(callback.form)
    if dialect == "telnyx":
        return telnyx.parse_webhook(callback.body)
    return parse_status_callback(callback.form)


def events(recorder: CallbackRecorder, call_id: str, dialect: str) -> list[ProviderEvent]:
    found = (event_of(dialect, c) for c in recorder.for_call(call_id))
    return [e for e in found if e is not None]


async def until_event(
    recorder: CallbackRecorder, call_id: str, dialect: str, wanted: Callable[[ProviderEvent], bool]
) -> ProviderEvent:
    async with asyncio.timeout(5):
        await recorder.wait_until(lambda _: any(map(wanted, events(recorder, call_id, dialect))))
    return next(e for e in events(recorder, call_id, dialect) if wanted(e))


def ended(event: ProviderEvent) -> bool:
    return event.progress in ENDINGS


def greeting_over(event: ProviderEvent) -> bool:
    return event.greeting_ended


async def stats(sim: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await sim.get("/_sim/stats")).json())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("mode", ["detect", "detect_end"])
@pytest.mark.parametrize(
    ("outcome", "who"), [(Outcome.MACHINE, AnsweredBy.MACHINE), (Outcome.ANSWER, AnsweredBy.HUMAN)]
)
async def test_who_answered_is_reported_signed_and_read_back(
    recorder_for: Recorders, dialect: str, mode: str, outcome: Outcome, who: AnsweredBy
) -> None:
    config = dialect_config(dialect, outcome_overrides={TO: outcome}, talk_mean=20.0)
    async with recorder_for(dialect) as (recorder, base), provider(dialect, config) as (tel, sim):
        call_id = await tel.create_call(request(base, mode))
        await until_event(recorder, call_id, dialect, ended)
        seen = events(recorder, call_id, dialect)
        counted = await stats(sim)
    assert all(c.signature_valid for c in recorder.for_call(call_id))
    detected = [e for e in seen if e.progress is CallProgress.ANSWERED and e.answered_by]
    assert detected, seen
    assert {e.answered_by for e in detected} == {who}
    # Only Twilio's DetectMessageEnd and Telnyx's detect_beep wait for the beep; Plivo hears none.
    beep = mode == "detect_end" and who is AnsweredBy.MACHINE and dialect != "plivo"
    assert any(e.greeting_ended for e in detected) is beep
    assert counted["machines_detected" if who.is_machine else "humans_detected"] == 1
    assert counted["machines_answered"] == (1 if who.is_machine else 0)
    assert len({e.dedupe_key for e in seen}) == len(seen)  # each report is its own event


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_without_detection_nobody_is_asked(recorder_for: Recorders, dialect: str) -> None:
    config = dialect_config(dialect, outcome_overrides={TO: Outcome.MACHINE})
    async with recorder_for(dialect) as (recorder, base), provider(dialect, config) as (tel, sim):
        call_id = await tel.create_call(request(base, None))
        await until_event(recorder, call_id, dialect, ended)
        counted = await stats(sim)
    assert all(e.answered_by is None for e in events(recorder, call_id, dialect))
    assert counted["machines_answered"] == 1
    assert counted["machines_detected"] == 0


async def test_a_voicemail_after_the_beep_is_left_then_the_call_ends(
    recorder_for: Recorders,
) -> None:
    config = dialect_config(
        "twilio", outcome_overrides={TO: Outcome.MACHINE}, speed=20.0, machine_records=200.0
    )
    async with recorder_for("twilio") as (recorder, base), provider("twilio", config) as (tel, sim):
        call_id = await tel.create_call(request(base, "detect_end", time_limit=600))
        await until_event(recorder, call_id, "twilio", greeting_over)
        await tel.leave_voicemail(call_id, MESSAGE)
        ending = await until_event(recorder, call_id, "twilio", ended)
        counted = await stats(sim)
        fetched = await tel.fetch_call(call_id)
    assert counted["voicemails_left"] == 1
    assert counted["voicemails_before_beep"] == 0
    assert counted["twiml_updates"] == 1
    # The greeting (8 s), then the 5-second message and the hang-up: not the 200 s the machine
    # would record.
    assert ending.progress is CallProgress.COMPLETED
    assert ending.duration is not None
    assert 13 <= ending.duration < 100
    assert ending.answered_by is AnsweredBy.MACHINE
    assert fetched.answered_by is AnsweredBy.MACHINE


async def test_a_message_during_the_greeting_is_counted_as_cut_off(
    recorder_for: Recorders,
) -> None:
    config = dialect_config("twilio", outcome_overrides={TO: Outcome.MACHINE}, amd_beep_after=60.0)
    async with recorder_for("twilio") as (recorder, base), provider("twilio", config) as (tel, sim):
        call_id = await tel.create_call(request(base, "detect_end"))
        await until_event(
            recorder, call_id, "twilio", lambda e: e.progress is CallProgress.ANSWERED
        )
        await tel.leave_voicemail(call_id, MESSAGE)
        await until_event(recorder, call_id, "twilio", ended)
        counted = await stats(sim)
    assert (counted["voicemails_left"], counted["voicemails_before_beep"]) == (0, 1)


async def test_a_voicemail_for_a_call_that_ended_is_no_error(recorder_for: Recorders) -> None:
    config = dialect_config("twilio", outcome_overrides={TO: Outcome.ANSWER}, talk_mean=1.0)
    async with recorder_for("twilio") as (recorder, base), provider("twilio", config) as (tel, sim):
        call_id = await tel.create_call(request(base, "detect_end"))
        await until_event(recorder, call_id, "twilio", ended)
        await tel.leave_voicemail(call_id, MESSAGE)
        counted = await stats(sim)
    assert counted["voicemails_left"] == 0


@pytest.mark.parametrize("dialect", ["plivo", "telnyx"])
async def test_other_providers_leave_no_voicemail(dialect: str) -> None:
    async with provider(dialect, dialect_config(dialect)) as (tel, _):
        assert tel.leaves_voicemail is False
        with pytest.raises(ProviderRejected):
            await tel.leave_voicemail("any-call", MESSAGE)


async def test_plivo_hangup_mode_ends_a_machine_call_on_detection(recorder_for: Recorders) -> None:
    """What the simulator does when asked ``machine_detection=hangup`` (Dialer asks ``true``)."""
    config = dialect_config("plivo", outcome_overrides={TO: Outcome.MACHINE}, machine_records=300.0)
    async with running_simulator(config) as url, httpx.AsyncClient(base_url=url) as sim:
        body = {
            "from": FROM[1:],
            "to": TO[1:],
            "answer_url": "http://127.0.0.1:9/answer",
            "machine_detection": "hangup",
            "machine_detection_url": "http://127.0.0.1:9/amd",
            "time_limit": 600,
        }
        auth = (config.account_sid, config.auth_token)
        made = await sim.post(f"/v1/Account/{config.account_sid}/Call/", json=body, auth=auth)
        assert made.status_code == 201
        await until(lambda: _ended_calls(sim), 5, "the machine call ended")
        counted = await stats(sim)
    assert counted["machines_detected"] == 1
    assert counted["outcomes"] == {"completed": 1}


async def _ended_calls(sim: httpx.AsyncClient) -> bool:
    return bool((await stats(sim))["outcomes"])


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_engine_ends_a_machines_call_as_machine_on_every_provider(
    provider_engine: ProviderEngine, dialect: str
) -> None:
    machine, person = "+12125550300", "+12125550301"
    sim = dialect_config(dialect, outcome_overrides={machine: Outcome.MACHINE, person: "answer"})
    campaign_settings = settings(
        ramp_up=0, retry=RetryPolicy(1), machine_detection=MachineDetection(DetectionMode.DETECT)
    )
    contacts = [ContactDraft(number, zone_key((NY,))) for number in (machine, person)]
    async with provider_engine(dialect, sim=sim) as e:
        campaign = await e.campaign(campaign_settings, contacts)
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        attempts = {a["phone"]: a for a in await attempt_rows(e, campaign.id)}
        leads = {row["phone"]: row["status"] for row in await lead_rows(e, campaign.id)}
    assert (attempts[machine]["status"], attempts[machine]["answered_by"]) == (
        "MACHINE",
        "machine",
    )
    assert attempts[person]["status"] == "COMPLETED"
    assert leads == {machine: "EXHAUSTED", person: "DONE"}
