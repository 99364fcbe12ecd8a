"""``dialer rate-cards``: the deployment's prices (load a YAML card as the next version of its
provider's card for its channel, list every version); ``dialer costs``: a tenant's spend
summed per campaign, day and channel. The card format is rate_card_document's; what the
prices mean is in docs/economics.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dialer.adapters.clock import WallClock
from dialer.bootstrap import open_store
from dialer.cli.common import run_command
from dialer.domain.costs import CostChannel, RateCard
from dialer.errors import InvalidInput, Problem
from dialer.ports.cost_store import CostGrouping, CostQuery, CostRow
from dialer.rate_card_document import MAX_FILE_BYTES, card_from_yaml
from dialer.services.costs import Pricing, add_card, cards, rollup
from dialer.settings import load_settings

rate_cards = typer.Typer(
    help="The providers' rate cards: what a call or message costs (every version kept).",
    no_args_is_help=True,
)
console = Console()

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="The tenant's name (default: DIALER_TENANT).")
]
SinceOption = Annotated[
    str | None, typer.Option(metavar="YYYY-MM-DD", help="The first UTC day included.")
]
UntilOption = Annotated[
    str | None, typer.Option(metavar="YYYY-MM-DD", help="The last UTC day included.")
]


def read_card_file(path: Path) -> RateCard:
    """The rate card in ``path``; InvalidInput naming the file when it cannot be read, and
    each bad key when it is not a valid card."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(Problem(str(path), f"cannot be read: {exc.strerror}")) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput(Problem(str(path), f"larger than {MAX_FILE_BYTES >> 20} MiB"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(str(path), f"not UTF-8 text (byte {exc.start + 1})")) from exc
    return card_from_yaml(text)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _utc(when: datetime | None) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if when else ""


@rate_cards.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="The rate card: a YAML file.", show_default=False)],
) -> None:
    """Store a rate card as the next version of its provider's card for its channel.

    It prices what is created from its effective_at on (now, when it gives none)."""

    async def store_card() -> RateCard:
        settings = load_settings()
        card = read_card_file(file)  # a bad file is refused before the database is opened
        async with open_store(settings) as store:
            # This process prices nothing: a fresh Pricing, which add_card only marks stale.
            return await add_card(store, Pricing(), card, WallClock().now())

    stored = run_command(store_card())
    console.print(
        f"Stored {stored.provider} {stored.channel} rate card version {stored.version}: "
        f"{_count(len(stored.prices), 'price')} in {stored.currency}, "
        f"effective from {_utc(stored.effective_at)} UTC.",
        highlight=False,
        soft_wrap=True,  # one line, however narrow the terminal
    )


@rate_cards.command("list")
def list_(
    provider: Annotated[str | None, typer.Option(help="Only this provider's cards.")] = None,
    channel: Annotated[CostChannel | None, typer.Option(help="Only this channel's cards.")] = None,
) -> None:
    """Every version of the rate cards, oldest first."""

    async def read() -> list[RateCard]:
        settings = load_settings()
        async with open_store(settings) as store:
            return await cards(store, provider, channel)

    found = run_command(read())
    table = Table(title="Rate cards")
    for column in ("id", "provider", "channel", "version", "currency", "effective (UTC)"):
        table.add_column(column)
    table.add_column("prices", justify="right")
    for card in found:
        table.add_row(
            str(card.id),
            card.provider,
            card.channel.value,
            str(card.version),
            card.currency,
            _utc(card.effective_at),
            str(len(card.prices)),
        )
    console.print(table)


def _day(option: str, text: str | None, problems: list[Problem]) -> date | None:
    """The day ``text`` names (None: not given, or bad, which adds to ``problems``)."""
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        problems.append(Problem(option, f"expected a UTC day as YYYY-MM-DD, got {text!r}"))
        return None


def _days(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """The first and last days asked for; InvalidInput naming each bad option."""
    problems: list[Problem] = []
    first, last = _day("--since", since, problems), _day("--until", until, problems)
    if first and last and first > last:
        problems.append(Problem("--since", f"{first} is after --until {last}"))
    if problems:
        raise InvalidInput(problems)
    return first, last


def _group_cell(row: CostRow, group: CostGrouping) -> str:
    value = {
        CostGrouping.CAMPAIGN: row.campaign_id,
        CostGrouping.DAY: row.day,
        CostGrouping.CHANNEL: row.channel,
    }[group]
    return "" if value is None else str(value)


def _amount(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def costs(
    tenant: TenantOption = None,
    campaign: Annotated[int | None, typer.Option(min=1, help="Only this campaign's.")] = None,
    by: Annotated[
        list[CostGrouping] | None,
        typer.Option(help="Sum per campaign, day or channel (repeat for more). Default: campaign."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """The tenant's spend, summed per group and currency (days are UTC days)."""
    first, last = _days(since, until)
    groups = tuple(dict.fromkeys(by or [CostGrouping.CAMPAIGN]))

    async def read() -> tuple[str, list[CostRow]]:
        settings = load_settings()
        name = tenant or settings.tenant
        async with open_store(settings) as store:
            async with store.unit() as uow:  # not committed: reading creates no tenant
                tenant_id = await uow.tenants.id_for(name)
            query = CostQuery(tenant_id, groups, campaign, first, last)
            return name, await rollup(store, query)

    name, rows = run_command(read())
    console.print(_costs_table(name, groups, rows))


def _costs_table(tenant: str, groups: tuple[CostGrouping, ...], rows: list[CostRow]) -> Table:
    """One row per group and currency: the group's columns first, then the sums."""
    table = Table(title=f"Costs of tenant {escape(tenant)}")
    for column in (*(group.value for group in groups), "currency"):
        table.add_column(column)
    for column in ("amount", "count", "provider amount"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            *(_group_cell(row, group) for group in groups),
            row.currency,
            _amount(row.amount),
            str(row.count),
            _amount(row.provider_amount),
        )
    return table
