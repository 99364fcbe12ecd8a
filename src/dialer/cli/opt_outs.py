"""``dialer dnc … --channel sms|email``: the tenant's per-channel opt-out lists, beside the
do-not-call lists (which every channel obeys as well)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialer.bootstrap import open_store
from dialer.cli.common import run_command
from dialer.domain.channels import Channel
from dialer.domain.phone import mask
from dialer.ports.message_store import OptOut
from dialer.services import opt_outs
from dialer.settings import load_settings

OPERATOR_REASON = "listed by an operator"


class ListChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


ChannelOption = Annotated[
    ListChannel | None,
    typer.Option(
        "--channel",
        case_sensitive=False,
        help="A channel's opt-out list (sms: numbers; email: addresses) instead of the "
        "do-not-call list, which applies to every channel.",
    ),
]


def _rows(addresses: list[str]) -> list[tuple[str, str]]:
    return [(f"argument {i}", a) for i, a in enumerate(addresses, 1)]


def add(console: Console, channel: ListChannel, addresses: list[str], reason: str | None) -> None:
    async def go() -> tuple[int, int]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await opt_outs.add(
                store,
                settings.tenant,
                Channel(channel),
                _rows(addresses),
                reason or OPERATOR_REASON,
                datetime.now(UTC),
            )

    added, already = run_command(go())
    console.print(f"{added} opted out of {channel}, {already} already were.")


def remove(console: Console, channel: ListChannel, addresses: list[str]) -> None:
    async def go() -> tuple[int, int]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await opt_outs.remove(store, settings.tenant, Channel(channel), _rows(addresses))

    removed, missing = run_command(go())
    console.print(f"{removed} removed, {missing} were not opted out of {channel}.")


def show(console: Console, channel: ListChannel, limit: int) -> None:
    """The list, numbers and addresses masked like the do-not-call list's numbers."""

    async def go() -> list[OptOut]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await opt_outs.page(store, settings.tenant, Channel(channel), 0, limit)

    table = Table(title=f"Opted out of {channel}")
    for column in ("address", "reason", "added (UTC)"):
        table.add_column(column)
    for entry in run_command(go()):
        table.add_row(masked(entry), entry.reason or "", f"{entry.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


def masked(entry: OptOut) -> str:
    """'+1415*****23'; 'a***@example.com' (the domain shows, the mailbox does not)."""
    if entry.channel is Channel.SMS:
        return mask(entry.address)
    local, _, domain = entry.address.rpartition("@")
    return f"{local[:1]}***@{domain}"
