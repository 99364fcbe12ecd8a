"""The demo: a campaign of a few thousand contacts across several time zones, dialled through
the simulator in simulated time, with no servers and no configuration."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dialer.domain.model import CampaignSettings, Rate
from dialer.domain.phone import InvalidNumber, normalize, zone_key, zones_for
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow, parse_clock
from dialer.ports import ContactDraft


@dataclass(frozen=True)
class Region:
    zone: str
    prefix: str  # country code and area code
    local_digits: int  # digits after the prefix


# Seven zones: five open at the demo's start, one (Los Angeles) opening twenty simulated
# minutes in, and European numbers closing later: the window logic is visible in the run.
REGIONS = (
    Region("America/New_York", "+1212", 7),
    Region("America/Chicago", "+1312", 7),
    Region("America/Denver", "+1303", 7),
    Region("America/Phoenix", "+1602", 7),
    Region("America/Los_Angeles", "+1213", 7),
    Region("Europe/London", "+44207", 7),
    Region("Europe/Paris", "+331", 8),
)


def demo_settings(cap: int, rate: float | None) -> CampaignSettings:
    return CampaignSettings(
        name="demo",
        caller_id="+14155550100",
        max_concurrency=cap,
        rate=Rate(rate, max(1, int(rate * 2))) if rate else None,
        window=CallingWindow.daily(range(7), parse_clock("08:00"), parse_clock("21:00")),
        retry=RetryPolicy(
            max_attempts=3,
            rules={
                Outcome.NO_ANSWER: FixedDelays((600, 1800)),
                Outcome.BUSY: FixedDelays((300,)),
                Outcome.DISCONNECTED: FixedDelays((120,)),
                Outcome.FAILED: FixedDelays(()),
                Outcome.UNKNOWN: FixedDelays((1800,)),
            },
        ),
        ring_timeout=25,
        max_call_duration=300,
    )


def demo_start(today: datetime) -> datetime:
    """The coming Tuesday at 15:40 UTC: mid-morning to late afternoon across the demo zones."""
    days_ahead = (1 - today.weekday()) % 7 or 7
    day = (today + timedelta(days=days_ahead)).date()
    return datetime(day.year, day.month, day.day, 15, 40, tzinfo=UTC)


def _number(region: Region, rng: random.Random) -> str | None:
    first = rng.randint(2, 9)  # local numbers do not start with 0 or 1
    rest = "".join(str(rng.randint(0, 9)) for _ in range(region.local_digits - 1))
    try:
        e164 = normalize(f"{region.prefix}{first}{rest}")
    except InvalidNumber:
        return None
    return e164 if region.zone in zones_for(e164, region.zone) else None


def demo_contacts(count: int, seed: int) -> list[ContactDraft]:
    """``count`` distinct valid numbers spread over the demo regions; every 40th contact has
    a time-zone override (someone whose number is from elsewhere)."""
    rng = random.Random(seed)
    drafts: list[ContactDraft] = []
    seen: set[str] = set()
    while len(drafts) < count:
        region = REGIONS[len(drafts) % len(REGIONS)]
        phone = _number(region, rng)
        if phone is None or phone in seen:
            continue
        seen.add(phone)
        override = "America/Los_Angeles" if len(drafts) % 40 == 39 else None
        zones = (override,) if override else zones_for(phone, region.zone)
        drafts.append(
            ContactDraft(
                phone=phone,
                zone_key=zone_key(zones),
                name=f"Contact {len(drafts) + 1}",
                timezone=override,
                tags=("demo", region.zone.split("/")[0].lower()),
            )
        )
    return drafts
