"""The provider wire formats the simulator speaks: what each one reports, where, and how it is
signed. The engine plays every call the same way (in Twilio's status words, its own vocabulary)
and asks the dialect to turn each status change into a callback, or into none.

============  ============================  ============================  =======================
engine        Twilio (form)                 Plivo (form)                  Telnyx (JSON)
============  ============================  ============================  =======================
initiated     initiated                     -                             call.initiated
ringing       ringing                       ring_url: ringing             -
in-progress   in-progress                   answer_url: in-progress       call.answered
an ending     completed/busy/no-answer/...  hangup_url: CallStatus +      call.hangup +
                                            HangupCause, Duration         hangup_cause
detection     AsyncAmdStatusCallback:       machine_detection_url:        call.machine.detection
              AnsweredBy (no CallStatus)    Event=MachineDetection,       .ended (+ .greeting
                                            Machine=true|false            .ended after a beep)
============  ============================  ============================  =======================
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from dialer.adapters.telephony import plivo_signature, telnyx_signature, twilio_signature
from dialer.simulator import wire
from dialer.simulator.calls import Call
from dialer.simulator.delivery import Delivery

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Dialect(Protocol):
    name: str

    def new_call_id(self, bits: int) -> str: ...

    def notification(self, call: Call, sequence: int, now: datetime) -> Delivery | None: ...

    def detection(self, call: Call, now: datetime) -> list[Delivery]:
        """The reports of ``call.answered_by`` (just detected) to the call's detection URL."""
        ...

    def headers(self, delivery: Delivery, sequence_hint: str) -> dict[str, str]: ...


def uuid_text(hex_digits: str) -> str:
    text = hex_digits[:32]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _form_delivery(url: str, form: dict[str, str], call_id: str) -> Delivery:
    return Delivery(url, urlencode(form).encode(), FORM, call_id, form)


# ---------------------------------------------------------------- Twilio


class TwilioDialect:
    name = "twilio"
    user_agent = "TwilioProxy/1.1"

    def __init__(self, auth_token: str) -> None:
        self._token = auth_token

    def new_call_id(self, bits: int) -> str:
        return f"CA{bits:032x}"

    def notification(self, call: Call, sequence: int, now: datetime) -> Delivery | None:
        url = call.request.status_callback
        if not url or wire.EVENT_OF_STATUS[call.status] not in call.request.events:
            return None
        return _form_delivery(url, call.callback_form(sequence, now), call.sid)

    def detection(self, call: Call, now: datetime) -> list[Delivery]:
        url = call.request.detection_url
        if not url or call.answered_by is None:
            return []
        form = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "AnsweredBy": call.answered_by,
            "MachineDetectionDuration": "3000",
        }
        return [_form_delivery(url, form, call.sid)]

    def headers(self, delivery: Delivery, sequence_hint: str) -> dict[str, str]:
        form = dict(delivery.form or {})
        return {
            twilio_signature.SIGNATURE_HEADER: twilio_signature.sign(
                self._token, delivery.url, form
            ),
            "I-Twilio-Idempotency-Token": f"{delivery.call_id}-{sequence_hint}",
        }


# ---------------------------------------------------------------- Plivo

PLIVO_STATUS = {
    wire.COMPLETED: "completed",
    wire.BUSY: "busy",
    wire.NO_ANSWER: "no-answer",
    wire.FAILED: "failed",
    wire.CANCELED: "cancel",
}
PLIVO_CAUSE = {
    wire.COMPLETED: "NORMAL_CLEARING",
    wire.BUSY: "USER_BUSY",
    wire.NO_ANSWER: "NO_ANSWER",
    wire.FAILED: "CALL_REJECTED",
    wire.CANCELED: "ORIGINATOR_CANCEL",
}
PLIVO_CALL_STATE = {
    wire.COMPLETED: "ANSWER",
    wire.BUSY: "BUSY",
    wire.NO_ANSWER: "NO_ANSWER",
    wire.FAILED: "FAILED",
    wire.CANCELED: "CANCEL",
}


def plivo_time(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S+00:00") if when is not None else ""


def plivo_number(e164: str) -> str:
    return e164.removeprefix("+")


class PlivoDialect:
    name = "plivo"
    user_agent = "PlivoHTTP/1.0"

    def __init__(self, auth_token: str) -> None:
        self._token = auth_token

    def new_call_id(self, bits: int) -> str:
        return uuid_text(f"{bits:032x}")

    def notification(self, call: Call, sequence: int, now: datetime) -> Delivery | None:
        del sequence  # Plivo numbers no callbacks
        urls = call.request.extra
        if call.status == wire.RINGING:
            url, form = urls.get("ring_url"), {"CallStatus": "ringing", "Event": "Ring"}
        elif call.status == wire.IN_PROGRESS:
            url = urls.get("answer_url")
            form = {"CallStatus": "in-progress", "Event": "StartApp"}
            form["AnswerTime"] = plivo_time(call.answered_wall)
        elif call.ended:
            url, form = urls.get("hangup_url"), self._ending(call, now)
        else:
            return None
        if not url:
            return None
        return _form_delivery(url, {**self._common(call), **form}, call.sid)

    def detection(self, call: Call, now: datetime) -> list[Delivery]:
        url = call.request.detection_url
        if not url or call.answered_by is None:
            return []
        form = {
            **self._common(call),
            "Event": "MachineDetection",
            "Machine": "true" if call.answered_by.startswith("machine") else "false",
            "IfMachine": call.request.extra.get("machine_detection", "continue"),
            "CallStatus": "in-progress",
        }
        return [_form_delivery(url, form, call.sid)]

    def headers(self, delivery: Delivery, sequence_hint: str) -> dict[str, str]:
        del sequence_hint
        nonce = plivo_signature.new_nonce()
        signature = plivo_signature.sign(self._token, delivery.url, delivery.form or {}, nonce)
        return {plivo_signature.SIGNATURE_HEADER: signature, plivo_signature.NONCE_HEADER: nonce}

    @staticmethod
    def _common(call: Call) -> dict[str, str]:
        return {
            "CallUUID": call.sid,
            "RequestUUID": call.sid,
            "From": plivo_number(call.request.from_),
            "To": plivo_number(call.request.to),
            "Direction": "outbound",
        }

    @staticmethod
    def _ending(call: Call, now: datetime) -> dict[str, str]:
        duration = call.duration or 0
        return {
            "CallStatus": PLIVO_STATUS[call.status],
            "Event": "Hangup",
            "HangupCause": PLIVO_CAUSE[call.status],
            "Duration": str(duration),
            "BillDuration": str(duration),
            "StartTime": plivo_time(call.start_time),
            "AnswerTime": plivo_time(call.answered_wall),
            "EndTime": plivo_time(now),
        }


# ---------------------------------------------------------------- Telnyx

TELNYX_CAUSE = {
    wire.COMPLETED: "normal_clearing",
    wire.BUSY: "user_busy",
    wire.NO_ANSWER: "timeout",
    wire.FAILED: "unspecified",
    wire.CANCELED: "originator_cancel",
}
TELNYX_SIP = {wire.COMPLETED: "200", wire.BUSY: "486", wire.NO_ANSWER: "487"}


def iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


class TelnyxDialect:
    name = "telnyx"
    user_agent = "telnyx-webhooks"

    def __init__(self, auth_token: str) -> None:
        self._key = telnyx_signature.key_from_secret(auth_token)
        self.public_key = telnyx_signature.public_key_text(self._key)

    def new_call_id(self, bits: int) -> str:
        raw = bits.to_bytes(16, "big")
        return "v3:" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def notification(self, call: Call, sequence: int, now: datetime) -> Delivery | None:
        url = call.request.status_callback
        if call.status == wire.INITIATED:
            event_type = "call.initiated"
        elif call.status == wire.IN_PROGRESS:
            event_type = "call.answered"
        elif call.ended:
            event_type = "call.hangup"
        else:
            return None
        if not url:
            return None
        return self._event(url, call, event_type, str(sequence), self.payload(call, now), now)

    def detection(self, call: Call, now: datetime) -> list[Delivery]:
        url = call.request.detection_url
        if not url or call.answered_by is None:
            return []
        payload = self.payload(call, now)
        found = "human" if call.answered_by == "human" else "machine"
        kind = "call.machine.detection.ended"
        reports = [self._event(url, call, kind, kind, {**payload, "result": found}, now)]
        if call.answered_by.startswith("machine_end"):
            kind = "call.machine.greeting.ended"
            greeting = {**payload, "result": "beep_detected"}
            reports.append(self._event(url, call, kind, kind, greeting, now))
        return reports

    @staticmethod
    def _event(
        url: str, call: Call, event_type: str, key: str, payload: dict[str, Any], now: datetime
    ) -> Delivery:
        document = {
            "data": {
                "record_type": "event",
                "event_type": event_type,
                "id": uuid_text(hashlib.sha256(f"{call.sid}:{key}".encode()).hexdigest()),
                "occurred_at": iso(now),
                "payload": payload,
            },
            "meta": {"attempt": 1, "delivered_to": url},
        }
        return Delivery(url, json.dumps(document).encode(), JSON, call.sid)

    def headers(self, delivery: Delivery, sequence_hint: str) -> dict[str, str]:
        del sequence_hint
        timestamp = str(int(time.time()))
        return {
            telnyx_signature.TIMESTAMP_HEADER: timestamp,
            telnyx_signature.SIGNATURE_HEADER: telnyx_signature.sign(
                self._key, timestamp, delivery.body
            ),
        }

    @staticmethod
    def payload(call: Call, now: datetime) -> dict[str, Any]:
        extra = call.request.extra
        payload: dict[str, Any] = {
            "call_control_id": call.sid,
            "call_leg_id": call.sid[3:],
            "call_session_id": call.sid[3:],
            "client_state": extra.get("client_state"),
            "connection_id": extra.get("connection_id"),
            "from": call.request.from_,
            "to": call.request.to,
            "direction": "outgoing",
            "state": "hangup" if call.ended else "bridging",
        }
        if call.ended:
            payload.update(
                hangup_cause=TELNYX_CAUSE[call.status],
                hangup_source="callee" if call.status != wire.CANCELED else "caller",
                sip_hangup_cause=TELNYX_SIP.get(call.status, "480"),
                start_time=iso(call.start_time or call.created_at),
                end_time=iso(now),
            )
        return payload


AnyDialect = TwilioDialect | PlivoDialect | TelnyxDialect


def dialect_for(name: str, auth_token: str) -> AnyDialect:
    if name == "plivo":
        return PlivoDialect(auth_token)
    if name == "telnyx":
        return TelnyxDialect(auth_token)
    return TwilioDialect(auth_token)
