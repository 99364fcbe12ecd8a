"""What the operator sees: a live view while a campaign runs, and the report at its end."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.services.progress import Progress as CampaignProgress

LEAD_ORDER = list(LeadStatus)
ATTEMPT_ORDER = list(AttemptStatus)


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
        self._render()

    def warn(self, message: str | None) -> None:
        """Show a warning under the figures until it is withdrawn (None)."""
        if message != self._warning:
            self._warning = message
            self._render()

    def _render(self) -> None:
        parts: list[RenderableType] = [self._bar, self._figures]
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
