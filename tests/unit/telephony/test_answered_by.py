"""Who answered, as each provider reports it, read into the provider-neutral event: Twilio's
``AnsweredBy`` (async AMD callback, status callback, Call resource), Plivo's machine detection
callback and Telnyx's ``call.machine.*`` webhooks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dialer.adapters.telephony import plivo, telnyx, twiml
from dialer.adapters.telephony.twilio import call_resource_event, parse_status_callback
from dialer.domain.machines import AnsweredBy, Voicemail
from dialer.domain.statuses import CallProgress
from dialer.errors import InvalidInput

SID = "CA" + "1" * 32
AMD_CALLBACK = {
    "AccountSid": "AC" + "2" * 32,
    "CallSid": SID,
    "AnsweredBy": "machine_end_beep",
    "MachineDetectionDuration": "4200",
}


@pytest.mark.parametrize(
    ("wire", "who", "greeting_ended"),
    [
        ("human", AnsweredBy.HUMAN, False),
        ("machine_start", AnsweredBy.MACHINE, False),
        ("machine_end_beep", AnsweredBy.MACHINE, True),
        ("machine_end_silence", AnsweredBy.MACHINE, True),
        ("machine_end_other", AnsweredBy.MACHINE, True),
        ("fax", AnsweredBy.FAX, False),
        ("unknown", AnsweredBy.UNKNOWN, False),
    ],
)
def test_twilio_async_amd_callback_is_a_detection_report(
    wire: str, who: AnsweredBy, greeting_ended: bool
) -> None:
    event = parse_status_callback({**AMD_CALLBACK, "AnsweredBy": wire})
    assert event.provider_call_id == SID
    assert event.progress is CallProgress.ANSWERED  # only an answered call is detected
    assert (event.answered_by, event.greeting_ended) == (who, greeting_ended)
    assert event.sequence is None


def test_a_detection_report_is_not_the_answer_callback() -> None:
    amd = parse_status_callback(AMD_CALLBACK)
    answered = parse_status_callback({"CallSid": SID, "CallStatus": "in-progress"})
    assert answered.answered_by is None
    assert amd.dedupe_key == "answered:-:machine-end"
    assert answered.dedupe_key == "answered:-"
    # a repeated delivery of the detection is recognised
    assert parse_status_callback(dict(AMD_CALLBACK)).dedupe_key == amd.dedupe_key


def test_a_status_callback_may_say_who_answered() -> None:
    form = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "4", "AnsweredBy": "human"}
    event = parse_status_callback(form)
    assert event.progress is CallProgress.COMPLETED
    assert event.answered_by is AnsweredBy.HUMAN
    assert event.dedupe_key == "completed:4:human"


def test_an_unknown_answered_by_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_status_callback({**AMD_CALLBACK, "AnsweredBy": "robot"})
    assert [p.location for p in info.value.problems] == ["AnsweredBy"]


def test_neither_status_nor_detection_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_status_callback({"CallSid": SID})
    assert [p.location for p in info.value.problems] == ["CallStatus"]


def test_the_call_resource_says_who_answered() -> None:
    resource = {"sid": SID, "status": "completed", "answered_by": "machine_start", "duration": "9"}
    event = call_resource_event(resource)
    assert (event.progress, event.answered_by, event.greeting_ended) == (
        CallProgress.COMPLETED,
        AnsweredBy.MACHINE,
        False,
    )
    assert call_resource_event({"sid": SID, "status": "completed"}).answered_by is None


PLIVO_DETECTION = {
    "CallUUID": "c0ffee00-0000-4000-8000-000000000001",
    "RequestUUID": "c0ffee00-0000-4000-8000-000000000001",
    "Event": "MachineDetection",
    "Machine": "true",
    "CallStatus": "in-progress",
    "Direction": "outbound",
    "From": "14155550100",
    "To": "14155550123",
}


def test_plivo_machine_detection_callback() -> None:
    machine = plivo.parse_callback(PLIVO_DETECTION)
    assert (machine.progress, machine.answered_by) == (CallProgress.ANSWERED, AnsweredBy.MACHINE)
    human = plivo.parse_callback({**PLIVO_DETECTION, "Machine": "false"})
    assert human.answered_by is AnsweredBy.HUMAN
    answer = plivo.parse_callback({**PLIVO_DETECTION, "Event": "StartApp"})
    assert answer.answered_by is None
    # the answer and the detection are both in-progress: their dedupe keys differ
    assert len({machine.dedupe_key, answer.dedupe_key}) == 2


def test_plivo_answer_xml_holds_the_call_while_detection_listens() -> None:
    assert plivo.answer_xml(None) == plivo.DEFAULT_ANSWER_XML
    assert '<Wait length="10"/>' in plivo.answer_xml("10")
    for bad in ("0", "61", "ten", "-1"):
        assert plivo.answer_xml(bad) == plivo.DEFAULT_ANSWER_XML


def _telnyx(event_type: str, **payload: Any) -> bytes:
    data = {
        "event_type": event_type,
        "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at": "2026-03-03T15:00:07.000000Z",
        "payload": {"call_control_id": "v3:abc", **payload},
    }
    return json.dumps({"data": data}).encode()


@pytest.mark.parametrize(
    ("event_type", "result", "who", "greeting_ended"),
    [
        ("call.machine.detection.ended", "human", AnsweredBy.HUMAN, False),
        ("call.machine.detection.ended", "machine", AnsweredBy.MACHINE, False),
        ("call.machine.detection.ended", "not_sure", AnsweredBy.UNKNOWN, False),
        ("call.machine.greeting.ended", "beep_detected", AnsweredBy.MACHINE, True),
        ("call.machine.premium.detection.ended", "human_business", AnsweredBy.HUMAN, False),
        ("call.machine.premium.detection.ended", "fax_detected", AnsweredBy.FAX, False),
        ("call.machine.premium.greeting.ended", "beep_detected", AnsweredBy.MACHINE, True),
    ],
)
def test_telnyx_detection_webhooks(
    event_type: str, result: str, who: AnsweredBy, greeting_ended: bool
) -> None:
    event = telnyx.parse_webhook(_telnyx(event_type, result=result))
    assert event is not None
    assert event.progress is CallProgress.ANSWERED
    assert (event.answered_by, event.greeting_ended) == (who, greeting_ended)


def test_other_telnyx_events_still_say_nothing_of_who_answered() -> None:
    answered = telnyx.parse_webhook(_telnyx("call.answered"))
    assert answered is not None
    assert answered.answered_by is None
    assert telnyx.parse_webhook(_telnyx("call.initiated")) is None


def test_voicemail_twiml_says_or_plays_then_hangs_up() -> None:
    said = twiml.voicemail(Voicemail(text="Tom & Jerry <3"))
    assert said.endswith("<Response><Say>Tom &amp; Jerry &lt;3</Say><Hangup/></Response>")
    played = twiml.voicemail(Voicemail(url="https://example.com/a.mp3?x=1&y=2"))
    assert "<Play>https://example.com/a.mp3?x=1&amp;y=2</Play><Hangup/>" in played
