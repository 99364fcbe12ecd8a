"""Capacity planning: how fast a campaign can dial, what limits it, and when it will be done.

Pure arithmetic on the campaign's settings and a few assumptions about the calls (how often they
are answered, how long they ring and talk). The model, in four steps:

1. Hold time. A call holds a concurrency slot from origination to its end: setup, then ringing,
   then talking for an answered call. Its mean over the outcome mix is the mean hold time.
2. Sustainable start rate. Each concurrency cap allows ``cap / hold`` starts per second at
   steady state (Little's law); each start rate allows its own sustained rate (a burst only
   helps for an instant). The smallest of them is the sustainable rate; its limit *binds*.
3. Attempts per lead. An attempt ends answered (the lead is done) or in an outcome the retry
   policy retries, or not. With ``r`` the chance that an attempt is retried, a lead gets
   ``1 + r + r² + … + r^(max_attempts-1)`` attempts on average.
4. Completion. A fluid run of the campaign: leads are grouped by their time zones, each group
   is dialled at the sustainable rate (shared by the groups whose calling window is open) and
   comes back for another attempt after its retry delay. The run ends when less than half a
   lead is left, which places the last retry delays and the window's closed hours on the
   calendar.

Assumptions: outcomes are independent of the attempt number and of the contact; talk time is
exponential (cut at ``max_call_duration``); this campaign is alone under the global and tenant
limits; the engine's own latency (a few milliseconds per call) is left out.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.domain.model import CampaignSettings
from dialer.domain.retry import DelayRule, FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow
from dialer.errors import InvalidInput, Problem

HORIZON_DAYS = 400  # a plan that needs longer than this is reported as not finishing
LEFT_OVER_LEADS = 0.5  # the fluid run ends when less than this much of a lead is left
MAX_STEPS = 20_000  # time steps of the fluid run while the window is open (sets its step)


class Ending(StrEnum):
    """How an attempt ends, as the planner's assumptions describe it."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    DROPPED = "dropped"  # answered, then cut off: retried by the ``disconnected`` rule


RETRY_RULE_OF = {
    Ending.NO_ANSWER: Outcome.NO_ANSWER,
    Ending.BUSY: Outcome.BUSY,
    Ending.FAILED: Outcome.FAILED,
    Ending.DROPPED: Outcome.DISCONNECTED,
}


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


# ------------------------------------------------------------------ hold time


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


# ------------------------------------------------------------------ retries


def mean_delay(rule: DelayRule, retry_number: int) -> float | None:
    """The delay before retry ``retry_number`` (0 for the 2nd attempt), without jitter;
    None when the rule does not retry."""
    if isinstance(rule, FixedDelays):
        if not rule.delays:
            return None
        return float(rule.delays[min(retry_number, len(rule.delays) - 1)])
    return float(min(rule.base * rule.factor**retry_number, rule.maximum))


def retried(policy: RetryPolicy, ending: Ending) -> bool:
    if ending is Ending.ANSWERED:
        return False
    return mean_delay(policy.rule_for(RETRY_RULE_OF[ending]), 0) is not None


def retry_chance(policy: RetryPolicy, mix: OutcomeMix) -> float:
    """The chance that an attempt (not the last one) is followed by another."""
    return sum(chance for ending, chance in mix.chances.items() if retried(policy, ending))


def expected_attempts(policy: RetryPolicy, mix: OutcomeMix) -> float:
    """Mean attempts per lead: 1 + r + ... + r^(max_attempts - 1)."""
    r = retry_chance(policy, mix)
    return sum(r**k for k in range(policy.max_attempts))


@dataclass(frozen=True)
class LeadEndings:
    """The share of leads ending each way: reached (answered), out of attempts, or failed
    (an outcome the policy does not retry)."""

    reached: float
    exhausted: float
    failed: float


def lead_endings(policy: RetryPolicy, mix: OutcomeMix) -> LeadEndings:
    attempts = expected_attempts(policy, mix)
    r = retry_chance(policy, mix)
    reached = mix.answered * attempts
    exhausted = r**policy.max_attempts
    return LeadEndings(reached, exhausted, max(0.0, 1.0 - reached - exhausted))


# ------------------------------------------------------------------ completion


class _OpenSpans:
    """When one zone group's window is open, walked forward in time (seconds after start)."""

    def __init__(self, window: CallingWindow, zones: tuple[str, ...], start: datetime) -> None:
        self.window, self.zones, self.start = window, zones, start
        self.opens, self.closes = -1.0, -1.0  # the span at or after the last instant asked

    def _at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def _advance(self, t: float) -> None:
        if t < self.closes:
            return
        opening = self.window.next_open(self._at(t), self.zones)
        if opening is None:
            self.opens = self.closes = math.inf
            return
        closing = self.window.open_until(opening, self.zones) or opening
        self.opens = (opening - self.start).total_seconds()
        # At least one second, so that a window open for an instant is walked past.
        self.closes = max((closing - self.start).total_seconds(), self.opens + 1.0)

    def is_open(self, t: float) -> bool:
        self._advance(t)
        return self.opens <= t < self.closes

    def next_opening(self, t: float) -> float:
        self._advance(t)
        return max(t, self.opens)

    def open_seconds(self, until: float) -> float:
        """Seconds open between the start and ``until``."""
        total, t = 0.0, 0.0
        while t < until:
            t = self.next_opening(t)
            if t >= until:
                break
            end = min(self.closes, until)
            total += end - t
            t = end
        return total


@dataclass
class _Waiting:
    due_at: float  # when these leads came due (the dispatcher serves the earliest first)
    attempt: int  # the attempt they wait for (0: the first)
    leads: float


@dataclass
class _Group:
    spans: _OpenSpans
    queue: deque[_Waiting] = field(default_factory=deque)  # in due order
    waiting: float = 0.0  # leads in the queue

    def add(self, entry: _Waiting, merge_within: float = 0.0) -> None:
        """Queue leads that came due; ones due within ``merge_within`` of the last entry, for
        the same attempt, join it (fewer, larger entries keep long plans quick)."""
        last = self.queue[-1] if self.queue else None
        if last and last.attempt == entry.attempt and entry.due_at - last.due_at <= merge_within:
            last.leads += entry.leads
        else:
            self.queue.append(entry)
        self.waiting += entry.leads

    def take(self, most: float) -> tuple[int, float]:
        """Up to ``most`` leads from the head of the queue: (their attempt, how many)."""
        head = self.queue[0]
        taken = min(head.leads, most)
        head.leads -= taken
        self.waiting -= taken
        if head.leads <= 1e-12:
            self.queue.popleft()
        return head.attempt, taken


@dataclass(order=True)
class _Return:
    at: float
    group: int = field(compare=False)
    attempt: int = field(compare=False)
    leads: float = field(compare=False)


@dataclass(frozen=True)
class Completion:
    seconds: float  # from the start to the end of the last call
    finish: datetime
    dialing_seconds: float  # attempts / sustainable rate: the time at full rate
    open_hours_per_day: float  # the window's mean daily open hours over the first week


@dataclass
class _FluidRun:
    """The campaign as a fluid: fractions of leads move from waiting to called to waiting
    again (after a retry delay) or finished."""

    inp: PlanInput
    starts_per_second: float
    holds: Mapping[Ending, float]
    step: float
    groups: list[_Group]
    left: float  # leads not finished
    returns: list[_Return] = field(default_factory=list)
    t: float = 0.0

    def run(self) -> float:
        """Seconds from the start until the last lead's last call starts."""
        horizon = HORIZON_DAYS * 86400.0
        last_start = 0.0
        while self.left >= LEFT_OVER_LEADS:
            if self.t > horizon:
                raise InvalidInput(
                    Problem("contacts", f"the campaign would not finish in {HORIZON_DAYS} days")
                )
            self._take_returns()
            open_groups = [
                i for i, g in enumerate(self.groups) if g.waiting > 0 and g.spans.is_open(self.t)
            ]
            if not open_groups:
                self.t = self._next_event()
                continue
            self._dial(open_groups)
            last_start = self.t
            self.t += self.step
        return last_start

    def _take_returns(self) -> None:
        while self.returns and self.returns[0].at <= self.t:
            back = heapq.heappop(self.returns)
            entry = _Waiting(back.at, back.attempt, back.leads)
            self.groups[back.group].add(entry, merge_within=self.step)

    def _next_event(self) -> float:
        """The next instant anything can change: a retry comes due, or a window opens."""
        candidates = [self.returns[0].at] if self.returns else []
        candidates += [g.spans.next_opening(self.t) for g in self.groups if g.waiting > 0]
        following = min(candidates, default=math.inf)
        if math.isinf(following):
            raise InvalidInput(Problem("window", "never opens for some of the contacts' zones"))
        return max(following, self.t + 1e-6)

    def _dial(self, open_groups: list[int]) -> None:
        """One step at the sustainable rate. Like the dispatcher's claim, the leads that came
        due first are called first, across the groups whose window is open."""
        capacity = self.starts_per_second * self.step
        while capacity > 1e-12:
            heads = [
                (self.groups[i].queue[0].due_at, i) for i in open_groups if self.groups[i].queue
            ]
            if not heads:
                return
            index = min(heads)[1]
            attempt, leads = self.groups[index].take(capacity)
            capacity -= leads
            self._called(index, attempt, leads)

    def _called(self, group: int, attempt: int, leads: float) -> None:
        policy = self.inp.campaign.retry
        for ending, chance in self.inp.mix.chances.items():
            delay = None
            if attempt + 1 < policy.max_attempts and retried(policy, ending):
                delay = mean_delay(policy.rule_for(RETRY_RULE_OF[ending]), attempt)
            if delay is None:
                self.left -= leads * chance
            elif chance > 0:
                at = self.t + self.holds[ending] + delay
                heapq.heappush(self.returns, _Return(at, group, attempt + 1, leads * chance))


def _fluid_step(inp: PlanInput, attempts: float, starts_per_second: float) -> float:
    """A time step small enough for the run's precision, large enough to stay quick."""
    dialing = inp.contacts * attempts / starts_per_second
    return max(1.0, dialing / MAX_STEPS)


def completion(
    inp: PlanInput, starts_per_second: float, holds: Mapping[Ending, float]
) -> Completion:
    """When the last call ends, by a fluid run of the campaign from its start."""
    attempts = expected_attempts(inp.campaign.retry, inp.mix)
    start = max(inp.start, inp.campaign.start_at) if inp.campaign.start_at else inp.start
    step = _fluid_step(inp, attempts, starts_per_second)
    fluid = _FluidRun(inp, starts_per_second, holds, step, _groups(inp, start), inp.contacts)
    waited = (start - inp.start).total_seconds()  # until the campaign's start_at
    seconds = waited + fluid.run() + step + mean_hold(inp.mix, holds)
    return Completion(
        seconds=seconds,
        finish=inp.start + timedelta(seconds=seconds),
        dialing_seconds=inp.contacts * attempts / starts_per_second,
        open_hours_per_day=_open_hours_per_day(inp, start),
    )


def _groups(inp: PlanInput, start: datetime) -> list[_Group]:
    """Every zone group with its share of the leads waiting for their first attempt."""
    total = sum(z.share for z in inp.zones)
    groups = []
    for z in inp.zones:
        if z.share > 0:
            group = _Group(_OpenSpans(inp.campaign.window, z.zones, start))
            group.add(_Waiting(0.0, 0, inp.contacts * z.share / total))
            groups.append(group)
    return groups


def _open_hours_per_day(inp: PlanInput, start: datetime) -> float:
    """The window's open hours a day over the first week, averaged over the contacts."""
    week = 7 * 86400.0
    total = sum(z.share for z in inp.zones)
    open_seconds = sum(
        _OpenSpans(inp.campaign.window, z.zones, start).open_seconds(week) * z.share
        for z in inp.zones
    )
    return open_seconds / total / 7 / 3600


# ------------------------------------------------------------------ the plan


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
