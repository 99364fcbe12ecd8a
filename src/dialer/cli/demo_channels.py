"""`dialer demo --channels`: the demo campaign with an SMS and an email after the call, end to
end against the simulator and its SMTP sink, on a temporary SQLite file. Contacts who do not
answer get a text; those of them with an address get an email ten simulated minutes later; a
few reply STOP. The report counts, from the simulator's side, what each channel received."""

from __future__ import annotations

import dataclasses
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from dialer.adapters.clock import ScaledClock
from dialer.bootstrap import open_runtime
from dialer.cli.display import print_outcomes, progress_view
from dialer.demo import demo_contacts, demo_settings, demo_start
from dialer.domain.channels import Channel, MessageStep
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import CampaignStatus
from dialer.ports import ContactDraft
from dialer.runner import run_to_end, webhook_listener
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import import_drafts
from dialer.settings import Settings, load_settings

READY = "simulator listening on "
SMTP_READY = "smtp sink listening on "
STOP_RATE = 0.05  # of delivered texts, whose recipient replies STOP
STEPS = (
    MessageStep(
        Channel.SMS,
        "Hi {{ name }}, we tried to call you about your appointment. Reply STOP to opt out.",
        when=frozenset({"no_answer", "busy", "unreachable"}),
        sender="12345",  # a short code: 90 texts a second
    ),
    MessageStep(
        Channel.EMAIL,
        "Hello {{ name }},\n\nwe tried to reach you by phone and by text about your appointment.",
        when=frozenset({"no_answer"}),
        sender="Demo Clinic <appointments@clinic.example>",
        subject="We tried to reach you, {{ name }}",
        after=600,
    ),
)


def channels_settings(cap: int, rate: float | None) -> CampaignSettings:
    return dataclasses.replace(demo_settings(cap, rate), name="demo-channels", steps=STEPS)


def channels_contacts(count: int, seed: int) -> list[ContactDraft]:
    """The demo's contacts; three in four have an email address."""
    return [
        dataclasses.replace(c, attributes={"email": f"contact{i + 1}@example.com"}) if i % 4 else c
        for i, c in enumerate(demo_contacts(count, seed))
    ]


@contextmanager
def simulator_with_sink(args: list[str], timeout: float = 20.0) -> Iterator[tuple[str, int]]:
    """``dialer simulator`` with its SMTP sink on free ports: (its base URL, the sink's port)."""
    command = [sys.executable, "-m", "dialer.simulator", "--host", "127.0.0.1", "--port", "0"]
    command += ["--smtp-port", "0", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            url = _line(p, READY, timeout)
            smtp = _line(p, SMTP_READY, timeout)
            yield url, int(smtp.rsplit(":", 1)[1])
        finally:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def _line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else "no answer in time"
    if not line.startswith(prefix):
        errors = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"the simulator did not start: {line.strip()} {errors.strip()}")
    return line.removeprefix(prefix).strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _settings(db: Path, sim_url: str, smtp_port: int, cap: int, listen_port: int) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{db}",
        twilio_api_base=sim_url,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="simulator-token",
        listen=f"127.0.0.1:{listen_port}",
        campaign_max_concurrency=cap,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
    )


async def run_channels_demo(
    console: Console,
    db: Path,
    sim: tuple[str, int],
    options: tuple[int, int, float | None, float, int],
) -> bool:
    count, cap, rate, speed, seed = options
    sim_url, smtp_port = sim
    listen_port = _free_port()
    settings = _settings(db, sim_url, smtp_port, cap, listen_port)
    clock = ScaledClock(demo_start(datetime.now(UTC)), speed)
    async with open_runtime(settings, clock=clock, seed=seed) as runtime:
        campaign = await create_campaign(
            runtime.services, settings.tenant, channels_settings(cap, rate)
        )
        await import_drafts(runtime.services, campaign.id, channels_contacts(count, seed))
        async with (
            httpx.AsyncClient(base_url=sim_url) as client,
            webhook_listener(runtime, "127.0.0.1", listen_port),
        ):
            runtime.services.webhook_base = f"http://127.0.0.1:{listen_port}"
            inbound = f"{runtime.services.webhook_base}/webhooks/twilio/messages/inbound"
            await client.post("/_sim/reset")
            await client.post(
                "/_sim/config", json={"sms_inbound_url": inbound, "sms_stop_rate": STOP_RATE}
            )
            console.print(
                f"[bold]Demo with channels[/]: {count} contacts; call, then an SMS to those who "
                f"did not answer, then an email; simulated time x{speed:g}"
            )
            started = time.monotonic()
            with progress_view(console, clock.now) as view:
                final = await run_to_end(runtime, campaign.id, view.update, view.warn)
            elapsed = time.monotonic() - started
            stats = (await client.get("/_sim/stats")).json()
        async with runtime.store.unit() as uow:
            counts = await uow.messages.counts(campaign.id)
    print_outcomes(console, final)
    _print_messages(console, counts)
    ok = _print_checks(console, stats)
    console.print(f"Finished in {elapsed:.1f} s real; campaign {final.status.value}.")
    return ok and final.status is CampaignStatus.COMPLETED


def _print_messages(console: Console, counts: dict[Any, int]) -> None:
    table = Table(title="Messages, as Dialer recorded them", title_justify="left")
    for column in ("channel", "status", "messages"):
        table.add_column(column)
    for (channel, status), n in sorted(counts.items()):
        table.add_row(str(channel), str(status), str(n))
    console.print(table)


def _print_checks(console: Console, stats: dict[str, Any]) -> bool:
    sms, email = stats["sms"], stats["email"]
    checks = [
        ("texts accepted by the provider", sms["messages_accepted"], ""),
        ("contacts who replied STOP", sms["inbound_sent"], ""),
        ("texts to a number that had replied STOP", sms["sent_to_opted_out"], "== 0"),
        ("the same text twice to one number", sms["duplicates"], "== 0"),
        ("emails received by the SMTP server", email["messages_received"], ""),
        ("the same email twice (Message-ID)", email["duplicates"], "== 0"),
        ("peak concurrency of calls", stats["peak_active"], ""),
    ]
    table = Table(title="Counted by the simulator", title_justify="left")
    for column in ("check", "value", "expected", ""):
        table.add_column(column)
    ok = True
    for name, value, expected in checks:
        good = value == 0 if expected else True
        ok = ok and good
        table.add_row(name, str(value), expected, "[green]ok" if good else "[red]VIOLATED")
    console.print(table)
    return ok
