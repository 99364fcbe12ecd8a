"""Completion: a fluid run of the campaign through its calling windows and retry delays."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.domain.capacity.attempts import RETRY_RULE_OF, expected_attempts, mean_delay, retried
from dialer.domain.capacity.inputs import Ending, PlanInput
from dialer.domain.capacity.steady_state import mean_hold
from dialer.domain.window import CallingWindow
from dialer.errors import InvalidInput, Problem

HORIZON_DAYS = 400  # a plan that needs longer than this is reported as not finishing
LEFT_OVER_LEADS = 0.5  # the fluid run ends when less than this much of a lead is left
MAX_STEPS = 20_000  # time steps of the fluid run while the window is open (sets its step)


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
