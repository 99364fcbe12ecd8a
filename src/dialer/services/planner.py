"""Capacity planning beside the engine: the deployment's limits and the contacts' time zones as
the model wants them (``dialer.domain.capacity`` holds the model itself)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dialer.domain.capacity.inputs import Limit, ZoneShare, cap, rate
from dialer.domain.phone import zones_of_key
from dialer.services.contacts import ContactParser, ImportReport
from dialer.settings import Settings


@dataclass(frozen=True)
class ScopeOptions:
    """A cap and start rates given on the command line; None keeps the configured value."""

    max_concurrency: int | None = None
    per_second: float | None = None
    per_minute: int | None = None
    per_hour: int | None = None


def deployment_limits(
    settings: Settings, global_: ScopeOptions, tenant: ScopeOptions, provider_cps: float | None
) -> tuple[Limit, ...]:
    """The global cap and rates (settings, overridden by options), the tenant's (options
    only: they live in the tenant's database row) and the provider's pacing ceiling."""
    limits = [cap("global cap", global_.max_concurrency or settings.global_max_concurrency)]
    limits += _rates(
        "global",
        global_.per_second or settings.global_rate_per_second,
        global_.per_minute or settings.global_rate_per_minute,
        global_.per_hour or settings.global_rate_per_hour,
    )
    if tenant.max_concurrency is not None:
        limits.append(cap("tenant cap", tenant.max_concurrency))
    limits += _rates("tenant", tenant.per_second, tenant.per_minute, tenant.per_hour)
    limits.append(rate("provider CPS", provider_cps or settings.provider_max_cps))
    return tuple(limits)


def _rates(
    scope: str, per_second: float | None, per_minute: int | None, per_hour: int | None
) -> list[Limit]:
    named: list[tuple[str, float | None, int]] = [
        ("per second", per_second, 1),
        ("per minute", per_minute, 60),
        ("per hour", per_hour, 3600),
    ]
    return [rate(f"{scope} rate {name}", value / period) for name, value, period in named if value]


@dataclass(frozen=True)
class ContactMix:
    """What a contacts file tells the planner: how many leads, in which time zones."""

    leads: int
    zones: tuple[ZoneShare, ...]
    rejected: int
    outside_segment: int


def contact_mix(lines: Iterable[str], default_zone: str, segment: Sequence[str]) -> ContactMix:
    """Count a contacts CSV's good rows in the campaign's segment, by their zone set."""
    report = ImportReport()
    keys: Counter[str] = Counter()
    outside = 0
    for row in ContactParser(default_zone).rows(lines, report):
        if segment and not set(segment) & set(row.draft.tags):
            outside += 1
            continue
        keys[row.draft.zone_key] += 1
    zones = tuple(ZoneShare(zones_of_key(key), n) for key, n in keys.most_common())
    return ContactMix(sum(keys.values()), zones, report.rejected_count, outside)
