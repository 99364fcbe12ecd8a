"""Contact safety across campaigns: how often one number may be called, and the quiet period
after a conversation. Evaluated at dial time, per tenant (the tenant is the caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain.window import DEFAULT_END, DEFAULT_START, TimeRange, parse_clock

# Contact-local hours, every day, that calls outside campaigns may use unless the tenant says
# otherwise: the campaigns' default window.
DEFAULT_CALLING_HOURS = (TimeRange(parse_clock(DEFAULT_START), parse_clock(DEFAULT_END)),)


@dataclass(frozen=True)
class NumberPolicy:
    max_attempts: int = 3  # attempts to one number ...
    window: int = 86400  # ... within this rolling window (seconds), across all campaigns
    cooldown: int = 86400  # after a conversation, no campaign calls the number this long
    # Calls placed outside campaigns (POST /v1/calls) are made only in these contact-local
    # hours: the default window of such a call, and the bounds of a window it asks for.
    calling_hours: tuple[TimeRange, ...] = DEFAULT_CALLING_HOURS

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.window < 1 or self.cooldown < 0:
            raise ValueError("max_attempts and window must be positive, cooldown not negative")
        if not self.calling_hours:
            raise ValueError("calling_hours needs at least one range")

    @property
    def lookback(self) -> timedelta:
        return timedelta(seconds=max(self.window, self.cooldown))


@dataclass(frozen=True)
class NumberHistory:
    """What the record says about one number, within the policy's lookback."""

    recent_attempts: tuple[datetime, ...] = ()  # start instants of attempts that were sent
    last_conversation: datetime | None = None  # end of the latest answered call


def blocked_until(policy: NumberPolicy, history: NumberHistory, now: datetime) -> datetime | None:
    """When this number may next be called, or None if it may be called now."""
    waits: list[datetime] = []
    if history.last_conversation is not None:
        quiet_ends = history.last_conversation + timedelta(seconds=policy.cooldown)
        if quiet_ends > now:
            waits.append(quiet_ends)
    window = timedelta(seconds=policy.window)
    in_window = sorted(t for t in history.recent_attempts if t > now - window)
    if len(in_window) >= policy.max_attempts:
        # The cap frees up when enough of the oldest attempts leave the window.
        waits.append(in_window[len(in_window) - policy.max_attempts] + window)
    return max(waits) if waits else None
