"""The plan: every figure of the capacity model for one campaign, and its warnings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dialer.domain.capacity.attempts import LeadEndings, expected_attempts, lead_endings
from dialer.domain.capacity.completion import Completion, completion
from dialer.domain.capacity.inputs import Ending, PlanInput
from dialer.domain.capacity.steady_state import (
    Throughput,
    campaign_limits,
    hold_times,
    mean_hold,
    throughput,
)


@dataclass(frozen=True)
class Plan:
    inp: PlanInput
    hold_seconds: float
    holds: Mapping[Ending, float]
    throughput: Throughput
    attempts_per_lead: float
    endings: LeadEndings
    completion: Completion
    warnings: tuple[str, ...]

    @property
    def starts_per_minute(self) -> float:
        return self.throughput.starts_per_second * 60

    @property
    def total_attempts(self) -> float:
        return self.attempts_per_lead * self.inp.contacts


def make_plan(inp: PlanInput, *, number_max_attempts: int | None = None) -> Plan:
    """The whole plan; ``number_max_attempts`` (the frequency cap per number) only warns."""
    holds = hold_times(inp.times, inp.campaign)
    hold = mean_hold(inp.mix, holds)
    flow = throughput((*campaign_limits(inp.campaign), *inp.limits), hold)
    done = completion(inp, flow.starts_per_second, holds)
    return Plan(
        inp=inp,
        hold_seconds=hold,
        holds=holds,
        throughput=flow,
        attempts_per_lead=expected_attempts(inp.campaign.retry, inp.mix),
        endings=lead_endings(inp.campaign.retry, inp.mix),
        completion=done,
        warnings=tuple(_warnings(inp, done, number_max_attempts)),
    )


def _warnings(inp: PlanInput, done: Completion, number_max_attempts: int | None) -> Iterator[str]:
    campaign = inp.campaign
    if number_max_attempts is not None and campaign.retry.max_attempts > number_max_attempts:
        yield (
            f"retry.max_attempts ({campaign.retry.max_attempts}) is above the frequency cap of "
            f"{number_max_attempts} attempts per number: later attempts wait for the cap's "
            "window, which the completion time does not include"
        )
    if campaign.end_at is not None and done.finish > campaign.end_at:
        yield (
            f"the expected finish ({done.finish:%Y-%m-%d %H:%M} UTC) is after end_at "
            f"({campaign.end_at:%Y-%m-%d %H:%M} UTC): leads still waiting then are skipped"
        )
