"""Channels: the message steps a campaign may take after its call step, and when each runs.

A campaign is a call step followed by any number of message steps (SMS or email). A lead
walks them in order once its call step has ended (after its retries): each message step runs
only when its ``when`` names one of the outcomes seen so far for the lead, and a step that
does not match is passed over. The outcomes are words: the call's final outcome
(``no_answer``, ``busy``, ``failed``, ``disconnected``, ``machine``, ``completed``, or
``unreachable`` when the voice provider could not be used), and ``<channel>.<outcome>`` for
every message step already taken (``sms.undelivered``, ``email.bounced`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dialer.domain.rates import Rate
from dialer.domain.statuses import AttemptStatus


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"


CALL_OUTCOMES = frozenset(
    {"no_answer", "busy", "failed", "disconnected", "machine", "completed", "unreachable"}
)
MESSAGE_OUTCOMES = {
    Channel.SMS: frozenset({"sent", "delivered", "undelivered", "failed", "skipped"}),
    Channel.EMAIL: frozenset({"sent", "bounced", "failed", "skipped"}),
}
# Every word a step's ``when`` may name.
WHEN_WORDS = CALL_OUTCOMES | {
    f"{channel}.{outcome}" for channel, outcomes in MESSAGE_OUTCOMES.items() for outcome in outcomes
}

_CALL_OUTCOME_OF = {
    AttemptStatus.COMPLETED: "completed",
    AttemptStatus.NO_ANSWER: "no_answer",
    AttemptStatus.CANCELED: "no_answer",  # we hung up before anyone answered
    AttemptStatus.BUSY: "busy",
    AttemptStatus.FAILED: "failed",
    AttemptStatus.DISCONNECTED: "disconnected",
    AttemptStatus.MACHINE: "machine",  # an answering machine (or a fax) picked up
    AttemptStatus.UNKNOWN: "failed",  # never learned: not a conversation
}


@dataclass(frozen=True)
class MessageStep:
    """One SMS or email step. ``body`` (and ``subject``, ``html``) are template sources using
    ``{{ name }}`` and the contact's attributes."""

    channel: Channel  # SMS or EMAIL
    body: str
    when: frozenset[str] = frozenset()  # empty: the step always runs
    sender: str | None = None  # SMS: E.164 (None: the campaign's caller ID); email: required
    subject: str | None = None  # email only
    html: str | None = None  # email only, optional
    rate: Rate | None = None  # this step's own send rate, beside the channel's
    after: int = 0  # seconds to wait after the previous step ended (then its window applies)

    def runs_after(self, outcomes: Iterable[str]) -> bool:
        return not self.when or bool(self.when & set(outcomes))


def listed_address(channel: Channel, address: str) -> str:
    """How an address is kept on an opt-out list. An email's local part is case-sensitive
    by the letter of RFC 5321, but mail services treat it as not: "Ada@x.org" unsubscribing
    must stop mail to "ada@x.org" too, so addresses are compared in lower case."""
    return address.lower() if channel is Channel.EMAIL else address


def call_outcome(last_attempt: AttemptStatus) -> str:
    """The word a lead's final call attempt gives to the steps after it."""
    return _CALL_OUTCOME_OF.get(last_attempt, "failed")


def next_step(steps: tuple[MessageStep, ...], after: int, outcomes: Iterable[str]) -> int | None:
    """The number of the first step after step ``after`` that runs on these outcomes, or None
    when the lead has no step left. Steps are numbered from 1 (the call step is 0)."""
    seen = frozenset(outcomes)
    for number in range(after + 1, len(steps) + 1):
        if steps[number - 1].runs_after(seen):
            return number
    return None
