"""The ``dialer`` command."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dialer.adapters.clock import ScaledClock
from dialer.adapters.store import migrate as migrations
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.bootstrap import Runtime, open_runtime
from dialer.campaign_document import read_campaign_file
from dialer.cli.cluster_status import print_cluster_status
from dialer.cli.common import CommandGroup, errors, print_problems, run_command
from dialer.cli.demo_channels import run_channels_demo, simulator_with_sink
from dialer.cli.display import channel_summary, messages_table, print_outcomes, progress_view
from dialer.cli.providers import print_provider_health
from dialer.cli.safety import dnc, history, limits, policy
from dialer.cli.simproc import simulator_process
from dialer.demo import demo_contacts, demo_settings, demo_start
from dialer.domain.statuses import TERMINAL_LEAD, CampaignStatus
from dialer.errors import DialerError, InvalidInput, Problem
from dialer.observability.logs import set_verbose
from dialer.observability.setup import start_observability
from dialer.runner import run_to_end, webhook_listener
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import (
    ImportReport,
    check_contacts,
    file_lines,
    import_contacts,
    import_drafts,
)
from dialer.services.progress import Progress, all_progress
from dialer.services.waiting import Waiting
from dialer.settings import Settings, load_settings

app = typer.Typer(
    cls=CommandGroup,
    help="Dialer: outbound call campaigns with exact caps, local calling hours and retries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
CAP_SETTING = "DIALER_CAMPAIGN_MAX_CONCURRENCY"  # how the demo passes its --cap on


@app.callback()
def _observability(ctx: typer.Context) -> None:
    # Every command starts here: structured logs (and traces) before anything else.
    try:
        start_observability(ctx.invoked_subcommand)
    except InvalidInput as exc:
        print_problems(exc)
        raise typer.Exit(2) from exc


def _logging(verbose: bool) -> None:
    set_verbose(verbose)


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(min=1, max=200_000, help="Contacts to call.")] = 2000,
    cap: Annotated[int, typer.Option(min=1, max=10_000, help="Campaign concurrency cap.")] = 50,
    rate: Annotated[float, typer.Option(min=0, help="Calls/s limit (0: none).")] = 20.0,
    speed: Annotated[float, typer.Option(min=1, max=10_000, help="Simulated s per real s.")] = 120,
    seed: Annotated[int, typer.Option(help="Seed for contacts and outcomes.")] = 7,
    database: Annotated[Path | None, typer.Option(help="SQLite file (default: temporary).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    channels: Annotated[
        bool, typer.Option("--channels", help="Follow the calls with an SMS and an email.")
    ] = False,
) -> None:
    """Run a demo campaign end to end against the built-in simulator. No servers needed."""
    _logging(verbose)
    with tempfile.TemporaryDirectory(prefix="dialer-demo-") as tmp:
        db = database or Path(tmp) / "demo.db"
        sim_args = ["--speed", str(speed), "--seed", str(seed), "--cps", "1000"]
        sim_args += ["--talk-mean", "45", "--ring-max", "20"]
        if channels:
            options = (contacts, cap, rate or None, speed, seed)
            with simulator_with_sink(sim_args) as sim:
                ok = run_command(run_channels_demo(console, db, sim, options))
            raise typer.Exit(0 if ok else 1)
        with simulator_process(sim_args) as sim_url:
            ok = run_command(_demo(db, sim_url, contacts, cap, rate or None, speed, seed))
    raise typer.Exit(0 if ok else 1)


def _demo_settings(sim_url: str, db: Path, cap: int) -> Settings:
    """The settings of the demo; a problem with the cap is named as the option it came
    from (``--cap``), not as the setting it is passed through."""
    try:
        return load_settings(
            database_url=f"sqlite:///{db}",
            twilio_api_base=sim_url,
            twilio_account_sid="AC" + "0" * 32,
            twilio_auth_token="simulator-token",
            listen="127.0.0.1:0",
            campaign_max_concurrency=cap,  # the demo's cap is the operator's own --cap
        )
    except InvalidInput as exc:
        raise InvalidInput(
            [Problem("--cap", p.message) if p.location == CAP_SETTING else p for p in exc.problems]
        ) from None


async def _demo(
    db: Path, sim_url: str, count: int, cap: int, rate: float | None, speed: float, seed: int
) -> bool:
    settings = _demo_settings(sim_url, db, cap)
    clock = ScaledClock(demo_start(datetime.now(UTC)), speed)
    async with open_runtime(settings, clock=clock, seed=seed) as runtime:
        campaign = await create_campaign(
            runtime.services, settings.tenant, demo_settings(cap, rate)
        )
        await import_drafts(runtime.services, campaign.id, demo_contacts(count, seed))
        async with httpx.AsyncClient(base_url=sim_url) as sim:
            await sim.post("/_sim/reset")
            console.print(
                f"[bold]Demo[/]: {count} contacts in 7 time zones, cap {cap}, "
                f"simulated time x{speed:g} from {clock.now():%a %d %b %H:%M} UTC"
            )
            started = time.monotonic()
            final = await _run_with_view(runtime, campaign.id, clock)
            elapsed = time.monotonic() - started
            stats = (await sim.get("/_sim/stats")).json()
    return _demo_report(final, stats, elapsed, clock, speed)


async def _run_with_view(runtime: Runtime, campaign_id: int, clock: ScaledClock | None) -> Progress:
    host = runtime.settings.listen_host
    async with webhook_listener(runtime, host, runtime.settings.listen_port) as port:
        if runtime.settings.public_base_url is None:
            runtime.services.webhook_base = f"http://{host}:{port}"
        with progress_view(console, clock.now if clock else None) as view:
            return await run_to_end(runtime, campaign_id, view.update, view.warn)


def _demo_report(
    final: Progress, stats: dict[str, Any], elapsed: float, clock: ScaledClock, speed: float
) -> bool:
    print_outcomes(console, final)
    unfinished = final.total_leads - final.finished_leads
    checks = [
        (
            "peak concurrency seen by the simulator",
            stats["peak_active"],
            f"<= cap {final.cap}",
            stats["peak_active"] <= final.cap,
        ),
        (
            "overlapping calls to one number",
            stats["overlapping_calls_to_same_number"],
            "== 0",
            stats["overlapping_calls_to_same_number"] == 0,
        ),
        (
            "repeated originations of one attempt",
            stats["repeated_originations"],
            "== 0",
            stats["repeated_originations"] == 0,
        ),
        ("leads not in a terminal state", unfinished, "== 0", unfinished == 0),
    ]
    table = Table(title="Invariants, counted by the simulator", title_justify="left")
    for column in ("check", "value", "expected", ""):
        table.add_column(column)
    for name, value, expected, ok in checks:
        table.add_row(name, str(value), expected, "[green]ok" if ok else "[red]VIOLATED")
    console.print(table)
    simulated = elapsed * speed
    console.print(
        f"Calls created at the provider: {stats['calls_created']}; "
        f"finished in {elapsed:.1f} s real ({simulated / 60:.0f} simulated minutes); "
        f"campaign {final.status.value}."
    )
    return all(ok for *_, ok in checks) and final.status is CampaignStatus.COMPLETED


# ---------------------------------------------------------------- run


@app.command()
def run(
    campaign_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    contacts: Annotated[Path, typer.Option(exists=True, dir_okay=False, readable=True)],
    strict: Annotated[
        bool, typer.Option(help="Refuse the whole import if any row is bad.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a campaign file against the configured provider until every lead is finished."""
    _logging(verbose)
    ok = run_command(_run_campaign(campaign_file, contacts, strict))
    raise typer.Exit(0 if ok else 1)


async def _run_campaign(campaign_file: Path, contacts: Path, strict: bool) -> bool:
    settings = load_settings()
    campaign_settings = read_campaign_file(campaign_file)

    def lines() -> Iterator[str]:
        with contacts.open("rb") as file:
            yield from file_lines(file)

    if strict:  # refuse a bad file before anything is created
        check_contacts(
            lines,
            campaign_settings.default_timezone,
            allow_vanity=settings.allow_vanity_numbers,
        )
    async with open_runtime(settings) as runtime:
        campaign = await create_campaign(runtime.services, settings.tenant, campaign_settings)
        report = await import_contacts(runtime.services, campaign.id, lines, strict=strict)
        _print_import(report)
        if report.added == 0:
            errors.print("[bold red]No contacts to call.[/]")
            return False
        final = await _run_with_view(runtime, campaign.id, None)
    print_outcomes(console, final)
    return final.status is CampaignStatus.COMPLETED


def _print_import(report: ImportReport) -> None:
    console.print(
        f"Imported {report.accepted} of {report.rows} rows; {report.added} leads added; "
        f"{report.rejected_count} rejected."
    )
    if report.outside_segment:
        console.print(f"{report.outside_segment} contacts are outside the campaign's segment.")
    for row in report.rejected[:50]:
        errors.print(f"  line {row.line}: {row.reason}", markup=False, highlight=False)
    if report.rejected_count > 50:
        errors.print(f"  … and {report.rejected_count - 50} more")


# ---------------------------------------------------------------- migrate, status


@app.command()
def migrate() -> None:
    """Bring the database (DIALER_DATABASE_URL) to the newest schema."""
    run_command(_migrate(load_settings()))
    console.print("Database is at the newest schema.")


async def _migrate(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Campaigns in the database, with their leads by state and calls live now, and the
    messages of those with SMS or email steps, per channel."""
    rows = run_command(_status(load_settings()))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="Campaigns")
    for column in ("id", "name", "status", "leads", "finished", "live calls", "cap"):
        table.add_column(column)
    for row in rows:
        keys = ("id", "name", "status", "leads", "finished", "live", "cap")
        table.add_row(*(str(row[k]) for k in keys))
    console.print(table)
    with_steps = [(row["id"], row["name"], row["channels"]) for row in rows if row["channels"]]
    if with_steps:
        console.print(messages_table(with_steps))
    _print_waiting(rows)
    print_cluster_status(console)  # processes, capacity
    print_provider_health(console)  # circuit breaker and pacing per provider account


def _print_waiting(rows: list[dict[str, Any]]) -> None:
    """Why each campaign's due leads are not being dialled, under the table."""
    for row in rows:
        if row["waiting"]:
            console.print(f"[bold]{escape(row['name'])}[/] (campaign {row['id']}):")
            for wait in row["waiting"]:
                console.print(f"  {escape(wait['message'])}", highlight=False)


async def _status(settings: Settings) -> list[dict[str, Any]]:
    store = SqlStore(make_engine(settings.database_url))
    try:
        if not await migrations.is_current(store.engine):
            raise DialerError("the database is not at the newest schema: run `dialer migrate`")
        return [_status_row(p) for p in await all_progress(store, datetime.now(UTC))]
    finally:
        await store.close()


def _status_row(progress: Progress) -> dict[str, Any]:
    finished = sum(n for s, n in progress.leads.items() if s in TERMINAL_LEAD)
    return {
        "id": progress.campaign_id,
        "name": progress.name,
        "status": progress.status.value,
        "leads": progress.total_leads,
        "finished": finished,
        "live": progress.live_calls,
        "cap": progress.cap,
        "by_state": {s.value: n for s, n in progress.leads.items()},
        "waiting": [_waiting_row(wait, progress.at) for wait in progress.waiting],
        "channels": {c.value: channel_summary(f) for c, f in progress.channels.items()},
    }


def _waiting_row(wait: Waiting, now: datetime | None) -> dict[str, Any]:
    return {
        "reason": wait.reason.value,
        "leads": wait.leads,
        "until": wait.until.isoformat() if wait.until else None,
        "zone": wait.zone,
        "message": wait.message(now or datetime.now(UTC)),
    }


def _register_more() -> None:
    from dialer.simulator.command import simulator

    app.command(help="Run the telephony provider simulator (Twilio, Plivo or Telnyx).")(simulator)
    app.add_typer(dnc, name="dnc")
    app.command()(history)
    app.command()(policy)
    app.command()(limits)
    from dialer.cli.api import keys, serve  # REST API

    app.command()(serve)
    app.add_typer(keys, name="keys")
    from dialer.cli import cluster  # distributed execution
    from dialer.cli.cluster_status import nodes
    from dialer.cli.cluster_up import up

    app.command()(cluster.dispatcher)
    app.command()(cluster.worker)
    app.command()(cluster.beat)
    app.command()(cluster.webhooks)
    app.command()(nodes)
    app.command()(up)
    app.add_typer(cluster.dlq, name="dlq")
    from dialer.cli.webhook_endpoints import app as webhook_endpoints

    app.add_typer(webhook_endpoints, name="webhook-endpoints")
    from dialer.cli.costs import costs, rate_cards  # rate cards and spend

    app.add_typer(rate_cards, name="rate-cards")
    app.command()(costs)
    from dialer.cli.plan import plan  # capacity planner

    app.command()(plan)


_register_more()
