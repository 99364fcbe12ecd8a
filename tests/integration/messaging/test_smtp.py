"""SmtpSender against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS, implicit
TLS and AUTH; every translation of a refusal or a failure; the connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dialer.adapters.messaging.email_message import message_row_id
from dialer.adapters.messaging.smtp import SmtpRejected, SmtpSender
from dialer.errors import (
    ProviderAuthFailed,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderUnavailable,
)
from dialer.ports.messaging import EmailRequest, MessageProgress
from tests.integration.messaging.smtp_server import (
    DEFERRED,
    HOST,
    PASSWORD,
    REFUSED,
    SPAMMY,
    USER,
    Certificates,
    SmtpTestServer,
    authenticate,
    running_smtp_server,
    self_signed,
)

CREDENTIALS = f"{USER}:{PASSWORD.replace(':', '%3A').replace('@', '%40')}@"
UNSUBSCRIBE = "https://dialer.example.com/unsubscribe/7/" + "t" * 90  # longer than a line


def email(to: str = "ann@example.com", message_id: int = 7, **changes: Any) -> EmailRequest:
    values: dict[str, Any] = {
        "message_id": message_id,
        "to": to,
        "from_": "Acme Dental <hello@acme.example>",
        "subject": "We missed you",
        "text": "Hi Ann, we tried to call you.",
        "html": "<p>Hi Ann, we tried to call you.</p>",
        "unsubscribe_url": UNSUBSCRIBE,
        "message_domain": "mail.acme.example",
        **changes,
    }
    return EmailRequest(**values)


@contextlib.asynccontextmanager
async def sender(url: str, **options: Any) -> AsyncIterator[SmtpSender]:
    smtp = SmtpSender.from_url(url, **{"timeout": 5.0, **options})
    try:
        yield smtp
    finally:
        await smtp.aclose()


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return self_signed(tmp_path)


@pytest.fixture
async def server() -> AsyncIterator[SmtpTestServer]:
    async with running_smtp_server() as running:
        yield running


# ---------------------------------------------------------------- what arrives


async def test_a_plain_server_receives_the_message_with_every_header(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url()) as smtp:
        accepted = await smtp.send_email(email())

    [received] = server.received
    assert accepted.progress is MessageProgress.SENT
    assert accepted.provider_message_id == received["Message-ID"]
    assert message_row_id(accepted.provider_message_id) == 7
    assert accepted.provider_message_id.endswith("@mail.acme.example>")
    assert received["From"] == "Acme Dental <hello@acme.example>"
    assert received["To"] == "ann@example.com"
    assert received["Subject"] == "We missed you"
    assert received["Date"].datetime is not None
    assert received["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_content_type() == "multipart/alternative"
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "Hi Ann, we tried to call you."
    assert html.get_content().strip() == "<p>Hi Ann, we tried to call you.</p>"


async def test_without_html_the_message_is_text_alone(server: SmtpTestServer) -> None:
    async with sender(server.url()) as smtp:
        await smtp.send_email(email(html=None, text="Hé, ça va ?"))

    [received] = server.received
    assert received.get_content_type() == "text/plain"
    assert received.get_content().strip() == "Hé, ça va ?"


async def test_each_message_gets_its_own_message_id(server: SmtpTestServer) -> None:
    async with sender(server.url()) as smtp:
        first = await smtp.send_email(email(message_id=1))
        again = await smtp.send_email(email(message_id=1))

    assert first.provider_message_id != again.provider_message_id
    assert [m["Message-ID"] for m in server.received] == [
        first.provider_message_id,
        again.provider_message_id,
    ]


# ---------------------------------------------------------------- TLS and AUTH


async def test_starttls_is_used_when_offered_and_auth_runs_over_it(
    certificates: Certificates,
) -> None:
    async with (
        running_smtp_server(
            tls_context=certificates.server, require_starttls=True, authenticator=authenticate
        ) as server,
        sender(server.url(userinfo=CREDENTIALS), tls_context=certificates.client) as smtp,
    ):
        await smtp.send_email(email())

    [session] = server.sessions
    assert session.state().ssl is not None  # the upgrade happened
    assert session.state().authenticated
    assert len(server.received) == 1


async def test_a_wrong_password_is_an_auth_failure(certificates: Certificates) -> None:
    async with (
        running_smtp_server(tls_context=certificates.server, authenticator=authenticate) as server,
        sender(server.url(userinfo=f"{USER}:wrong@"), tls_context=certificates.client) as smtp,
    ):
        with pytest.raises(ProviderAuthFailed, match="535"):
            await smtp.send_email(email())

    assert server.received == []


async def test_a_server_that_wants_auth_we_lack_is_an_auth_failure(
    certificates: Certificates,
) -> None:
    async with (
        running_smtp_server(
            tls_context=certificates.server, authenticator=authenticate, auth_required=True
        ) as server,
        sender(server.url(), tls_context=certificates.client) as smtp,
    ):
        with pytest.raises(ProviderAuthFailed, match="530"):
            await smtp.send_email(email())


async def test_a_certificate_we_do_not_trust_makes_the_server_unavailable(
    certificates: Certificates, tmp_path: Path
) -> None:
    (tmp_path / "stranger").mkdir()
    stranger = self_signed(tmp_path / "stranger")  # another certificate than the server's
    async with (
        running_smtp_server(tls_context=certificates.server) as server,
        sender(server.url(), tls_context=stranger.client) as smtp,
    ):
        with pytest.raises(ProviderUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await smtp.send_email(email())


async def test_smtps_speaks_tls_from_the_first_byte(certificates: Certificates) -> None:
    async with (
        running_smtp_server(
            listener_tls=certificates.server, authenticator=authenticate, auth_require_tls=False
        ) as server,
        sender(server.url("smtps", CREDENTIALS), tls_context=certificates.client) as smtp,
    ):
        await smtp.send_email(email())

    assert len(server.received) == 1
    assert server.sessions[0].state().authenticated


# ---------------------------------------------------------------- refusals and failures


async def test_a_recipient_refused_with_550_is_rejected_with_its_code(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url()) as smtp:
        with pytest.raises(SmtpRejected, match="No such user") as refused:
            await smtp.send_email(email(to=REFUSED))

    assert isinstance(refused.value, ProviderRejected)
    assert refused.value.code == 550


async def test_content_refused_at_data_is_rejected(server: SmtpTestServer) -> None:
    async with sender(server.url()) as smtp:
        with pytest.raises(SmtpRejected) as refused:
            await smtp.send_email(email(subject=SPAMMY))

    assert refused.value.code == 554


async def test_a_451_is_unavailable_not_rejected(server: SmtpTestServer) -> None:
    async with sender(server.url()) as smtp:
        with pytest.raises(ProviderUnavailable, match="451") as deferred:
            await smtp.send_email(email(to=DEFERRED))

    assert not isinstance(deferred.value, ProviderRejected)


async def test_an_address_that_is_no_address_is_rejected_before_connecting(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url()) as smtp:
        with pytest.raises(ProviderRejected, match="not one ASCII email address"):
            await smtp.send_email(email(to="ann at example dot com"))

    assert server.connections == 0


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    async with sender(f"smtp://{HOST}:{port}") as smtp:
        with pytest.raises(ProviderUnavailable, match="failed"):
            await smtp.send_email(email())


async def test_a_server_that_never_greets_is_unavailable() -> None:
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()
        hung_up.set()

    listener = await asyncio.start_server(silent, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with sender(f"smtp://{HOST}:{port}", timeout=0.3) as smtp:
            with pytest.raises(ProviderUnavailable, match="Timed out"):
                await smtp.send_email(email())
        await asyncio.wait_for(hung_up.wait(), 5)  # the client hung up
    finally:
        listener.close()
        await listener.wait_closed()


async def test_no_reply_after_data_is_an_unknown_outcome(server: SmtpTestServer) -> None:
    server.behaviour.hang = asyncio.Event()
    async with sender(server.url(), timeout=0.5) as smtp:
        with pytest.raises(ProviderOutcomeUnknown, match="DATA"):
            await smtp.send_email(email())


async def test_a_connection_dropped_after_data_is_an_unknown_outcome(
    server: SmtpTestServer,
) -> None:
    server.behaviour.drop = True
    async with sender(server.url()) as smtp:
        with pytest.raises(ProviderOutcomeUnknown, match="DATA"):
            await smtp.send_email(email())
        server.behaviour.drop = False
        await smtp.send_email(email())  # the pool made a new connection

    assert server.connections == 2


# ---------------------------------------------------------------- the pool


async def test_one_connection_carries_message_after_message(server: SmtpTestServer) -> None:
    async with sender(server.url(), pool_size=1) as smtp:
        for message_id in range(5):
            await smtp.send_email(email(message_id=message_id))

    assert len(server.received) == 5
    assert server.connections == 1


async def test_a_refusal_leaves_the_connection_usable(server: SmtpTestServer) -> None:
    async with sender(server.url(), pool_size=1) as smtp:
        with pytest.raises(SmtpRejected):
            await smtp.send_email(email(to=REFUSED))
        await smtp.send_email(email())

    assert server.connections == 1
    assert [m["To"] for m in server.received] == ["ann@example.com"]


async def test_concurrent_sends_use_at_most_pool_size_connections(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url(), pool_size=3) as smtp:
        await asyncio.gather(*(smtp.send_email(email(message_id=i)) for i in range(12)))

    assert len(server.received) == 12
    assert 1 <= server.connections <= 3


async def test_a_connection_the_server_timed_out_is_replaced(certificates: Certificates) -> None:
    async with (
        running_smtp_server(
            timeout=0.5, tls_context=certificates.server, authenticator=authenticate
        ) as server,
        sender(
            server.url(userinfo=CREDENTIALS), pool_size=1, tls_context=certificates.client
        ) as smtp,
    ):
        await smtp.send_email(email())
        await asyncio.sleep(1.0)  # the server says 421 and hangs up
        await smtp.send_email(email())

    assert len(server.received) == 2
    assert server.connections == 2
    assert all(s.state().authenticated for s in server.sessions)


async def test_a_connection_cut_unnoticed_fails_at_mail_and_is_replaced_once(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url(), pool_size=1) as smtp:
        await smtp.send_email(email())
        server.drop_connections()  # no await before the send: the client has not noticed
        await smtp.send_email(email())

    assert len(server.received) == 2
    assert server.connections == 2


async def test_when_the_replacement_fails_too_the_error_is_raised(
    server: SmtpTestServer,
) -> None:
    async with sender(server.url(), pool_size=1) as smtp:
        await smtp.send_email(email())
        server.listener.close()  # no new connections from now on
        server.drop_connections()
        with pytest.raises(ProviderUnavailable):
            await smtp.send_email(email())

    assert server.connections == 1


async def test_after_aclose_the_server_saw_quit_and_sends_are_refused(
    server: SmtpTestServer,
) -> None:
    smtp = SmtpSender.from_url(server.url(), timeout=5.0)
    await smtp.send_email(email())
    await smtp.aclose()
    await asyncio.sleep(0.05)

    [session] = server.sessions
    assert session.transport is None or session.transport.is_closing()
    with pytest.raises(ProviderUnavailable, match="closed"):
        await smtp.send_email(email())
