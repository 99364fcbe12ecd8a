"""Commands for contact safety: do-not-call lists (and, with ``--channel``, the per-channel
opt-out lists), the tenant's number policy, history."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialer.bootstrap import number_policy, open_store
from dialer.cli import opt_outs
from dialer.cli.common import run_command
from dialer.cli.opt_outs import ChannelOption, ListChannel
from dialer.domain.phone import mask
from dialer.domain.safety import NumberPolicy
from dialer.domain.window import format_ranges
from dialer.errors import InvalidInput, Problem
from dialer.ports import DoNotCallEntry
from dialer.services import safety, tenants
from dialer.services.safety import GLOBAL_LIST
from dialer.settings import load_settings

dnc = typer.Typer(
    help="Do-not-call lists: numbers never to be dialled nor messaged; with --channel, a "
    "channel's opt-out list (sms numbers, email addresses).",
    no_args_is_help=True,
)
console = Console()

GlobalOption = Annotated[
    bool, typer.Option("--global", help="The global list, obeyed by every tenant.")
]


def _channel_list(channel: ListChannel | None, is_global: bool) -> ListChannel | None:
    """The opt-out list asked for, if any; the global list has none of its own."""
    if channel is not None and is_global:
        raise InvalidInput(Problem("--channel", "opt-out lists are the tenant's: not --global"))
    return channel


@dnc.command("add")
def dnc_add(
    numbers: Annotated[
        list[str], typer.Argument(help="Numbers to list (with --channel email: addresses).")
    ],
    reason: Annotated[str | None, typer.Option(help="Why (kept with the entry).")] = None,
    is_global: GlobalOption = False,
    channel: ChannelOption = None,
) -> None:
    """List numbers; campaigns already running stop dialling and messaging them at once.
    With --channel, opt numbers (sms) or addresses (email) out of that channel only."""
    if (listed := _channel_list(channel, is_global)) is not None:
        opt_outs.add(console, listed, numbers, reason)
        return

    async def add() -> int:
        settings = load_settings()
        rows = [(f"argument {i}", n, reason) for i, n in enumerate(numbers, 1)]
        async with open_store(settings) as store:
            return await safety.add_to_do_not_call(
                store, settings.tenant, rows, is_global=is_global
            )

    added = run_command(add())
    console.print(f"{added} added, {len(numbers) - added} already listed.")


@dnc.command("import")
def dnc_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    is_global: GlobalOption = False,
) -> None:
    """List every number of a CSV file with a 'phone' column (and optionally 'reason')."""
    rows = list(_csv_rows(file))

    async def add() -> int:
        settings = load_settings()
        async with open_store(settings) as store:
            return await safety.add_to_do_not_call(
                store, settings.tenant, rows, is_global=is_global
            )

    added = run_command(add())
    console.print(f"{added} added, {len(rows) - added} already listed.")


def _csv_rows(file: Path) -> Iterator[tuple[str, str, str | None]]:
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "phone" not in reader.fieldnames:
            raise InvalidInput(Problem("line 1", "the header has no 'phone' column"))
        for row in reader:
            yield f"line {reader.line_num}", row["phone"] or "", row.get("reason") or None


@dnc.command("remove")
def dnc_remove(
    numbers: Annotated[
        list[str],
        typer.Argument(help="Numbers to take off the list (with --channel email: addresses)."),
    ],
    is_global: GlobalOption = False,
    channel: ChannelOption = None,
) -> None:
    """Take numbers off the list. Off the global list this is a platform action, which the
    API allows only platform keys; here the machine's operator is the platform. With
    --channel, opt them back in to that channel (the do-not-call lists still apply)."""
    if (listed := _channel_list(channel, is_global)) is not None:
        opt_outs.remove(console, listed, numbers)
        return

    async def remove() -> int:
        settings = load_settings()
        async with open_store(settings) as store:
            return await safety.remove_from_do_not_call(
                store, settings.tenant, numbers, is_global=is_global
            )

    console.print(f"{run_command(remove())} removed.")


@dnc.command("check")
def dnc_check(number: Annotated[str, typer.Argument(help="The number to check.")]) -> None:
    """Exit 0 and say so when the number may not be called (tenant or global list), else 1."""

    async def check() -> bool:
        settings = load_settings()
        async with open_store(settings) as store:
            return await safety.is_listed(store, settings.tenant, number)

    listed = run_command(check())
    console.print("listed: never dialled" if listed else "not listed")
    raise typer.Exit(0 if listed else 1)


@dnc.command("list")
def dnc_list(
    is_global: GlobalOption = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    channel: ChannelOption = None,
) -> None:
    """Show the list (numbers masked), with who listed each number and why: the command
    line acts as the platform, so it reads every tenant's reasons on the global list.
    With --channel, the tenant's opt-outs of that channel."""
    if (listed := _channel_list(channel, is_global)) is not None:
        opt_outs.show(console, listed, limit)
        return

    async def entries() -> list[DoNotCallEntry]:
        settings = load_settings()
        async with open_store(settings) as store, store.unit() as uow:
            owner = GLOBAL_LIST if is_global else await uow.tenants.id_for(settings.tenant)
            return await uow.do_not_call.page(owner, 0, limit)

    table = Table(title="Global do-not-call list" if is_global else "Do-not-call list")
    for column in ("number", "reason", "listed by", "added (UTC)"):
        table.add_column(column)
    for entry in run_command(entries()):
        author = entry.added_by or "platform"
        table.add_row(
            mask(entry.phone), entry.reason or "", author, f"{entry.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)


def history(
    number: Annotated[str, typer.Argument(help="The contact's number.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Every attempt to a number across the tenant's campaigns, newest first."""

    async def load() -> list[safety.HistoryEntry]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await safety.contact_history(store, settings.tenant, number, limit)

    table = Table(title="Contact history")
    for column in ("started (UTC)", "campaign", "attempt", "outcome", "seconds", "cause"):
        table.add_column(column)
    for entry in run_command(load()):
        a = entry.attempt
        started = f"{a.created_at:%Y-%m-%d %H:%M:%S}" if a.created_at else ""
        table.add_row(
            started,
            entry.campaign,
            str(a.number),
            a.status.value,
            str(a.duration or ""),
            a.hangup_cause or "",
        )
    console.print(table)


def policy(
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts to one number per window, all campaigns.")
    ] = None,
    window: Annotated[int | None, typer.Option(help="That rolling window, in seconds.")] = None,
    cooldown: Annotated[
        int | None, typer.Option(help="Seconds no campaign calls a number after a conversation.")
    ] = None,
    calling_hours: Annotated[
        str | None,
        typer.Option(
            help="Contact-local hours, every day, for calls placed through POST /v1/calls "
            "(e.g. 08:00-21:00 or 09:00-12:00;13:00-20:00)."
        ),
    ] = None,
) -> None:
    """Show, or change, the tenant's number policy (frequency cap, cool-down, and the calling
    hours of calls outside campaigns)."""
    changes = {
        key: value
        for key, value in (
            ("number_max_attempts", max_attempts),
            ("number_window_seconds", window),
            ("conversation_cooldown_seconds", cooldown),
            ("calling_hours", calling_hours),
        )
        if value is not None
    }

    async def apply() -> NumberPolicy:
        settings = load_settings()
        async with open_store(settings) as store:
            return await safety.set_policy(store, settings.tenant, changes, number_policy(settings))

    current = run_command(apply())
    console.print(
        f"At most {current.max_attempts} attempts per number per {current.window} s; "
        f"{current.cooldown} s of quiet after a conversation."
    )
    hours = format_ranges(current.calling_hours)
    console.print(f"Calls outside campaigns: {hours} contact-local.", highlight=False)


def limits(
    max_concurrency: Annotated[
        int | None, typer.Option(help="Calls live at once over all the tenant's campaigns.")
    ] = None,
    per_second: Annotated[int | None, typer.Option(help="Call starts per second.")] = None,
    per_minute: Annotated[int | None, typer.Option(help="Call starts per minute.")] = None,
    per_hour: Annotated[int | None, typer.Option(help="Call starts per hour.")] = None,
    sms_per_second: Annotated[
        int | None, typer.Option(help="SMS sent per second over all the tenant's campaigns.")
    ] = None,
    email_per_second: Annotated[
        int | None, typer.Option(help="Emails sent per second over all the tenant's campaigns.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the tenant's own limits.")] = False,
) -> None:
    """Show, or change, the tenant's own cap, start rates and message rates (over all its
    campaigns)."""
    changes: dict[str, int | None] = (
        dict.fromkeys(tenants.LIMIT_KEYS)
        if clear
        else {
            key: value
            for key, value in (
                ("max_concurrency", max_concurrency),
                ("rate_per_second", per_second),
                ("rate_per_minute", per_minute),
                ("rate_per_hour", per_hour),
                ("sms_per_second", sms_per_second),
                ("email_per_second", email_per_second),
            )
            if value is not None
        }
    )

    async def apply() -> dict[str, int | None]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await tenants.save_limits(store, settings.tenant, changes)

    values = run_command(apply())
    current = tenants.limits_from(values)
    cap = current.max_concurrency or "none of its own"
    rates = ", ".join(f"{r.per_second:g}/s (burst {r.burst})" for r in current.rates) or "none"
    console.print(f"Tenant cap: {cap}; start rates: {rates}.")
    sends = [
        f"{channel} {values[f'{channel}_per_second']}/s"
        for channel in ("sms", "email")
        if values[f"{channel}_per_second"] is not None
    ]
    console.print(f"Message rates: {', '.join(sends) or 'none of its own'}.")
