"""The telephony port: create, look up and hang up calls; provider events; the provider guard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from dialer.domain.breaker import BreakerSnapshot
from dialer.domain.machines import AnsweredBy, Voicemail
from dialer.domain.statuses import CallProgress


@dataclass(frozen=True)
class CallRequest:
    attempt_id: int
    to: str
    from_: str
    status_callback_url: str
    ring_timeout: int
    time_limit: int
    answer_url: str | None = None  # where the provider fetches call instructions (TwiML...)
    # answering-machine detection: "detect" or "detect_end" (DetectionMode's values), reported
    # asynchronously to the status callback URL; None: no detection
    machine_detection: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """A status change reported by the provider, in provider-neutral words.

    A report of answering-machine detection alone (Twilio's async AMD callback, Plivo's
    machine detection, Telnyx's ``call.machine.*``) is an event too: the call is ``ANSWERED``
    and ``answered_by`` says by whom; ``greeting_ended`` when a machine's greeting is over (the
    beep), the moment a voicemail can be left."""

    provider_call_id: str
    progress: CallProgress
    occurred_at: datetime | None = None
    sequence: int | None = None
    duration: int | None = None  # seconds of conversation, on the ending event
    hangup_cause: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)
    answered_by: AnsweredBy | None = None  # human / machine / fax / unknown, when detected
    greeting_ended: bool = False

    @property
    def dedupe_key(self) -> str:
        """Identifies one report of one status change: a repeated delivery has the same key.
        Who answered is part of it: a detection report is another report than the answer."""
        key = f"{self.progress}:{self.sequence if self.sequence is not None else '-'}"
        if self.answered_by is not None:
            key += f":{self.answered_by}{'-end' if self.greeting_ended else ''}"
        return key


@dataclass(frozen=True)
class CallPrice:
    """What the provider charged for one call, as it reported it: never negative (Twilio's
    minus sign, a debit, is the adapter's business), in its currency (ISO 4217)."""

    amount: Decimal
    currency: str


class Telephony(Protocol):
    name: str

    async def create_call(self, request: CallRequest) -> str:
        """Start a call; return the provider's call id. Raises ProviderRejected,
        ProviderThrottled, ProviderUnavailable (not created) or ProviderOutcomeUnknown."""
        ...

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        """The call's current state, as an event (used to resolve lost callbacks)."""
        ...

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        """The id of a call this request created, if the provider has one (To, From, start
        time at or after ``since``): resolves a create whose answer was lost."""
        ...

    async def hang_up(self, provider_call_id: str) -> None: ...

    # Whether ``call_price`` can report a price: the provider-price pass asks no other.
    reports_prices: bool

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        """What the provider charged for the call, once it has priced it; None until then,
        and always where ``reports_prices`` is False (see each adapter)."""
        ...

    # Whether ``leave_voicemail`` works with this provider (a campaign's voicemail needs it).
    leaves_voicemail: bool

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        """Play or speak ``voicemail`` on the live call, then hang up. A call that has already
        ended is not an error. Raises ProviderRejected where the provider cannot."""
        ...

    async def aclose(self) -> None: ...


class CreateOutcome(StrEnum):
    """What one sent create tells the provider guard (see services/provider_guard.py)."""

    ACCEPTED = "accepted"  # breaker: success; pacing: one step up per second
    REJECTED = "rejected"  # breaker: success (the provider is up); pacing: nothing
    THROTTLED = "throttled"  # breaker: success; pacing: multiplicative decrease
    FAILED = "failed"  # breaker: failure; pacing: nothing


@dataclass(frozen=True)
class GuardView:
    """A provider guard's state as of its latest operation."""

    breaker: BreakerSnapshot
    rate: float  # starts per second the pacing allows
    ceiling: float
    decreases: int


class GuardBackend(Protocol):
    """One provider account's circuit breaker and adaptive pacing: in this process, or shared
    by every process through Redis. Each operation is atomic."""

    async def room(self) -> int:
        """How many calls may start now (breaker and pacing together)."""
        ...

    async def started(self, count: int) -> None:
        """``count`` calls were handed to the senders: they spend the pacing's tokens."""
        ...

    async def try_start(self) -> bool:
        """Permission for one create: always while closed, one probe while half-open."""
        ...

    async def abandon(self) -> None:
        """A create permitted by ``try_start`` was never sent: its probe is free again."""
        ...

    async def record(self, outcome: CreateOutcome) -> None: ...

    def view(self) -> GuardView: ...

    async def aclose(self) -> None: ...


class WebhookVerifier(Protocol):
    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool: ...
