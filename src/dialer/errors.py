"""Errors raised by Dialer's code. Adapters translate driver errors into these;
only the API layer maps them to HTTP status codes."""

from __future__ import annotations

from dataclasses import dataclass


class DialerError(Exception):
    """Base class of every error Dialer raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a field, key path or line) and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InvalidInput(DialerError):
    """Input that cannot be accepted; carries every problem found, each with its location."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class NotFound(DialerError):
    """The thing asked for does not exist (or belongs to another tenant)."""


class Conflict(DialerError):
    """A write lost a race (stale version) or asked for an illegal state change."""


class Unavailable(DialerError):
    """A dependency of ours (the store, admission, the broker) did not answer. Nothing is
    wrong with the request: the caller should try again after ``retry_after`` seconds."""

    retry_after: float = 5.0


class StoreUnavailable(Unavailable):
    """The database did not answer: refused, lost mid-transaction, or no pooled connection
    came free in time. Nothing of the unit of work was committed."""


class TransientStoreError(Unavailable):
    """The database aborted the transaction to resolve a conflict with another one
    (serialization failure, deadlock, a busy SQLite file): run the whole unit again."""

    retry_after = 1.0


class AdmissionUnavailable(Unavailable):
    """Admission (Redis) did not answer (down, unreachable, timed out): nothing was admitted
    for sure; anything an unanswered script took is given back by lease expiry."""


class ProviderError(DialerError):
    """The telephony provider did not accept a request."""


class ProviderRejected(ProviderError):
    """Definitive refusal (bad number, bad credentials): the call was not created."""


class ProviderThrottled(ProviderError):
    """The provider answered 429 (CPS exceeded): the call was not created; slow down."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx or refused connection: the call was not created; try again later."""


class ProviderAuthFailed(ProviderUnavailable):
    """The provider refused our credentials (401/403): no call was created, and none will be
    until an operator fixes them. Attempts are not spent on it."""


class ProviderOutcomeUnknown(ProviderError):
    """The request may have reached the provider (timeout after sending): the call may exist.
    Never re-dial blindly: resolve it from a callback, a lookup or the reaper."""
