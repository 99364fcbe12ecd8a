"""The waiting reasons where the operator reads them: ``dialer status`` (table and JSON), and
``dialer run`` without a terminal, which prints plain progress lines instead of a live view
that would show nothing until the end."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dialer.cli.display import LiveView, PlainProgress, progress_view
from dialer.cli.main import app
from dialer.domain.statuses import CampaignStatus, LeadStatus
from dialer.services.progress import Progress
from dialer.services.waiting import Reason, Waiting
from tests.support.clock import T0
from tests.support.engine import EngineFactory, contacts, settings


def _progress(**changes: object) -> Progress:
    values: dict[str, object] = {
        "campaign_id": 1,
        "name": "spring",
        "status": CampaignStatus.RUNNING,
        "cap": 25,
        "leads": {LeadStatus.PENDING: 20},
        "attempts": {},
        "live_calls": 0,
        "calls_per_second": 0.0,
        "waiting": (Waiting(Reason.FREQUENCY_CAP, 20, T0 + timedelta(hours=2)),),
        "at": T0,
    }
    return Progress(**{**values, **changes})  # type: ignore[arg-type]


def _plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_without_a_terminal_run_prints_plain_progress_lines_with_the_reasons() -> None:
    console, out = _plain_console()
    view = progress_view(console)
    assert isinstance(view, PlainProgress)
    with view:
        view.update(_progress())
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "spring: finished 0/20, active 0/25, dialing 0, pending 20, waiting retry 0, calls/s 0.0"
    )
    assert lines[1] == "  20 leads wait on the frequency cap / cool-down until 17:00 UTC (in 2 h)"


def test_plain_progress_is_printed_at_most_once_per_period() -> None:
    console, out = _plain_console()
    with PlainProgress(console, every=3600) as view:
        for _ in range(5):
            view.update(_progress(waiting=()))
    assert len(out.getvalue().splitlines()) == 2  # the first update, and the end


def test_on_a_terminal_the_live_view_shows_the_reasons() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    view = progress_view(console)
    assert isinstance(view, LiveView)
    with view:
        view.update(_progress())
    assert "20 leads wait on the frequency cap / cool-down until 17:00 UTC" in out.getvalue()


async def test_status_shows_why_leads_wait(
    engine: EngineFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine() as e:
        await e.campaign(settings(name="drafted"), contacts(3))
    monkeypatch.setenv("DIALER_DATABASE_URL", database_url)
    monkeypatch.delenv("DIALER_REDIS_URL", raising=False)
    runner = CliRunner()
    as_json = await asyncio.to_thread(runner.invoke, app, ["status", "--json"])
    table = await asyncio.to_thread(runner.invoke, app, ["status"])
    assert as_json.exit_code == 0, as_json.output
    [row] = json.loads(as_json.stdout)
    assert row["waiting"] == [
        {
            "reason": "paused",
            "leads": 3,
            "until": None,
            "zone": None,
            "message": "3 leads wait — the campaign has not been started",
        }
    ]
    assert "3 leads wait — the campaign has not been started" in table.stdout
