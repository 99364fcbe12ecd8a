"""The SMTP sink over real SMTP (Python's smtplib): STARTTLS with its self-signed certificate,
AUTH with the configured credentials, 550 for bouncing recipients, and every message it accepts
recorded with its headers and parts, alone or beside the simulator's HTTP server."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import ssl
import sys
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from dialer.simulator.app import create_app
from dialer.simulator.command import simulator
from dialer.simulator.config import SimulatorConfig, SmtpSinkOptions
from dialer.simulator.server import engine_of, running_app
from dialer.simulator.smtp_sink import SmtpSink, running_smtp_sink

USER, PASSWORD = "dialer", "s3cret"
SECURE = SmtpSinkOptions(starttls=True, username=USER, password=PASSWORD)
SENDER = "news@mail.example.com"


def email(
    to: str = "ann@example.com", message_id: str = "<m-17.s-2@mail.example.com>"
) -> EmailMessage:
    """An email shaped as the dialer sends them: a text and an HTML part, one-click unsubscribe."""
    message = EmailMessage()
    message["From"] = f"Example News <{SENDER}>"
    message["To"] = to
    message["Subject"] = "We missed you"
    message["Message-ID"] = message_id
    message["List-Unsubscribe"] = "<https://dialer.example/u/abc>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Hi Ann, we called.")
    message.add_alternative("<p>Hi Ann, we called.</p>", subtype="html")
    return message


def trusting(sink: SmtpSink) -> ssl.SSLContext:
    """A client context that trusts the sink's certificate, and checks it and its name."""
    assert sink.certificate_pem is not None
    return ssl.create_default_context(cadata=sink.certificate_pem.decode())


def submit(
    sink: SmtpSink,
    message: EmailMessage,
    *,
    password: str = PASSWORD,
    recipients: list[str] | None = None,
) -> dict[str, Any]:
    """STARTTLS, AUTH and one message (blocking: run it in a thread). What the server refused."""
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.starttls(context=trusting(sink))
        client.login(USER, password)
        refused = client.send_message(message, to_addrs=recipients)
    return dict(refused)


async def test_a_message_sent_over_starttls_and_auth_is_recorded_with_its_headers() -> None:
    async with running_smtp_sink(SECURE) as sink:
        refused = await asyncio.to_thread(submit, sink, email())
        async with asyncio.timeout(5):
            [received] = await sink.wait_for(1)
        report = sink.observer.snapshot()["email"]

    assert refused == {}
    assert (received.envelope_from, received.envelope_to) == (SENDER, ("ann@example.com",))
    assert received.message_id == "<m-17.s-2@mail.example.com>"
    assert received.header("Subject") == "We missed you"
    assert received.header("List-Unsubscribe") == "<https://dialer.example/u/abc>"
    assert received.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert received.text == "Hi Ann, we called.\n"
    assert received.html == "<p>Hi Ann, we called.</p>\n"

    assert (report["messages_received"], report["duplicates"], report["auth_failures"]) == (1, 0, 0)
    [listed] = report["messages"]
    assert listed["message_id"] == "<m-17.s-2@mail.example.com>"
    assert listed["envelope_to"] == ["ann@example.com"]
    assert listed["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    assert (listed["text"], listed["html"]) == (received.text, received.html)


async def test_wrong_credentials_are_refused_with_535_and_no_auth_means_no_mail() -> None:
    async with running_smtp_sink(SECURE) as sink:
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            await asyncio.to_thread(submit, sink, email(), password="guess")
        refused = await asyncio.to_thread(_mail_without_auth, sink)
        report = sink.observer.snapshot()["email"]

    assert wrong.value.smtp_code == 535
    assert refused[0] == 530
    # smtplib tries each mechanism offered, PLAIN then LOGIN: two refusals.
    assert (report["auth_failures"], report["messages_received"]) == (2, 0)


def _mail_without_auth(sink: SmtpSink) -> tuple[int, bytes]:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.starttls(context=trusting(sink))
        client.ehlo()
        return client.mail(SENDER)


async def test_auth_is_offered_only_after_starttls() -> None:
    async with running_smtp_sink(SECURE) as sink:
        offered = await asyncio.to_thread(_auth_before_tls, sink)

    assert offered is False


def _auth_before_tls(sink: SmtpSink) -> bool:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        return client.has_extn("auth")


async def test_bouncing_recipients_are_refused_with_550_at_rcpt() -> None:
    async with running_smtp_sink(SECURE) as sink:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as all_refused:
            await asyncio.to_thread(submit, sink, email(to="bounce-7@example.com"))
        some_refused = await asyncio.to_thread(
            submit, sink, email(), recipients=["ann@example.com", "Bounce@example.org"]
        )
        async with asyncio.timeout(5):
            [received] = await sink.wait_for(1)
        report = sink.observer.snapshot()["email"]

    [(code, _)] = all_refused.value.recipients.values()
    assert code == 550
    assert some_refused["Bounce@example.org"][0] == 550
    assert received.envelope_to == ("ann@example.com",)
    assert (report["recipients_refused"], report["messages_received"]) == (2, 1)


async def test_duplicates_by_message_id_and_mail_to_unsubscribed_addresses_are_counted() -> None:
    config = SimulatorConfig(email_unsubscribed=("Gone@Example.com",))
    async with running_smtp_sink(SECURE, config=config) as sink:
        for _ in range(2):
            await asyncio.to_thread(submit, sink, email())
        await asyncio.to_thread(submit, sink, email(to="gone@example.com", message_id="<m-18@x>"))
        async with asyncio.timeout(5):
            await sink.wait_for(3)
        report = sink.observer.snapshot()["email"]

    assert report["messages_received"] == 3
    assert (report["duplicates"], report["duplicate_message_ids"]) == (
        1,
        ["<m-17.s-2@mail.example.com>"],
    )
    assert (report["sent_to_unsubscribed"], report["unsubscribed_recipients"]) == (
        1,
        ["gone@example.com"],
    )


async def test_beside_the_simulator_it_reports_in_sim_stats_and_follows_sim_config() -> None:
    app = create_app(SimulatorConfig())
    plain = SmtpSinkOptions()  # no TLS, no AUTH: an open relay on loopback
    async with (
        running_app(app) as url,
        running_smtp_sink(plain, engine=engine_of(app)) as sink,
        httpx.AsyncClient(base_url=url) as client,
    ):
        changed = await client.post(
            "/_sim/config", json={"email_bounce_patterns": ["*@blocked.example"]}
        )
        refused = await asyncio.to_thread(
            _send_plain, sink.host, sink.port, ["bounce@example.com", "x@blocked.example"]
        )
        stats = (await client.get("/_sim/stats")).json()

    assert changed.status_code == 200
    assert refused == {"x@blocked.example": (550, refused["x@blocked.example"][1])}
    assert stats["email"]["messages_received"] == 1
    assert stats["email"]["recipients_refused"] == 1
    assert stats["email"]["messages"][0]["envelope_to"] == ["bounce@example.com"]
    assert "calls_created" in stats


def _send_plain(host: str, port: int, recipients: list[str]) -> dict[str, Any]:
    with smtplib.SMTP(host, port, timeout=10) as client:
        return dict(client.send_message(email(), to_addrs=recipients))


async def test_the_simulator_command_runs_the_sink_with_smtp_port() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.simulator",
        "--port",
        "0",
        "--smtp-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            http_line = (await process.stdout.readline()).decode()
            smtp_line = (await process.stdout.readline()).decode()
        url = http_line.removeprefix("simulator listening on ").strip()
        host, _, port = (
            smtp_line.removeprefix("smtp sink listening on smtp://").strip().rpartition(":")
        )
        await asyncio.to_thread(_send_plain, host, int(port), ["ann@example.com"])
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{url}/_sim/stats")).json()
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            _, errors = await process.communicate()

    assert http_line.startswith("simulator listening on http://127.0.0.1:")
    assert smtp_line.startswith("smtp sink listening on smtp://127.0.0.1:")
    assert port != "0"
    assert stats["email"]["messages_received"] == 1
    assert process.returncode == 0, errors.decode()


def test_bad_smtp_options_are_reported_with_exit_code_2() -> None:
    app = typer.Typer()
    app.command()(simulator)

    result = CliRunner().invoke(app, ["--smtp-port", "70000", "--smtp-username", "dialer"])

    assert result.exit_code == 2
    assert "smtp_port: must be 0 to 65535" in result.output
    assert "smtp_username: needs a password" in result.output
