"""What the operator sees: a live view while a campaign runs, and the report at its end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dialer.domain.figures import CHANNEL_WORDS, ChannelFigures
from dialer.domain.statuses import AttemptStatus, LeadStatus, MessageStatus
from dialer.services.progress import Progress as CampaignProgress

LEAD_ORDER = list(LeadStatus)
ATTEMPT_ORDER = list(AttemptStatus)
MESSAGE_ORDER = list(MessageStatus)
PLAIN_PROGRESS_SECONDS = 10.0  # without a terminal: one progress line this often
MOST_WAITING_LINES = 6  # the live view's waiting reasons, soonest first


class ProgressView(Protocol):
    """What ``dialer run`` feeds while the campaign runs."""

    def __enter__(self) -> ProgressView: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def update(self, progress: CampaignProgress) -> None: ...

    def warn(self, message: str | None) -> None: ...


def progress_view(
    console: Console, clock_now: Callable[[], datetime] | None = None
) -> ProgressView:
    """The live view on a terminal; without one (a pipe, a log file, systemd) a plain line
    every ``PLAIN_PROGRESS_SECONDS``, since a live view would print nothing until the end."""
    if console.is_terminal:
        return LiveView(console, clock_now)
    return PlainProgress(console)


def figures_line(progress: CampaignProgress) -> str:
    leads = progress.leads
    return (
        f"{progress.name}: finished {progress.finished_leads}/{progress.total_leads}, "
        f"active {progress.live_calls}/{progress.cap}, "
        f"dialing {leads.get(LeadStatus.DIALING, 0)}, "
        f"pending {leads.get(LeadStatus.PENDING, 0)}, "
        f"waiting retry {leads.get(LeadStatus.WAITING_RETRY, 0)}, "
        f"calls/s {progress.calls_per_second:.1f}"
    )


class PlainProgress:
    """Progress for a log rather than a screen: the figures and the waiting reasons as plain
    lines, at most once per ``every`` seconds, and the last figures at the end."""

    def __init__(self, console: Console, every: float = PLAIN_PROGRESS_SECONDS) -> None:
        self.console = console
        self.every = every
        self._printed_at: float | None = None
        self._last: CampaignProgress | None = None
        self._warning: str | None = None

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._last is not None and self._printed_at is not None:
            self._print(self._last)

    def update(self, progress: CampaignProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if self._printed_at is None or now - self._printed_at >= self.every:
            self._print(progress)

    def warn(self, message: str | None) -> None:
        if message is not None and message != self._warning:
            self.console.print(f"warning: {message}", markup=False, highlight=False)
        self._warning = message

    def _print(self, progress: CampaignProgress) -> None:
        self._printed_at = time.monotonic()
        self.console.print(figures_line(progress), markup=False, highlight=False)
        for line in progress.waiting_lines():
            self.console.print(f"  {line}", markup=False, highlight=False)


class LiveView:
    """A progress bar over finished leads and a line of live figures, refreshed in place,
    with the engine's warning for the operator under them while it holds."""

    def __init__(self, console: Console, clock_now: Callable[[], datetime] | None = None) -> None:
        self.console = console
        self._clock_now = clock_now
        self.peak_live = 0
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("leads finished"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._bar.add_task("campaign", total=None)
        self._figures = Table.grid(padding=(0, 2))
        self._warning: str | None = None
        self._waiting: list[str] = []
        self._live = Live(Group(self._bar, self._figures), console=console, refresh_per_second=8)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, progress: CampaignProgress) -> None:
        self.peak_live = max(self.peak_live, progress.live_calls)
        self._bar.update(
            self._task,
            description=progress.name,
            total=progress.total_leads,
            completed=progress.finished_leads,
        )
        leads = progress.leads
        figures = Table.grid(padding=(0, 2))
        row = [
            f"dialing [bold]{leads.get(LeadStatus.DIALING, 0)}[/]",
            f"active [bold]{progress.live_calls}[/] / cap {progress.cap}",
            f"waiting retry [bold]{leads.get(LeadStatus.WAITING_RETRY, 0)}[/]",
            f"pending [bold]{leads.get(LeadStatus.PENDING, 0)}[/]",
            f"done [bold green]{leads.get(LeadStatus.DONE, 0)}[/]",
            f"calls/s [bold]{progress.calls_per_second:.1f}[/]",
        ]
        if self._clock_now is not None:
            now = self._clock_now()
            row.append(f"clock {now:%a %H:%M} UTC")
        figures.add_row(*row)
        self._figures = figures
        self._waiting = progress.waiting_lines()[:MOST_WAITING_LINES]
        self._render()

    def warn(self, message: str | None) -> None:
        """Show a warning under the figures until it is withdrawn (None)."""
        if message != self._warning:
            self._warning = message
            self._render()

    def _render(self) -> None:
        parts: list[RenderableType] = [self._bar, self._figures]
        parts += [Text(line, style="dim") for line in self._waiting]
        if self._warning is not None:
            parts.append(Text(f"warning: {self._warning}", style="bold yellow"))
        self._live.update(Group(*parts))


def counts_table(title: str, counts: Mapping[str, int], order: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("state")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    total = sum(counts.values()) or 1
    for name in order:
        if counts.get(name):
            table.add_row(name, str(counts[name]), f"{100 * counts[name] / total:.1f}%")
    table.add_row("[bold]total", f"[bold]{sum(counts.values())}", "")
    return table


def print_outcomes(console: Console, progress: CampaignProgress) -> None:
    leads = {s.value: n for s, n in progress.leads.items()}
    attempts = {s.value: n for s, n in progress.attempts.items()}
    console.print(counts_table("Leads", leads, [s.value for s in LEAD_ORDER]))
    console.print(counts_table("Attempts", attempts, [s.value for s in ATTEMPT_ORDER]))
    for channel, figures in progress.channels.items():
        statuses = {s.value: n for s, n in figures.statuses.items()}
        title = f"{channel.value.upper()} messages"
        console.print(counts_table(title, statuses, [s.value for s in MESSAGE_ORDER]))


def channel_summary(figures: ChannelFigures) -> dict[str, object]:
    """One channel's figures as ``dialer status`` prints them (and its --json)."""
    summary: dict[str, object] = dict(figures.words())
    summary["by_status"] = {s.value: n for s, n in figures.statuses.items()}
    return summary


CampaignChannels = tuple[int, str, Mapping[str, Mapping[str, object]]]


def messages_table(campaigns: Iterable[CampaignChannels]) -> Table:
    """Per campaign (id, name, its ``channel_summary`` per channel), per channel: its
    messages (``dialer status``)."""
    table = Table(title="Messages")
    for column in ("id", "campaign", "channel", *CHANNEL_WORDS):
        table.add_column(column, justify="right" if column in CHANNEL_WORDS else "left")
    for campaign_id, name, channels in campaigns:
        for channel, summary in channels.items():
            figures = [str(summary[column]) for column in CHANNEL_WORDS]
            table.add_row(str(campaign_id), name, channel, *figures)
    return table
