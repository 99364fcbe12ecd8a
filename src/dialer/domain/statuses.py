"""Every status in Dialer, and the one table of legal transitions for each.

A transition not in the table is ignored (and logged by the caller), never a crash: provider
events arrive duplicated and out of order, and a stale event must not move a record backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class LeadStatus(StrEnum):
    PENDING = "PENDING"  # never dialled yet
    DIALING = "DIALING"  # an attempt is in flight
    WAITING_RETRY = "WAITING_RETRY"  # a retry is scheduled at next_attempt_at
    DONE = "DONE"  # a conversation happened
    FAILED = "FAILED"  # an outcome the policy does not retry
    EXHAUSTED = "EXHAUSTED"  # retried up to max_attempts without a conversation
    SKIPPED = "SKIPPED"  # never dialled on purpose (no calling window, do-not-call, ...)
    CANCELLED = "CANCELLED"  # its campaign was cancelled


class AttemptStatus(StrEnum):
    QUEUED = "QUEUED"  # admitted and recorded, not yet sent to the provider
    INITIATED = "INITIATED"  # the provider accepted the call
    RINGING = "RINGING"
    ANSWERED = "ANSWERED"
    COMPLETED = "COMPLETED"  # answered and ended normally
    BUSY = "BUSY"
    NO_ANSWER = "NO_ANSWER"
    FAILED = "FAILED"  # never connected (bad number, network, carrier refusal)
    CANCELED = "CANCELED"  # hung up by us before it was answered
    DISCONNECTED = "DISCONNECTED"  # answered, then dropped abnormally
    MACHINE = "MACHINE"  # answered by an answering machine (or a fax): no conversation
    UNKNOWN = "UNKNOWN"  # the outcome could not be learned from the provider


class CallProgress(StrEnum):
    """What a provider tells about a call, in provider-neutral words. Adapters translate their
    wire statuses (Twilio's ``in-progress``, Telnyx's ``call.answered`` ...) into these."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL_CAMPAIGN = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED})
TERMINAL_LEAD = frozenset(
    {
        LeadStatus.DONE,
        LeadStatus.FAILED,
        LeadStatus.EXHAUSTED,
        LeadStatus.SKIPPED,
        LeadStatus.CANCELLED,
    }
)
DUE_LEAD = frozenset({LeadStatus.PENDING, LeadStatus.WAITING_RETRY})
TERMINAL_ATTEMPT = frozenset(
    {
        AttemptStatus.COMPLETED,
        AttemptStatus.BUSY,
        AttemptStatus.NO_ANSWER,
        AttemptStatus.FAILED,
        AttemptStatus.CANCELED,
        AttemptStatus.DISCONNECTED,
        AttemptStatus.MACHINE,
        AttemptStatus.UNKNOWN,
    }
)
LIVE_ATTEMPT = frozenset(set(AttemptStatus) - TERMINAL_ATTEMPT)

_C = CampaignStatus
CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    _C.DRAFT: frozenset({_C.RUNNING, _C.CANCELLED}),
    _C.RUNNING: frozenset({_C.PAUSED, _C.COMPLETED, _C.CANCELLED}),
    _C.PAUSED: frozenset({_C.RUNNING, _C.COMPLETED, _C.CANCELLED}),
    _C.COMPLETED: frozenset(),
    _C.CANCELLED: frozenset(),
}

_L = LeadStatus
_LEAD_OUTCOMES = frozenset({_L.DONE, _L.FAILED, _L.EXHAUSTED, _L.WAITING_RETRY})
LEAD_TRANSITIONS: dict[LeadStatus, frozenset[LeadStatus]] = {
    _L.PENDING: frozenset({_L.DIALING, _L.SKIPPED, _L.CANCELLED}),
    # DIALING -> PENDING/WAITING_RETRY also covers "claimed but not admitted" and
    # "the provider refused before creating the call": no attempt was spent.
    _L.DIALING: _LEAD_OUTCOMES | {_L.PENDING, _L.CANCELLED},
    # A retry decided on an UNKNOWN outcome is re-decided when the real outcome arrives late.
    _L.WAITING_RETRY: _LEAD_OUTCOMES | {_L.DIALING, _L.SKIPPED, _L.CANCELLED},
    _L.DONE: frozenset(),
    _L.FAILED: frozenset(),
    _L.EXHAUSTED: frozenset(),
    _L.SKIPPED: frozenset(),
    _L.CANCELLED: frozenset(),
}

_A = AttemptStatus
_ENDINGS = frozenset(TERMINAL_ATTEMPT)
ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    _A.QUEUED: frozenset({_A.INITIATED, _A.RINGING, _A.ANSWERED}) | _ENDINGS,
    _A.INITIATED: frozenset({_A.RINGING, _A.ANSWERED}) | _ENDINGS,
    _A.RINGING: frozenset({_A.ANSWERED}) | _ENDINGS,
    _A.ANSWERED: frozenset({_A.COMPLETED, _A.DISCONNECTED, _A.MACHINE, _A.UNKNOWN}),
    # The provider's late word beats our guess: an UNKNOWN attempt takes its real ending.
    _A.UNKNOWN: _ENDINGS - {_A.UNKNOWN},
    _A.COMPLETED: frozenset(),
    _A.BUSY: frozenset(),
    _A.NO_ANSWER: frozenset(),
    _A.FAILED: frozenset(),
    _A.CANCELED: frozenset(),
    _A.DISCONNECTED: frozenset(),
    _A.MACHINE: frozenset(),
}

_UNANSWERED_ENDINGS = frozenset({_A.BUSY, _A.NO_ANSWER, _A.CANCELED})
# How a call ends that a machine picked up: however it ended, nobody was spoken to.
_ANSWERED_ENDINGS = frozenset({_A.COMPLETED, _A.DISCONNECTED})

_PROGRESS_TO_STATUS = {
    CallProgress.INITIATED: _A.INITIATED,
    CallProgress.RINGING: _A.RINGING,
    CallProgress.ANSWERED: _A.ANSWERED,
    CallProgress.COMPLETED: _A.COMPLETED,
    CallProgress.BUSY: _A.BUSY,
    CallProgress.NO_ANSWER: _A.NO_ANSWER,
    CallProgress.FAILED: _A.FAILED,
    CallProgress.CANCELED: _A.CANCELED,
}


def can_move_campaign(current: CampaignStatus, target: CampaignStatus) -> bool:
    return target in CAMPAIGN_TRANSITIONS[current]


def can_move_lead(current: LeadStatus, target: LeadStatus) -> bool:
    return target in LEAD_TRANSITIONS[current]


def lead_moves(sources: Iterable[LeadStatus], target: LeadStatus) -> list[LeadStatus]:
    """The statuses a set-based move (every waiting lead of a campaign at once) takes leads
    from, each checked against the table; raises ``ValueError`` on an illegal one."""
    illegal = [s for s in sources if not can_move_lead(s, target)]
    if illegal:
        raise ValueError(f"leads cannot move from {illegal} to {target}")
    return list(sources)


def attempt_status_after(
    current: AttemptStatus,
    progress: CallProgress,
    *,
    was_answered: bool,
    by_machine: bool = False,
) -> AttemptStatus | None:
    """The status an attempt moves to on this provider event, or None to ignore the event
    (a duplicate, or one that arrived after a later one). ``by_machine``: the provider
    reported that a machine answered (now, or earlier for this call)."""
    if progress is CallProgress.QUEUED:
        return None
    target = _PROGRESS_TO_STATUS[progress]
    answered = was_answered or current is _A.ANSWERED
    if target is _A.FAILED and answered:
        target = _A.DISCONNECTED
    if target in _ANSWERED_ENDINGS and by_machine:
        target = _A.MACHINE
    if target in _UNANSWERED_ENDINGS and answered:
        return None  # a call that was answered cannot end as if nobody had picked up
    return target if target in ATTEMPT_TRANSITIONS[current] else None


class MessageStatus(StrEnum):
    PENDING = "PENDING"  # its step was decided; waiting for its time, window and rate
    SENDING = "SENDING"  # the sent marker: a request may be in flight; never sent again
    QUEUED = "QUEUED"  # the provider accepted it
    SENT = "SENT"  # handed to the carrier / accepted by the SMTP server
    DELIVERED = "DELIVERED"
    UNDELIVERED = "UNDELIVERED"  # the carrier or the mail server refused it (a bounce)
    FAILED = "FAILED"  # never left the provider (or its fate could not be learned)
    SKIPPED = "SKIPPED"  # never sent on purpose: opted out, no address, no window left
    CANCELLED = "CANCELLED"  # its campaign was cancelled first


TERMINAL_MESSAGE = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.SKIPPED,
        MessageStatus.CANCELLED,
    }
)
_M = MessageStatus
_REPORTED = frozenset({_M.QUEUED, _M.SENT, _M.DELIVERED, _M.UNDELIVERED, _M.FAILED})
MESSAGE_TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    _M.PENDING: frozenset({_M.SENDING, _M.SKIPPED, _M.CANCELLED}),
    # A send refused before it left (throttled, provider down) goes back to PENDING.
    _M.SENDING: _REPORTED | {_M.PENDING},
    _M.QUEUED: _REPORTED - {_M.QUEUED},
    _M.SENT: frozenset({_M.DELIVERED, _M.UNDELIVERED, _M.FAILED}),
    # A delivery receipt may arrive after the carrier said undelivered; the receipt is final.
    _M.UNDELIVERED: frozenset({_M.DELIVERED}),
    # Our guess loses to the provider; a message that never left may be sent again (replayed
    # from the dead-letter queue).
    _M.FAILED: frozenset({_M.DELIVERED, _M.UNDELIVERED, _M.PENDING}),
    _M.DELIVERED: frozenset(),
    _M.SKIPPED: frozenset(),
    _M.CANCELLED: frozenset(),
}


def can_move_message(current: MessageStatus, target: MessageStatus) -> bool:
    return target in MESSAGE_TRANSITIONS[current]
