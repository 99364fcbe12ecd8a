"""Steady state: how long a call holds its slot, and the start rate the limits sustain."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dialer.domain.capacity.inputs import CallTimes, Ending, Limit, OutcomeMix, cap, rate
from dialer.domain.model import CampaignSettings


def mean_talk(talk: float, time_limit: float) -> float:
    """The mean of an exponential talk time cut at the call's time limit."""
    return talk * (1.0 - math.exp(-time_limit / talk))


def hold_times(times: CallTimes, campaign: CampaignSettings) -> dict[Ending, float]:
    """Seconds a call holds its slot, by ending: a no-answer rings until the ring timeout."""
    answered = times.setup + times.ring
    return {
        Ending.ANSWERED: answered + mean_talk(times.talk, campaign.max_call_duration),
        Ending.NO_ANSWER: times.setup + campaign.ring_timeout,
        Ending.BUSY: times.setup + min(times.busy_ring, campaign.ring_timeout),
        Ending.FAILED: times.setup,
        Ending.DROPPED: answered + min(times.drop_after, campaign.max_call_duration),
    }


def mean_hold(mix: OutcomeMix, holds: Mapping[Ending, float]) -> float:
    return sum(chance * holds[ending] for ending, chance in mix.chances.items())


# ------------------------------------------------------------------ limits


def campaign_limits(campaign: CampaignSettings) -> tuple[Limit, ...]:
    """The campaign's own cap and sustained start rates. Its ramp is not one of them: it paces
    only the first ``ramp_up`` seconds after a start, then the cap governs."""
    limits = [cap("campaign cap", campaign.max_concurrency)]
    if campaign.rate is not None:
        limits.append(rate("campaign rate per second", campaign.rate.per_second))
    for name, limit in (
        ("campaign rate per minute", campaign.rate_per_minute),
        ("campaign rate per hour", campaign.rate_per_hour),
    ):
        if limit is not None:
            limits.append(rate(name, limit.per_second))
    return tuple(limits)


@dataclass(frozen=True)
class Usage:
    limit: Limit
    allows: float  # starts per second this limit alone would allow
    utilisation: float  # share of the limit used at the sustainable rate


@dataclass(frozen=True)
class Throughput:
    starts_per_second: float
    binding: Limit
    in_flight: float  # calls live at once at steady state
    usage: tuple[Usage, ...]


def throughput(limits: Sequence[Limit], hold: float) -> Throughput:
    """The sustainable start rate: the smallest any limit allows; that limit binds."""
    allowed = [(limit, limit.starts_per_second(hold)) for limit in limits]
    binding, starts = min(allowed, key=lambda pair: pair[1])
    usage = tuple(Usage(limit, allows, starts / allows) for limit, allows in allowed)
    return Throughput(starts, binding, starts * hold, usage)
