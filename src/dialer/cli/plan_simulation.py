"""``dialer plan --simulate``: the real engine run on a synthetic list, to check the model.

``simulate`` wires what ``dialer demo`` wires: a SQLite database in a temporary directory,
the real runtime (dispatcher, admission, pacing, provider guard, webhooks), the simulator on
loopback configured with the plan's outcome mix and call times, and a ``ScaledClock`` that
runs simulated time faster. It stops by itself: when the campaign completes, or after
``time_limit`` real seconds, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import random
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialer.adapters.clock import ScaledClock
from dialer.bootstrap import open_runtime
from dialer.domain.capacity.inputs import PlanInput
from dialer.domain.capacity.plan import Plan, make_plan
from dialer.domain.phone import zone_key
from dialer.ports import ContactDraft
from dialer.runner import run_to_end, webhook_listener
from dialer.services import tenants
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import import_drafts
from dialer.settings import Settings, load_settings
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.observer import Observer
from dialer.simulator.server import running_simulator

SIM_ACCOUNT = "AC" + "5e" * 16
SIM_TOKEN = "planner-simulation"
SIM_TENANT = "planner"
REAL_SECONDS_TARGET = 120.0  # the speed is chosen so that the model's run takes about this long
# ... and at most this share of --time-limit: start-up, the last calls' callbacks and the
# model's own error need the rest.
TIME_LIMIT_SHARE = 0.5
MIN_SIMULATED_LEADS = 50  # fewer leads would leave too few starts to measure a rate
STARTS_TOLERANCE = 0.15  # measured starts/min agree with the model within 15%
MIN_STARTS_FOR_VERDICT = 30  # a rate from fewer starts is noise, not a measurement
PROGRESS_SECONDS = 10.0  # real seconds between progress lines
# The engine's own latency per call (tens of real milliseconds on a loaded machine) counts
# ``speed`` times over in simulated time: keep it to a few per cent of a call's hold time.
SPEED_PER_HOLD_SECOND = 0.5
# Every call of the simulation (the simulator's side too) runs in this one process.
MAX_REAL_STARTS_PER_SECOND = 5.0
MIN_SPEED = 1.0


@dataclass(frozen=True)
class Simulation:
    """What the real engine did with the synthetic list, measured on the provider's side."""

    leads: int
    speed: float
    real_seconds: float
    finished: bool  # the campaign completed before the time limit
    attempts: int  # calls created at the provider
    starts_per_minute: float  # while leads were waiting (first attempts still to make)
    peak_concurrency: int
    completion_seconds: float | None  # start to the end of the last call, simulated
    model: Plan  # the model's figures for the same list
    tolerance: float = STARTS_TOLERANCE
    measured_starts: int = 0  # the starts the rate was measured over (not the fill, not gaps)

    @property
    def verdict(self) -> str:
        """``agrees`` or ``differs`` (measured starts/min against the model, within the
        tolerance), or ``too few starts`` when the run measured too little to judge."""
        if self.measured_starts < MIN_STARTS_FOR_VERDICT:
            return "too few starts"
        difference = relative_difference(self.starts_per_minute, self.model.starts_per_minute)
        return "agrees" if abs(difference) <= self.tolerance else "differs"


class _TimedObserver(Observer):
    """The simulator's observer, noting on the simulated clock when calls start and end."""

    def __init__(self, clock: ScaledClock) -> None:
        super().__init__()
        self.clock = clock
        self.starts: list[float] = []
        self.last_end = 0.0

    def _elapsed(self) -> float:
        return (self.clock.now() - self.clock.start).total_seconds()

    def call_started(
        self, to: str, from_: str, callback_url: str | None, campaign: str | None
    ) -> None:
        super().call_started(to, from_, callback_url, campaign)
        self.starts.append(self._elapsed())

    def call_ended(self, to: str, from_: str, campaign: str | None, status: str) -> None:
        super().call_ended(to, from_, campaign, status)
        self.last_end = self._elapsed()


def simulation_input(inp: PlanInput, max_leads: int) -> PlanInput:
    """The plan's input for the list actually simulated (at most ``max_leads``)."""
    return dataclasses.replace(inp, contacts=min(inp.contacts, max_leads))


def real_seconds_target(time_limit: float) -> float:
    """How long the simulated run should take: well inside the time limit."""
    return min(REAL_SECONDS_TARGET, time_limit * TIME_LIMIT_SHARE)


def fastest_speed(model: Plan) -> float:
    """The most simulated seconds per real second the engine keeps up with in one process."""
    return max(
        MIN_SPEED,
        min(
            model.hold_seconds * SPEED_PER_HOLD_SECOND,
            MAX_REAL_STARTS_PER_SECOND / model.throughput.starts_per_second,
        ),
    )


def choose_speed(model: Plan, requested: float | None, time_limit: float = 300.0) -> float:
    if requested is not None:
        return requested
    wanted = model.completion.seconds / real_seconds_target(time_limit)
    return max(MIN_SPEED, min(fastest_speed(model), wanted))


def fitting_input(inp: PlanInput, max_leads: int, time_limit: float) -> PlanInput:
    """The list to simulate: at most ``max_leads``, and no more than the model says can be
    finished at the fastest speed within the time limit's share, so that the run ends and is
    compared whole rather than cut short."""
    sim_inp = simulation_input(inp, max_leads)
    for _ in range(3):  # completion is nearly proportional to the leads: converges at once
        model = make_plan(sim_inp)
        budget = fastest_speed(model) * real_seconds_target(time_limit)
        if model.completion.seconds <= budget or sim_inp.contacts <= MIN_SIMULATED_LEADS:
            break
        fitting = int(sim_inp.contacts * budget / model.completion.seconds * 0.9)
        sim_inp = dataclasses.replace(sim_inp, contacts=max(MIN_SIMULATED_LEADS, fitting))
    return sim_inp


async def simulate(
    inp: PlanInput,
    settings: Settings,
    *,
    max_leads: int = 2000,
    speed: float | None = None,
    time_limit: float = 300.0,
    seed: int = 7,
    on_progress: Callable[[str], None] | None = None,
) -> Simulation:
    """Run the campaign on a synthetic list of up to ``max_leads`` leads through the real
    engine and the simulator, in simulated time; bounded by ``time_limit`` real seconds.
    Without a ``speed``, the list and the speed are chosen to finish inside the time limit.
    ``on_progress`` hears a line every ``PROGRESS_SECONDS`` while it runs."""
    sim_inp = (
        simulation_input(inp, max_leads) if speed else fitting_input(inp, max_leads, time_limit)
    )
    model = make_plan(sim_inp)
    chosen = choose_speed(model, speed, time_limit)
    clock = ScaledClock(sim_inp.start, chosen)
    observer = _TimedObserver(clock)
    config = simulator_config(sim_inp, chosen, seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dialer-plan-") as tmp:
        async with running_simulator(config, observer=observer) as sim_url:
            engine_settings = _engine_settings(settings, Path(tmp) / "plan.db", sim_url, sim_inp)
            reporting = _report_progress(observer, sim_inp.contacts, time_limit, on_progress)
            async with _in_background(reporting):
                finished = await _run(sim_inp, engine_settings, clock, time_limit, seed)
    return Simulation(
        leads=sim_inp.contacts,
        speed=chosen,
        real_seconds=time.monotonic() - began,
        finished=finished,
        attempts=len(observer.starts),
        starts_per_minute=saturated_rate(observer.starts, sim_inp.contacts, model.hold_seconds)
        * 60,
        measured_starts=measured_starts(observer.starts, sim_inp.contacts, model.hold_seconds),
        peak_concurrency=observer.peak_active,
        completion_seconds=observer.last_end if finished else None,
        model=model,
    )


async def _report_progress(
    observer: _TimedObserver,
    leads: int,
    time_limit: float,
    on_progress: Callable[[str], None] | None,
) -> None:
    began = time.monotonic()
    while on_progress is not None:
        await asyncio.sleep(PROGRESS_SECONDS)
        on_progress(
            f"simulating: {len(observer.starts):,} calls started for {leads:,} leads, "
            f"{observer.active_now} live; {time.monotonic() - began:.0f} s of at most "
            f"{time_limit:.0f} s"
        )


@contextlib.asynccontextmanager
async def _in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def simulator_config(inp: PlanInput, speed: float, seed: int) -> SimulatorConfig:
    """The simulator answering like the plan assumes: its outcome mix and call times."""
    mix = inp.mix
    times = inp.times
    return SimulatorConfig(
        account_sid=SIM_ACCOUNT,
        auth_token=SIM_TOKEN,
        speed=speed,
        cps=100_000.0,  # the provider limit under test is our own pacing ceiling
        outcome_mix={
            Outcome.ANSWER: mix.answered,
            Outcome.NO_ANSWER: mix.no_answer,
            Outcome.BUSY: mix.busy,
            Outcome.FAILED: mix.failed,
            Outcome.DROPPED: mix.dropped,
        },
        setup_time=times.setup / 2,  # the simulator spends it twice: initiated, then ringing
        ring_min=times.ring,
        ring_max=times.ring,
        busy_ring=times.busy_ring,
        talk_mean=times.talk,
        drop_after_max=max(1.0, 2 * times.drop_after - 1),  # uniform [1, max]: this mean
        callback_connections=256,
        seed=seed,
    )


def _engine_settings(settings: Settings, database: Path, sim_url: str, inp: PlanInput) -> Settings:
    """The embedded engine against the simulator, under the plan's global limits."""
    found = _limit_values(inp)
    global_cap = int(found["global cap"])
    return load_settings(
        database_url=f"sqlite:///{database}",
        redis_url=None,
        broker_url=None,
        provider="twilio",
        twilio_api_base=sim_url,
        twilio_account_sid=SIM_ACCOUNT,
        twilio_auth_token=SIM_TOKEN,
        public_base_url=None,
        listen="127.0.0.1:0",
        tenant=SIM_TENANT,
        tick_seconds=0.01,
        global_max_concurrency=global_cap,
        campaign_max_concurrency=global_cap,
        global_rate_per_second=found.get("global rate per second"),
        global_rate_per_minute=_whole(_per(found, "global rate per minute", 60)),
        global_rate_per_hour=_whole(_per(found, "global rate per hour", 3600)),
        provider_max_cps=found["provider CPS"],
        provider_min_cps=min(settings.provider_min_cps, found["provider CPS"]),
        number_max_attempts=settings.number_max_attempts,
        number_window_seconds=settings.number_window_seconds,
    )


def _limit_values(inp: PlanInput) -> dict[str, float]:
    return {limit.name: limit.value for limit in inp.limits}


def _per(found: dict[str, float], name: str, seconds: int) -> float | None:
    """A rate stored per second, as calls per ``seconds``."""
    value = found.get(name)
    return None if value is None else value * seconds


async def _run(
    inp: PlanInput, settings: Settings, clock: ScaledClock, time_limit: float, seed: int
) -> bool:
    async with (
        open_runtime(settings, clock=clock, seed=seed) as runtime,
        webhook_listener(runtime, "127.0.0.1", 0) as port,
    ):
        runtime.services.webhook_base = f"http://127.0.0.1:{port}"
        await tenants.set_limits(runtime.store, SIM_TENANT, _tenant_changes(inp))
        campaign = await create_campaign(runtime.services, SIM_TENANT, inp.campaign)
        await import_drafts(runtime.services, campaign.id, synthetic_contacts(inp, seed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run_to_end(runtime, campaign.id), time_limit)
            return True
    return False


def _tenant_changes(inp: PlanInput) -> dict[str, int | None]:
    """The tenant limits of the plan, as ``dialer limits`` would store them."""
    found = _limit_values(inp)
    return {
        "max_concurrency": _whole(found.get("tenant cap")),
        "rate_per_second": _whole(found.get("tenant rate per second")),
        "rate_per_minute": _whole(_per(found, "tenant rate per minute", 60)),
        "rate_per_hour": _whole(_per(found, "tenant rate per hour", 3600)),
    }


def _whole(value: float | None) -> int | None:
    return None if value is None else max(1, round(value))


def synthetic_contacts(inp: PlanInput, seed: int) -> list[ContactDraft]:
    """``inp.contacts`` distinct numbers spread over the plan's zone groups by their shares."""
    total = sum(z.share for z in inp.zones)
    weights = [z.share / total for z in inp.zones]
    keys = [zone_key(z.zones) for z in inp.zones]
    rng = random.Random(seed)
    tags = inp.campaign.tags[:1] or ("planner",)  # inside the campaign's segment, if any
    assigned = _spread(keys, weights, inp.contacts, rng)
    return [
        ContactDraft(f"+1212{2_000_000 + i:07d}", key, tags=tags) for i, key in enumerate(assigned)
    ]


def _spread(keys: list[str], weights: list[float], count: int, rng: random.Random) -> list[str]:
    """``count`` keys in their shares (largest remainders), in random order."""
    exact = [w * count for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(keys)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: count - sum(counts)]:
        counts[i] += 1
    spread = [key for key, n in zip(keys, counts, strict=True) for _ in range(n)]
    rng.shuffle(spread)
    return spread


def saturated_rate(starts: Sequence[float], leads: int, hold: float) -> float:
    """Starts per second while leads were still waiting for their first attempt.

    Until ``leads`` calls have started, some first attempts are still waiting, so the engine
    is dialling as fast as its limits allow. The first ``hold`` seconds (the cap filling up) are
    left out, and so are gaps longer than a few hold times (the window closed)."""
    busy = _busy_gaps(starts, leads, hold)
    return len(busy) / sum(busy) if sum(busy) > 0 else 0.0


def measured_starts(starts: Sequence[float], leads: int, hold: float) -> int:
    """How many starts ``saturated_rate`` measured over: what a verdict can rest on."""
    return len(_busy_gaps(starts, leads, hold))


def _busy_gaps(starts: Sequence[float], leads: int, hold: float) -> list[float]:
    """The gaps between starts that the saturated rate is measured over."""
    if not starts:
        return []
    ordered = sorted(starts)[: max(2, int(leads * 0.9))]
    warm = [t for t in ordered if t >= ordered[0] + hold] or ordered
    return [gap for gap in _gaps(warm) if gap <= max(3 * hold, 60.0)]


def _gaps(times: Sequence[float]) -> Iterator[float]:
    return (later - earlier for earlier, later in itertools.pairwise(times))


def relative_difference(measured: float, predicted: float) -> float:
    return (measured - predicted) / predicted if predicted else float("nan")


def verdict_line(sim: Simulation) -> str:
    """The verdict as a line for the operator: agrees, no verdict and why, or differs, by
    how much and what to try."""
    judged = f"starts per minute against the model, tolerance ±{sim.tolerance:.0%}"
    if sim.verdict == "too few starts":
        return f"{judged}: no verdict, only {sim.attempts} calls started (too few to measure)"
    if sim.verdict == "agrees":
        return f"{judged}: agrees"
    model = sim.model.starts_per_minute
    difference = relative_difference(sim.starts_per_minute, model)
    measured = f"{sim.starts_per_minute:,.1f} measured against {model:,.1f} ({difference:+.1%})"
    if difference < 0:
        why = (
            f"slower than the model: the engine's own time per call weighs more at x{sim.speed:g} "
            "simulated time (a lower --speed shrinks it), or the machine is busy"
        )
    else:
        why = (
            "faster than the model: the simulated calls were shorter than the model assumes "
            "(check --talk, --ring and the outcome rates against the campaign's)"
        )
    return f"{judged}: differs, {measured}; {why}"
