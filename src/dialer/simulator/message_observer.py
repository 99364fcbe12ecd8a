"""What the simulator saw of messages, counted from the provider's side: every SMS it accepted and
every email its SMTP sink received, with the figures that prove (or disprove) the dialer's
message rules: one message per lead and step, none to a contact who opted out, none faster than
a sender's rate. Reported under ``sms`` and ``email`` in ``GET /_sim/stats``.

Every accepted message is listed, so that a test can find duplicates by its own key and check
each message's instant against the contact's window. ``reset()`` starts a new window, as for
calls; who has opted out is the world's state, not a figure, and survives it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

LIST_LIMIT = 1000  # lists of findings stop growing here; their counts stay exact
MESSAGES_LIMIT = 200_000  # accepted messages listed


@dataclass(frozen=True, slots=True)
class SentSms:
    """One SMS the provider accepted, at an instant of the simulated clock."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    accepted_at: datetime  # the simulated clock (from the epoch when one is set)
    elapsed: float  # simulated seconds since the simulator started

    def report(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status_callback": self.status_callback,
            "accepted_at": self.accepted_at.isoformat(),
            "elapsed": round(self.elapsed, 6),
        }


class SmsObserver:
    def __init__(self) -> None:
        self.opted_out: dict[str, set[str]] = {}  # contact -> the senders it texted STOP
        self._new_window()

    def _new_window(self) -> None:
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self._keys: set[tuple[str, str, str]] = set()  # (To, From, Body)
        self.duplicates: list[dict[str, str]] = []
        self._callback_urls: set[str] = set()
        self.to_opted_out: dict[str, None] = {}  # ordered set of numbers
        self._second: dict[str, tuple[int, int]] = {}  # sender -> (simulated second, sends)
        self.max_per_second: dict[str, int] = {}
        self.messages: list[SentSms] = []

    def reset(self) -> None:
        self._new_window()

    # ------------------------------------------------------------ events

    def count(self, what: str) -> None:
        """One more of a plain counter: rejected_429, rejected_429_over_mps, rejected_4xx,
        rejected_opted_out, callbacks_sent, callbacks_retried, callbacks_failed,
        inbound_received, inbound_sent, inbound_retried, inbound_failed."""
        self.counts[what] += 1

    def accepted(self, sms: SentSms) -> None:
        self.counts["messages_accepted"] += 1
        self._note_duplicate(sms)
        self._note_callback_url(sms.status_callback)
        if self.opted_out.get(sms.to):
            # Accepted from another sender than the one it stopped: the contact still said no.
            self.counts["sent_to_opted_out"] += 1
            _note(self.to_opted_out, sms.to)
        self._note_second(sms.from_, int(sms.elapsed))
        if len(self.messages) < MESSAGES_LIMIT:
            self.messages.append(sms)

    def ended(self, status: str) -> None:
        self.outcomes[status] += 1

    def stopped(self, contact: str, sender: str) -> None:
        self.opted_out.setdefault(contact, set()).add(sender)

    def started(self, contact: str, sender: str) -> None:
        senders = self.opted_out.get(contact, set())
        senders.discard(sender)
        if not senders:
            self.opted_out.pop(contact, None)

    def _note_duplicate(self, sms: SentSms) -> None:
        key = (sms.to, sms.from_, sms.body)
        if key not in self._keys:
            self._keys.add(key)
            return
        self.counts["duplicates"] += 1
        if len(self.duplicates) < LIST_LIMIT:
            self.duplicates.append({"to": sms.to, "from": sms.from_, "body": sms.body})

    def _note_callback_url(self, url: str | None) -> None:
        # The dialer's StatusCallback names one message step of one lead: seen twice, it is a
        # message sent twice even when its body differs.
        if not url:
            return
        if url in self._callback_urls:
            self.counts["repeated_status_callbacks"] += 1
        else:
            self._callback_urls.add(url)

    def _note_second(self, sender: str, second: int) -> None:
        """Sends per whole simulated second, per sender: only the current second is kept."""
        current, sends = self._second.get(sender, (second, 0))
        sends = sends + 1 if current == second else 1
        self._second[sender] = (second, sends)
        if sends > self.max_per_second.get(sender, 0):
            self.max_per_second[sender] = sends

    # ------------------------------------------------------------ report

    def snapshot(self) -> dict[str, Any]:
        counted = (
            "messages_accepted",
            "rejected_429",
            "rejected_429_over_mps",
            "rejected_4xx",
            "rejected_opted_out",
            "duplicates",
            "repeated_status_callbacks",
            "sent_to_opted_out",
            "callbacks_sent",
            "callbacks_retried",
            "callbacks_failed",
            "inbound_received",
            "inbound_sent",
            "inbound_retried",
            "inbound_failed",
        )
        return {
            **{name: self.counts[name] for name in counted},
            "outcomes": dict(self.outcomes),
            "duplicate_messages": list(self.duplicates),
            "sent_to_opted_out_numbers": list(self.to_opted_out),
            "opted_out": {contact: sorted(s) for contact, s in self.opted_out.items()},
            "max_per_second_by_sender": dict(self.max_per_second),
            "messages": [sms.report() for sms in self.messages],
        }


@dataclass(frozen=True)
class ReceivedEmail:
    """One email the SMTP sink accepted: its envelope and the message as parsed."""

    envelope_from: str
    envelope_to: tuple[str, ...]
    message: EmailMessage
    received_at: datetime

    @property
    def message_id(self) -> str | None:
        value = self.message.get("Message-ID")
        return str(value).strip() if value is not None else None

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return str(value) if value is not None else None

    @property
    def text(self) -> str | None:
        return _part(self.message, "plain")

    @property
    def html(self) -> str | None:
        return _part(self.message, "html")

    def report(self) -> dict[str, Any]:
        return {
            "envelope_from": self.envelope_from,
            "envelope_to": list(self.envelope_to),
            "message_id": self.message_id,
            "from": self.header("From"),
            "to": self.header("To"),
            "subject": self.header("Subject"),
            "list_unsubscribe": self.header("List-Unsubscribe"),
            "list_unsubscribe_post": self.header("List-Unsubscribe-Post"),
            "text": self.text,
            "html": self.html,
            "received_at": self.received_at.isoformat(),
        }


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


class EmailObserver:
    def __init__(self) -> None:
        self._new_window()

    def _new_window(self) -> None:
        self.counts: Counter[str] = Counter()
        self._message_ids: set[str] = set()
        self.duplicate_ids: dict[str, None] = {}  # ordered set
        self.to_unsubscribed: dict[str, None] = {}
        self.messages: list[ReceivedEmail] = []

    def reset(self) -> None:
        self._new_window()

    def count(self, what: str) -> None:
        """One more of a plain counter: recipients_refused, auth_failures."""
        self.counts[what] += 1

    def received(self, email: ReceivedEmail, unsubscribed: list[str]) -> None:
        """``unsubscribed``: the message's recipients listed as unsubscribed."""
        self.counts["messages_received"] += 1
        self._note_message_id(email.message_id)
        for address in unsubscribed:
            self.counts["sent_to_unsubscribed"] += 1
            _note(self.to_unsubscribed, address)
        if len(self.messages) < MESSAGES_LIMIT:
            self.messages.append(email)

    def _note_message_id(self, message_id: str | None) -> None:
        if not message_id:
            self.counts["missing_message_id"] += 1
        elif message_id in self._message_ids:
            self.counts["duplicates"] += 1
            _note(self.duplicate_ids, message_id)
        else:
            self._message_ids.add(message_id)

    def snapshot(self) -> dict[str, Any]:
        counted = (
            "messages_received",
            "duplicates",
            "missing_message_id",
            "sent_to_unsubscribed",
            "recipients_refused",
            "auth_failures",
        )
        return {
            **{name: self.counts[name] for name in counted},
            "duplicate_message_ids": list(self.duplicate_ids),
            "unsubscribed_recipients": list(self.to_unsubscribed),
            "messages": [email.report() for email in self.messages],
        }


def _note(ordered: dict[str, None], key: str) -> None:
    if len(ordered) < LIST_LIMIT:
        ordered[key] = None
