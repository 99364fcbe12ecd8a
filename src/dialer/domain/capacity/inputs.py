"""What a capacity plan is computed from: the campaign, the outcome mix, the call times, the
deployment's limits and the contacts' time zones; each checked when it is made."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dialer.domain.model import CampaignSettings
from dialer.errors import InvalidInput, Problem


class Ending(StrEnum):
    """How an attempt ends, as the planner's assumptions describe it."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    DROPPED = "dropped"  # answered, then cut off: retried by the ``disconnected`` rule


RATE_FIELD = {
    Ending.ANSWERED: "answer_rate",
    Ending.NO_ANSWER: "no_answer_rate",
    Ending.BUSY: "busy_rate",
    Ending.FAILED: "failed_rate",
    Ending.DROPPED: "dropped_rate",
}
RATES_TOGETHER = " + ".join(RATE_FIELD.values())


@dataclass(frozen=True)
class OutcomeMix:
    """The chance of each ending for one attempt; the chances add up to 1."""

    answered: float
    no_answer: float
    busy: float
    failed: float
    dropped: float = 0.0

    def __post_init__(self) -> None:
        problems = [
            Problem(RATE_FIELD[ending], f"must be between 0 and 1, not {chance:g}")
            for ending, chance in self.chances.items()
            if not 0.0 <= chance <= 1.0
        ]
        total = sum(self.chances.values())
        if not problems and not math.isclose(total, 1.0, abs_tol=1e-6):
            problems.append(Problem(RATES_TOGETHER, f"add up to {total:g}, not 1"))
        if problems:
            raise InvalidInput(problems)

    @property
    def chances(self) -> dict[Ending, float]:
        return {
            Ending.ANSWERED: self.answered,
            Ending.NO_ANSWER: self.no_answer,
            Ending.BUSY: self.busy,
            Ending.FAILED: self.failed,
            Ending.DROPPED: self.dropped,
        }


@dataclass(frozen=True)
class CallTimes:
    """Mean durations in seconds, as the provider would measure them."""

    talk: float = 90.0  # an answered call's conversation (exponential, cut at the time limit)
    ring: float = 10.0  # ringing before an answer
    setup: float = 1.0  # origination to the first ring
    busy_ring: float = 3.0  # ringing before a busy signal
    drop_after: float = 10.0  # talk before a dropped call is cut

    def __post_init__(self) -> None:
        problems = [
            Problem(name, f"must be zero or more seconds, not {value:g}")
            for name, value in self.__dict__.items()
            if not value >= 0.0
        ]
        if not problems and self.talk <= 0:
            problems.append(Problem("talk", "must be more than 0 seconds"))
        if problems:
            raise InvalidInput(problems)


class LimitKind(StrEnum):
    CAP = "cap"  # calls live at once
    RATE = "rate"  # call starts per second, sustained


@dataclass(frozen=True)
class Limit:
    """One limit a call start must pass: a concurrency cap or a sustained start rate."""

    name: str
    kind: LimitKind
    value: float  # calls for a cap, starts per second for a rate

    def starts_per_second(self, hold: float) -> float:
        """The start rate this limit allows at steady state (Little's law for a cap)."""
        return self.value / hold if self.kind is LimitKind.CAP else self.value

    def describe(self) -> str:
        if self.kind is LimitKind.CAP:
            return f"{self.value:g} calls"
        return f"{self.value * 60:g} starts/min"


def cap(name: str, calls: int) -> Limit:
    return Limit(name, LimitKind.CAP, float(calls))


def rate(name: str, starts_per_second: float) -> Limit:
    return Limit(name, LimitKind.RATE, starts_per_second)


@dataclass(frozen=True)
class ZoneShare:
    """A group of contacts that share their time zones, and their share of the list."""

    zones: tuple[str, ...]
    share: float


@dataclass(frozen=True)
class PlanInput:
    campaign: CampaignSettings
    contacts: int
    mix: OutcomeMix
    times: CallTimes
    limits: tuple[Limit, ...]  # the deployment's: global, tenant, provider (the campaign's own
    # cap and rates are read from ``campaign``)
    zones: tuple[ZoneShare, ...]
    start: datetime  # when the campaign starts (an aware datetime)

    def __post_init__(self) -> None:
        problems = []
        if self.contacts < 1:
            problems.append(Problem("contacts", f"must be at least 1, not {self.contacts}"))
        if self.times.ring >= self.campaign.ring_timeout:
            problems.append(
                Problem(
                    "ring",
                    f"{self.times.ring:g}s is not shorter than the campaign's ring_timeout "
                    f"({self.campaign.ring_timeout}s): no call would ever be answered",
                )
            )
        if not self.zones or sum(z.share for z in self.zones) <= 0:
            problems.append(Problem("zones", "needs at least one time zone with contacts"))
        if self.start.tzinfo is None:
            problems.append(Problem("start", "needs a time zone, e.g. 2026-03-03T09:00:00-05:00"))
        problems += [
            Problem(limit.name, f"must be more than 0, not {limit.value:g}")
            for limit in self.limits
            if not limit.value > 0
        ]
        if problems:
            raise InvalidInput(problems)
