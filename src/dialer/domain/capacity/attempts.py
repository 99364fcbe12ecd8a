"""Attempts per lead: how often the retry policy calls a lead again, and how leads end."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.domain.capacity.inputs import Ending, OutcomeMix
from dialer.domain.retry import DelayRule, FixedDelays, Outcome, RetryPolicy

RETRY_RULE_OF = {
    Ending.NO_ANSWER: Outcome.NO_ANSWER,
    Ending.BUSY: Outcome.BUSY,
    Ending.FAILED: Outcome.FAILED,
    Ending.DROPPED: Outcome.DISCONNECTED,
}


def mean_delay(rule: DelayRule, retry_number: int) -> float | None:
    """The delay before retry ``retry_number`` (0 for the 2nd attempt), without jitter;
    None when the rule does not retry."""
    if isinstance(rule, FixedDelays):
        if not rule.delays:
            return None
        return float(rule.delays[min(retry_number, len(rule.delays) - 1)])
    return float(min(rule.base * rule.factor**retry_number, rule.maximum))


def retried(policy: RetryPolicy, ending: Ending) -> bool:
    if ending is Ending.ANSWERED:
        return False
    return mean_delay(policy.rule_for(RETRY_RULE_OF[ending]), 0) is not None


def retry_chance(policy: RetryPolicy, mix: OutcomeMix) -> float:
    """The chance that an attempt (not the last one) is followed by another."""
    return sum(chance for ending, chance in mix.chances.items() if retried(policy, ending))


def expected_attempts(policy: RetryPolicy, mix: OutcomeMix) -> float:
    """Mean attempts per lead: 1 + r + ... + r^(max_attempts - 1)."""
    r = retry_chance(policy, mix)
    return sum(r**k for k in range(policy.max_attempts))


@dataclass(frozen=True)
class LeadEndings:
    """The share of leads ending each way: reached (answered), out of attempts, or failed
    (an outcome the policy does not retry)."""

    reached: float
    exhausted: float
    failed: float


def lead_endings(policy: RetryPolicy, mix: OutcomeMix) -> LeadEndings:
    attempts = expected_attempts(policy, mix)
    r = retry_chance(policy, mix)
    reached = mix.answered * attempts
    exhausted = r**policy.max_attempts
    return LeadEndings(reached, exhausted, max(0.0, 1.0 - reached - exhausted))
