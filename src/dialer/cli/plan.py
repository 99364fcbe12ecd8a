"""``dialer plan``: how fast a campaign can dial, what limits it, when it will be done; with
``--simulate``, the same campaign run through the real engine and the simulator to compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from dialer.campaign_document import read_campaign_file
from dialer.cli.common import errors, run_command
from dialer.cli.plan_simulation import Simulation, relative_difference, simulate, verdict_line
from dialer.domain.capacity.inputs import RATE_FIELD, CallTimes, OutcomeMix, PlanInput, ZoneShare
from dialer.domain.capacity.plan import Plan, make_plan
from dialer.domain.durations import parse_duration
from dialer.domain.model import CampaignSettings
from dialer.errors import InvalidInput, Problem
from dialer.services.planner import ContactMix, ScopeOptions, contact_mix, deployment_limits
from dialer.settings import Settings, load_settings

console = Console()
# Fields of the planner's input that are command-line options of the same name.
OPTION_FIELDS = frozenset(
    {"contacts", "talk", "ring", "setup", "busy_ring", "drop_after", "zones", "start"}
    | set(RATE_FIELD.values())
)
PositiveInt = Annotated[int | None, typer.Option(min=1)]
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    """The command line, as given (durations and rates still to be checked)."""

    contacts: int | None
    contacts_file: Path | None
    zones: str | None
    start: str | None
    times: dict[str, str]
    rates: dict[str, float | None]
    global_: ScopeOptions
    tenant: ScopeOptions
    provider_cps: float | None


@dataclass(frozen=True)
class SimulationOptions:
    enabled: bool
    leads: int
    speed: float | None
    time_limit: float
    seed: int


def plan(
    campaign_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    contacts: Annotated[int | None, typer.Option(min=1, help="Leads in the campaign.")] = None,
    contacts_file: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="Count leads and zones from a CSV."
        ),
    ] = None,
    zones: Annotated[
        str | None,
        typer.Option(help="Time-zone mix without a file: 'America/New_York=0.6,Europe/Paris=0.4'."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Campaign start, ISO 8601 with offset (default: now).")
    ] = None,
    talk: Annotated[str, typer.Option(help="Mean talk time of an answered call.")] = "90s",
    ring: Annotated[str, typer.Option(help="Mean ring time before an answer.")] = "10s",
    setup: Annotated[str, typer.Option(help="Origination to the first ring.")] = "1s",
    busy_ring: Annotated[str, typer.Option(help="Ring time before a busy signal.")] = "3s",
    drop_after: Annotated[str, typer.Option(help="Talk time of a dropped call.")] = "10s",
    answer_rate: Annotated[float, typer.Option(help="Share of attempts answered.")] = 0.6,
    no_answer_rate: Annotated[
        float | None, typer.Option(help="Share not answered (default: the rest).")
    ] = None,
    busy_rate: Annotated[float, typer.Option(help="Share busy.")] = 0.1,
    failed_rate: Annotated[float, typer.Option(help="Share failed (no ring).")] = 0.05,
    dropped_rate: Annotated[float, typer.Option(help="Share answered, then cut off.")] = 0.0,
    global_cap: PositiveInt = None,
    global_per_second: Annotated[float | None, typer.Option(min=0.001)] = None,
    global_per_minute: PositiveInt = None,
    global_per_hour: PositiveInt = None,
    tenant_cap: PositiveInt = None,
    tenant_per_second: PositiveInt = None,  # whole, as `dialer limits` stores it
    tenant_per_minute: PositiveInt = None,
    tenant_per_hour: PositiveInt = None,
    provider_cps: Annotated[
        float | None, typer.Option(min=0.001, help="Provider calls/s (DIALER_PROVIDER_MAX_CPS).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    simulate_run: Annotated[
        bool, typer.Option("--simulate", help="Also run the real engine against the simulator.")
    ] = False,
    simulate_leads: Annotated[
        int, typer.Option(min=10, max=100_000, help="Most leads simulated.")
    ] = 2000,
    speed: Annotated[
        float | None, typer.Option(min=1, max=1000, help="Simulated s per real s (default: auto).")
    ] = None,
    time_limit: Annotated[
        float, typer.Option(min=5, max=3600, help="Most real seconds the simulation runs.")
    ] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
) -> None:
    """Plan a campaign's capacity: sustainable starts/min, the binding limit, attempts per lead
    and the expected completion time (``--simulate`` checks them against the real engine)."""
    options = Options(
        contacts=contacts,
        contacts_file=contacts_file,
        zones=zones,
        start=start,
        times={
            "talk": talk,
            "ring": ring,
            "setup": setup,
            "busy_ring": busy_ring,
            "drop_after": drop_after,
        },
        rates={
            "answer_rate": answer_rate,
            "no_answer_rate": no_answer_rate,
            "busy_rate": busy_rate,
            "failed_rate": failed_rate,
            "dropped_rate": dropped_rate,
        },
        global_=ScopeOptions(global_cap, global_per_second, global_per_minute, global_per_hour),
        tenant=ScopeOptions(tenant_cap, tenant_per_second, tenant_per_minute, tenant_per_hour),
        provider_cps=provider_cps,
    )
    runs = SimulationOptions(simulate_run, simulate_leads, speed, time_limit, seed)
    result = run_command(_plan(campaign_file, options, runs))
    _print(result, as_json)


@dataclass(frozen=True)
class _Result:
    plan: Plan
    mix: ContactMix | None
    simulation: Simulation | None


async def _plan(campaign_file: Path, options: Options, runs: SimulationOptions) -> _Result:
    settings = load_settings()
    campaign = read_campaign_file(campaign_file)
    inp, mix = _with_option_names(lambda: _input(campaign, options, settings))
    plan = make_plan(inp, number_max_attempts=settings.number_max_attempts)
    simulation = None
    if runs.enabled:
        simulation = await simulate(
            inp,
            settings,
            max_leads=runs.leads,
            speed=runs.speed,
            time_limit=runs.time_limit,
            seed=runs.seed,
            on_progress=_progress,
        )
    return _Result(plan, mix, simulation)


def _progress(line: str) -> None:
    """Progress goes to stderr, so that --json output stays one document on stdout."""
    errors.print(line, markup=False, highlight=False, soft_wrap=True)


def _with_option_names(build: Callable[[], T]) -> T:
    """Build the input; problems with the planner's fields are named by their options."""
    try:
        return build()
    except InvalidInput as exc:
        raise InvalidInput([_named(p) for p in exc.problems]) from exc


def _named(problem: Problem) -> Problem:
    """``answer_rate`` -> ``--answer-rate`` (also inside ``answer_rate + busy_rate``)."""
    parts = [
        f"--{part.replace('_', '-')}" if part in OPTION_FIELDS else part
        for part in problem.location.split(" + ")
    ]
    return Problem(" + ".join(parts), problem.message)


def _input(
    campaign: CampaignSettings, options: Options, settings: Settings
) -> tuple[PlanInput, ContactMix | None]:
    count, zones, mix = _contacts(campaign, options)
    problems: list[Problem] = []
    times = {name: _seconds(name, text, problems) for name, text in options.times.items()}
    start = _start(options.start, problems)
    if problems:
        raise InvalidInput(problems)
    inp = PlanInput(
        campaign=campaign,
        contacts=count,
        mix=_outcome_mix(options.rates),
        times=CallTimes(**times),
        limits=deployment_limits(settings, options.global_, options.tenant, options.provider_cps),
        zones=zones,
        start=start,
    )
    return inp, mix


def _contacts(
    campaign: CampaignSettings, options: Options
) -> tuple[int, tuple[ZoneShare, ...], ContactMix | None]:
    if (options.contacts is None) == (options.contacts_file is None):
        raise InvalidInput(Problem("contacts", "give either --contacts N or --contacts-file"))
    if options.contacts_file is not None:
        mix = _read_contacts(options.contacts_file, campaign)
        return mix.leads, mix.zones, mix
    assert options.contacts is not None
    return options.contacts, _zones(options.zones, campaign.default_timezone), None


def _read_contacts(path: Path, campaign: CampaignSettings) -> ContactMix:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            mix = contact_mix(file, campaign.default_timezone, campaign.tags)
    except InvalidInput as exc:
        raise InvalidInput(
            [Problem(f"--contacts-file {p.location}", p.message) for p in exc.problems]
        ) from exc
    if mix.leads == 0:
        raise InvalidInput(
            Problem("--contacts-file", "no usable contact in the campaign's segment")
        )
    return mix


def _zones(text: str | None, default_zone: str) -> tuple[ZoneShare, ...]:
    if not text:
        return (ZoneShare((default_zone,), 1.0),)
    shares = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        try:
            ZoneInfo(name.strip())
            share = float(weight) if weight else 1.0
        except (ZoneInfoNotFoundError, ValueError) as exc:
            problem = Problem("zones", f"{part!r}: expected ZONE or ZONE=SHARE, a known zone")
            raise InvalidInput(problem) from exc
        if not share > 0:
            raise InvalidInput(Problem("zones", f"{part!r}: the share must be more than 0"))
        shares.append(ZoneShare((name.strip(),), share))
    return tuple(shares)


def _seconds(name: str, text: str, problems: list[Problem]) -> float:
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        problems.append(Problem(name, str(exc)))
        return 0.0


def _start(text: str | None, problems: list[Problem]) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(
            Problem("start", f"expected ISO 8601 like 2026-03-03T09:00-05:00: {text!r}")
        )
        return datetime.now(UTC)
    if moment.tzinfo is None:
        problems.append(Problem("start", "needs an offset, e.g. 2026-03-03T09:00:00-05:00"))
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _outcome_mix(rates: dict[str, float | None]) -> OutcomeMix:
    given = {k: v for k, v in rates.items() if k != "no_answer_rate"}
    no_answer = rates["no_answer_rate"]
    if no_answer is None:  # the rest, to one decimal place of noise
        no_answer = round(1.0 - sum(v or 0.0 for v in given.values()), 9)
        if no_answer < 0:
            raise InvalidInput(
                Problem(
                    "answer_rate + busy_rate + failed_rate + dropped_rate",
                    "add up to more than 1",
                )
            )
    return OutcomeMix(
        answered=given["answer_rate"] or 0.0,
        no_answer=no_answer,
        busy=given["busy_rate"] or 0.0,
        failed=given["failed_rate"] or 0.0,
        dropped=given["dropped_rate"] or 0.0,
    )


# ------------------------------------------------------------------ output


def human(seconds: float) -> str:
    """3725 -> '1h 2m'; 90 -> '1m 30s'; 2 days and more -> '2d 3h'."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def plan_document(plan: Plan) -> dict[str, Any]:
    flow = plan.throughput
    done = plan.completion
    return {
        "campaign": plan.inp.campaign.name,
        "contacts": plan.inp.contacts,
        "zones": {"|".join(z.zones): z.share for z in plan.inp.zones},
        "start": plan.inp.start.isoformat(),
        "mean_hold_seconds": plan.hold_seconds,
        "hold_seconds_by_outcome": {k.value: v for k, v in plan.holds.items()},
        "starts_per_minute": plan.starts_per_minute,
        "calls_in_flight": flow.in_flight,
        "binding_limit": flow.binding.name,
        "limits": [
            {
                "name": u.limit.name,
                "kind": u.limit.kind.value,
                "value": u.limit.value if u.limit.kind == "cap" else u.limit.value * 60,
                "unit": "calls" if u.limit.kind == "cap" else "starts/min",
                "allows_starts_per_minute": u.allows * 60,
                "utilisation": u.utilisation,
            }
            for u in flow.usage
        ],
        "attempts_per_lead": plan.attempts_per_lead,
        "total_attempts": plan.total_attempts,
        "leads": {
            "reached": plan.endings.reached,
            "exhausted": plan.endings.exhausted,
            "failed": plan.endings.failed,
        },
        "dialing_seconds": done.dialing_seconds,
        "completion_seconds": done.seconds,
        "finish": done.finish.isoformat(),
        "window_open_hours_per_day": done.open_hours_per_day,
        "warnings": list(plan.warnings),
    }


def simulation_document(sim: Simulation) -> dict[str, Any]:
    model = sim.model
    compared = {
        "starts_per_minute": (model.starts_per_minute, sim.starts_per_minute),
        "peak_concurrency": (model.throughput.in_flight, float(sim.peak_concurrency)),
        "completion_seconds": (model.completion.seconds, sim.completion_seconds),
        # A run cut by the time limit made only part of its attempts: nothing to compare.
        "attempts": (model.total_attempts, float(sim.attempts) if sim.finished else None),
    }
    return {
        "leads": sim.leads,
        "speed": sim.speed,
        "real_seconds": sim.real_seconds,
        "finished": sim.finished,
        "tolerance": sim.tolerance,
        "verdict": sim.verdict,
        "figures": {
            name: {
                "model": predicted,
                "measured": measured,
                "difference": None
                if measured is None
                else relative_difference(measured, predicted),
            }
            for name, (predicted, measured) in compared.items()
        },
    }


def _print(result: _Result, as_json: bool) -> None:
    if as_json:
        document = plan_document(result.plan)
        if result.mix is not None:
            document["contacts_file"] = {
                "rejected_rows": result.mix.rejected,
                "outside_segment": result.mix.outside_segment,
            }
        if result.simulation is not None:
            document["simulation"] = simulation_document(result.simulation)
        typer.echo(json.dumps(document, indent=2))
        return
    _print_plan(result.plan, result.mix)
    if result.simulation is not None:
        _print_simulation(result.simulation)


def _print_plan(plan: Plan, mix: ContactMix | None) -> None:
    flow, done = plan.throughput, plan.completion
    table = Table(title=f"Capacity plan: {plan.inp.campaign.name}", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("leads", f"{plan.inp.contacts:,}"),
        ("mean hold time per attempt", f"{plan.hold_seconds:.1f} s"),
        ("sustainable starts/min", f"{plan.starts_per_minute:,.1f}"),
        ("calls in flight (steady state)", f"{flow.in_flight:,.1f}"),
        ("binding limit", f"{flow.binding.name} ({flow.binding.describe()})"),
        ("attempts per lead", f"{plan.attempts_per_lead:.3f}"),
        ("total attempts", f"{plan.total_attempts:,.0f}"),
        (
            "leads reached / out of attempts / failed",
            f"{plan.endings.reached:.1%} / {plan.endings.exhausted:.1%} / "
            f"{plan.endings.failed:.1%}",
        ),
        ("dialing time at that rate", human(done.dialing_seconds)),
        ("window open (hours a day, mean)", f"{done.open_hours_per_day:.1f}"),
        ("expected completion", human(done.seconds)),
        ("finish", f"{done.finish:%a %Y-%m-%d %H:%M} UTC"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    _print_limits(plan)
    if mix is not None and (mix.rejected or mix.outside_segment):
        console.print(
            f"Contacts file: {mix.rejected} rows rejected, "
            f"{mix.outside_segment} outside the segment (not counted)."
        )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


def _print_limits(plan: Plan) -> None:
    table = Table(title="Limits", title_justify="left")
    for column in ("limit", "value", "allows starts/min", "used"):
        table.add_column(column, justify="left" if column == "limit" else "right")
    for usage in sorted(plan.throughput.usage, key=lambda u: u.allows):
        binding = usage.limit is plan.throughput.binding
        table.add_row(
            f"[bold]{usage.limit.name} (binding)[/]" if binding else usage.limit.name,
            usage.limit.describe(),
            f"{usage.allows * 60:,.1f}",
            f"{usage.utilisation:.0%}",
        )
    console.print(table)


def _print_simulation(sim: Simulation) -> None:
    title = (
        f"Model against the real engine: {sim.leads:,} leads, x{sim.speed:.3g} simulated time, "
        f"{sim.real_seconds:.0f} s real"
    )
    table = Table(title=title, title_justify="left")
    for column in ("figure", "model", "measured", "difference"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, figures in simulation_document(sim)["figures"].items():
        measured, difference = figures["measured"], figures["difference"]
        table.add_row(
            name.replace("_", " "),
            f"{figures['model']:,.1f}",
            "not finished" if measured is None else f"{measured:,.1f}",
            "" if difference is None else f"{difference:+.1%}",
        )
    console.print(table)
    if not sim.finished:
        console.print(
            "The campaign did not finish within --time-limit; rates are from the part run."
        )
    console.print(verdict_line(sim), highlight=False)
