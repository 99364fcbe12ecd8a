"""The older dialers' vocabulary ("stages"), derived from Dialer's own statuses.

Operators coming from older dialers read a call's progress in seven words. Dialer keeps
finer statuses (a busy line and a failed one are retried differently), so the stage is a
view computed from them, never stored: the lead's status and its last attempt's status
decide it. docs/design.md ("The older vocabulary") has the table.
"""

from __future__ import annotations

from enum import StrEnum

from dialer.domain.statuses import AttemptStatus, LeadStatus


class Stage(StrEnum):
    INITIATED = "INITIATED"  # handed to the provider, not answered yet
    PICKED = "PICKED"  # answered, the call is on
    RNR = "RNR"  # rang, no response
    DISCONNECTED = "DISCONNECTED"  # no conversation: busy, dropped, a machine, hung up by us
    FAILED = "FAILED"  # never connected, or the outcome could not be learned
    RETRYING = "RETRYING"  # a retry is scheduled
    COMPLETED = "COMPLETED"  # a conversation happened


_A = AttemptStatus
ATTEMPT_STAGES: dict[AttemptStatus, Stage] = {
    _A.QUEUED: Stage.INITIATED,
    _A.INITIATED: Stage.INITIATED,
    _A.RINGING: Stage.INITIATED,
    _A.ANSWERED: Stage.PICKED,
    _A.COMPLETED: Stage.COMPLETED,
    _A.NO_ANSWER: Stage.RNR,
    _A.BUSY: Stage.DISCONNECTED,
    _A.CANCELED: Stage.DISCONNECTED,
    _A.DISCONNECTED: Stage.DISCONNECTED,
    _A.MACHINE: Stage.DISCONNECTED,  # an answering machine picked up: no conversation
    _A.FAILED: Stage.FAILED,
    _A.UNKNOWN: Stage.FAILED,
}

# Lead states that name the stage whatever the last call was.
_LEAD_STAGES = {LeadStatus.WAITING_RETRY: Stage.RETRYING, LeadStatus.DONE: Stage.COMPLETED}


def attempt_stage(status: AttemptStatus) -> Stage:
    """One call attempt's stage."""
    return ATTEMPT_STAGES[status]


def lead_stage(status: LeadStatus, last_attempt: AttemptStatus | None) -> Stage | None:
    """A lead's stage, from its status and its last attempt's; None for a lead not (or not
    yet) called: pending, or skipped or cancelled before any attempt."""
    if status in _LEAD_STAGES:
        return _LEAD_STAGES[status]
    if status is LeadStatus.PENDING or last_attempt is None:
        return None
    return attempt_stage(last_attempt)


def lead_states_in(stage: Stage) -> dict[LeadStatus, frozenset[AttemptStatus | None]]:
    """Every (lead status, last attempt status) pair whose stage is ``stage``, grouped by
    lead status: what a store filters on to find a stage's leads."""
    pairs: dict[LeadStatus, frozenset[AttemptStatus | None]] = {}
    for lead in LeadStatus:
        lasts = frozenset(a for a in (None, *AttemptStatus) if lead_stage(lead, a) is stage)
        if lasts:
            pairs[lead] = lasts
    return pairs
