"""When people answer: the answer rate per contact-local hour of the week, learned from
attempts, and the most promising moment for a retry.

Counts are kept at three levels — the tenant, the campaign, the contact — and each level's
rate is smoothed towards the level above (a Beta prior with the level above's rate as its
mean and a fixed strength in pseudo-attempts): an hour with few attempts says little and
stays near its parent, an hour with many speaks for itself. The tenant's own prior is a flat
``PRIOR_RATE``. A retry moves only to an hour the tenant has called often enough
(``MIN_EVIDENCE``): with little history, a retry keeps the policy's delay exactly."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.domain.window import CallingWindow

HOURS_IN_WEEK = 168
PRIOR_RATE = 0.3  # the answer rate assumed before any attempt is counted
TENANT_STRENGTH = 10.0  # pseudo-attempts each level's prior is worth
CAMPAIGN_STRENGTH = 20.0
CONTACT_STRENGTH = 10.0  # one unanswered try is not enough to move a contact's retries
MIN_EVIDENCE = 30  # the tenant's attempts in an hour before a retry may be moved to it
HORIZON = timedelta(hours=24)  # how far past the policy's delay a retry may be moved
MIN_GAIN = 0.15  # a later hour must promise this much more (relative) to be worth the wait
NEAR_BEST = 0.97  # among hours this close to the best, the soonest is taken

Counts = Mapping[int, tuple[int, int]]  # hour of the week -> (attempts, answered)


def hour_of_week(instant: datetime, zone: str) -> int:
    """0 for Monday 00:00–00:59 local time, 167 for Sunday 23:00–23:59."""
    local = instant.astimezone(ZoneInfo(zone))
    return local.weekday() * 24 + local.hour


def smoothed(counts: Counts, prior: Sequence[float], strength: float) -> list[float]:
    """Each hour's posterior mean answer rate under a Beta(strength·p, strength·(1−p)) prior
    whose mean ``p`` is the level above's rate for that hour."""
    rates = []
    for hour in range(HOURS_IN_WEEK):
        attempts, answered = counts.get(hour, (0, 0))
        rates.append((answered + strength * prior[hour]) / (attempts + strength))
    return rates


@dataclass(frozen=True)
class AnswerHistory:
    tenant: Counts
    campaign: Counts
    contact: Counts

    def rates(self) -> list[float]:
        """The contact's answer rate per hour of the week, each level smoothed towards the
        one above it."""
        flat = [PRIOR_RATE] * HOURS_IN_WEEK
        tenant = smoothed(self.tenant, flat, TENANT_STRENGTH)
        campaign = smoothed(self.campaign, tenant, CAMPAIGN_STRENGTH)
        return smoothed(self.contact, campaign, CONTACT_STRENGTH)

    def known_hours(self) -> frozenset[int]:
        """The hours the tenant has tried often enough for their rate to be evidence: a retry
        is never moved to an hour nobody has called in (its rate would be the prior's)."""
        return frozenset(h for h, (n, _) in self.tenant.items() if n >= MIN_EVIDENCE)


def best_moment(
    rates: Sequence[float],
    earliest: datetime,
    window: CallingWindow,
    zones: Sequence[str],
    horizon: timedelta = HORIZON,
    known: Collection[int] | None = None,
) -> datetime | None:
    """The most promising instant to call from ``earliest`` on, within ``horizon``, inside
    the window: the first open instant, unless a later open hour (among the ``known`` hours
    of the week, when given) promises at least ``MIN_GAIN`` more; then the soonest hour nearly
    as good as the best. None when the window never opens."""
    first = window.next_open(earliest, zones)
    if first is None:
        return None
    zone = zones[0]
    later = [
        c
        for c in _hour_starts(first, first + horizon, zone)
        if known is None or hour_of_week(c, zone) in known
    ]
    scored = [
        (c, rates[hour_of_week(c, zone)]) for c in [first, *later] if window.is_open(c, zones)
    ]
    first_rate = rates[hour_of_week(first, zone)]
    best_rate = max(rate for _, rate in scored)
    if best_rate < first_rate * (1 + MIN_GAIN):
        return first
    return next(c for c, rate in scored if rate >= best_rate * NEAR_BEST)


def _hour_starts(after: datetime, until: datetime, zone: str) -> list[datetime]:
    """The instants, after ``after`` and up to ``until``, at which a local hour begins."""
    local = after.astimezone(ZoneInfo(zone))
    start = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = []
    instant = start.astimezone(after.tzinfo)
    while instant <= until:
        starts.append(instant)
        instant += timedelta(hours=1)  # absolute hours: a DST change shifts local labels only
    return starts
