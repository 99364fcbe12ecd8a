"""A real SMTP server (aiosmtpd) on a loopback port of the test's own event loop, with the
ways a server misbehaves that the sender must translate: recipients refused (550) or deferred
(451), content refused, an answer that never comes after DATA, a connection dropped after DATA
or while idle. It counts the connections it accepts and keeps what it received.

Also a self-signed certificate for 127.0.0.1, made with ``cryptography``, and an SSL context
that trusts it, for STARTTLS and implicit TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
USER = "dialer"
PASSWORD = "s3cret:p@ss"
REFUSED = "nobody@example.com"  # RCPT answered 550
DEFERRED = "busy@example.com"  # RCPT answered 451
SPAMMY = "Buy now"  # a subject whose DATA is answered 554


@dataclass
class Behaviour:
    """What the server does at DATA; a test changes it while the server runs."""

    hang: asyncio.Event | None = None  # never answer DATA until this is set
    drop: bool = False  # close the connection once the content is in, without a reply


@dataclass
class Handler:
    behaviour: Behaviour
    received: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 No such user"
        if address == DEFERRED:
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)  # decode_data is off
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if self.behaviour.hang is not None:
            await self.behaviour.hang.wait()
        if self.behaviour.drop:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "250 OK"  # never reaches the client
        if message["Subject"] == SPAMMY:
            return "554 5.7.1 Message refused as spam"
        self.received.append(message)
        return "250 OK queued"


class ServerSession(SMTP):
    """aiosmtpd's session, remembering its socket's own transport: after STARTTLS its
    ``transport`` is the TLS layer's, and cutting that one mid-handshake leaves the socket."""

    socket_transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.socket_transport is None:
            self.socket_transport = transport
        super().connection_made(transport)

    def state(self) -> Session:
        """What the client did in this session (TLS, login...). A method, not a property:
        aiosmtpd reads every attribute of its sessions while creating them."""
        assert self.session is not None
        return self.session


@dataclass
class SmtpTestServer:
    port: int
    handler: Handler
    behaviour: Behaviour
    listener: asyncio.Server
    sessions: list[ServerSession] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(self.sessions)

    @property
    def received(self) -> list[EmailMessage]:
        return self.handler.received

    def url(self, scheme: str = "smtp", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo}{HOST}:{self.port}"

    def drop_connections(self) -> None:
        """Cut every connection at once, without a word (as a NAT or a crash does)."""
        for session in self.sessions:
            if isinstance(session.socket_transport, asyncio.Transport):
                session.socket_transport.abort()


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@contextlib.asynccontextmanager
async def running_smtp_server(
    *, listener_tls: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[SmtpTestServer]:
    """The server until the block ends. ``options`` go to aiosmtpd's ``SMTP`` (tls_context for
    STARTTLS, authenticator, timeout for the idle timeout...); ``listener_tls`` makes it an
    implicit-TLS (smtps) server."""
    behaviour = Behaviour()
    handler = Handler(behaviour)
    sessions: list[ServerSession] = []

    def session() -> ServerSession:
        smtp = ServerSession(handler, hostname="smtp.test", **options)
        sessions.append(smtp)
        return smtp

    loop = asyncio.get_running_loop()
    listener = await loop.create_server(session, HOST, 0, ssl=listener_tls)
    port = listener.sockets[0].getsockname()[1]
    server = SmtpTestServer(port, handler, behaviour, listener, sessions)
    try:
        yield server
    finally:
        if behaviour.hang is not None:
            behaviour.hang.set()
        listener.close()
        server.drop_connections()
        await listener.wait_closed()
        await _sessions_ended(sessions)


async def _sessions_ended(sessions: list[ServerSession]) -> None:
    """Each session's task must end before the test's loop closes, or its stream writer is
    collected on a closed loop (a ResourceWarning). Most end with their connection; one
    waiting on a TLS handshake the client walked away from does not, so all are cancelled.
    aiosmtpd names no public handle on the task."""
    tasks = [s._handler_coroutine for s in sessions if s._handler_coroutine is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class Certificates:
    server: ssl.SSLContext  # presents the certificate
    client: ssl.SSLContext  # trusts it, and only it


def self_signed(directory: Path) -> Certificates:
    """A fresh key and self-signed certificate for 127.0.0.1 (and localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dialer test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "smtp.crt", directory / "smtp.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return Certificates(server, client)
