"""Retry policy: which outcomes are retried, after what delay, and how many attempts a lead gets.

The policy decides *when at the earliest* a lead may be dialled again; the calling window then
moves that instant to the next moment the contact may be called (see ``window.py``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.domain.statuses import AttemptStatus, LeadStatus


class Outcome(StrEnum):
    """The attempt endings a retry policy has a rule for (the keys of the ``retry`` block)."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    DISCONNECTED = "disconnected"
    MACHINE = "machine"  # an answering machine (or a fax) picked up
    UNKNOWN = "unknown"


OUTCOME_OF_STATUS: dict[AttemptStatus, Outcome] = {
    AttemptStatus.NO_ANSWER: Outcome.NO_ANSWER,
    AttemptStatus.BUSY: Outcome.BUSY,
    AttemptStatus.FAILED: Outcome.FAILED,
    AttemptStatus.CANCELED: Outcome.FAILED,
    AttemptStatus.DISCONNECTED: Outcome.DISCONNECTED,
    AttemptStatus.MACHINE: Outcome.MACHINE,
    AttemptStatus.UNKNOWN: Outcome.UNKNOWN,
}


@dataclass(frozen=True)
class FixedDelays:
    """Delays before the 2nd, 3rd ... attempt; past the end of the list the last one repeats.
    An empty list means: this outcome is not retried."""

    delays: tuple[int, ...]

    def delay(self, retry_number: int, rng: random.Random) -> int | None:
        if not self.delays:
            return None
        return self.delays[min(retry_number, len(self.delays) - 1)]


@dataclass(frozen=True)
class ExponentialBackoff:
    """``base * factor**n`` capped at ``maximum``, spread by +/- ``jitter`` (a fraction) so that
    leads which failed together do not all come back in the same second."""

    base: int
    factor: float = 2.0
    maximum: int = 86400
    jitter: float = 0.1

    def delay(self, retry_number: int, rng: random.Random) -> int | None:
        raw = min(self.base * self.factor**retry_number, self.maximum)
        spread = raw * self.jitter
        return max(0, round(raw + rng.uniform(-spread, spread)))


DelayRule = FixedDelays | ExponentialBackoff

DEFAULT_UNKNOWN_DELAY = FixedDelays((3600,))

# The calling window looks up to about a year past a retry instant for an opening; a retry
# later than this could not be placed (nor stored), so such a lead is exhausted, not retried.
LAST_RETRY = datetime.max - timedelta(days=800)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    rules: Mapping[Outcome, DelayRule] = field(default_factory=dict)
    # a retry may move past its delay to the hour the contact most likely answers
    # (domain.answer_times); False: exactly at the delay (or the window's next opening)
    best_time: bool = True

    def rule_for(self, outcome: Outcome) -> DelayRule:
        if outcome in self.rules:
            return self.rules[outcome]
        if outcome is Outcome.MACHINE:
            # Nobody was reached, as if nobody had answered: the no_answer rule applies
            # unless the operator gives machines a rule of their own.
            return self.rule_for(Outcome.NO_ANSWER)
        # An unknown outcome may well have been a call that never rang: give it one safe,
        # late retry unless the operator says otherwise.
        return DEFAULT_UNKNOWN_DELAY if outcome is Outcome.UNKNOWN else FixedDelays(())


@dataclass(frozen=True)
class LeadDecision:
    """What becomes of a lead after an attempt ended."""

    status: LeadStatus
    not_before: datetime | None = None  # the earliest retry instant, before the calling window

    @property
    def retries(self) -> bool:
        return self.status is LeadStatus.WAITING_RETRY


def decide_after_attempt(
    policy: RetryPolicy,
    ending: AttemptStatus,
    attempts_made: int,
    ended_at: datetime,
    rng: random.Random,
) -> LeadDecision:
    """Decide a lead's next state from how its latest attempt ended.

    ``attempts_made`` counts the attempts that reached the provider, this one included.
    """
    if ending is AttemptStatus.COMPLETED:
        return LeadDecision(LeadStatus.DONE)
    outcome = OUTCOME_OF_STATUS[ending]
    delay = policy.rule_for(outcome).delay(attempts_made - 1, rng)
    if delay is None:
        # A machine that picked up is a number that works with nobody reached: the lead
        # ends without a conversation (exhausted), not as a failure.
        reached = outcome is Outcome.MACHINE
        return LeadDecision(LeadStatus.EXHAUSTED if reached else LeadStatus.FAILED)
    retry_at = _retry_instant(ended_at, delay)
    if attempts_made >= policy.max_attempts or retry_at is None:
        return LeadDecision(LeadStatus.EXHAUSTED)
    return LeadDecision(LeadStatus.WAITING_RETRY, retry_at)


def _retry_instant(ended_at: datetime, delay: int) -> datetime | None:
    """``ended_at + delay``, or None past ``LAST_RETRY`` (compared in seconds, so that no
    delay, however large, overflows the date arithmetic)."""
    room = LAST_RETRY.replace(tzinfo=ended_at.tzinfo) - ended_at
    if delay > room.total_seconds():
        return None
    return ended_at + timedelta(seconds=delay)
