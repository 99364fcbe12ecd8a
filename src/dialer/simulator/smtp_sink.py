"""An SMTP server that keeps what it is sent: the email side of the simulator, on aiosmtpd.

It runs on the caller's event loop, beside the simulator's HTTP server or alone. It offers
STARTTLS with a self-signed certificate, requires AUTH PLAIN or LOGIN when given credentials
(wrong ones answer 535), refuses at RCPT the recipients matching ``email_bounce_patterns``
(550), and records every message it accepts in the observer (``email`` in ``/_sim/stats``)
and in ``SmtpSink.received``. It delivers nothing anywhere.

    async with running_smtp_sink(SmtpSinkOptions(starttls=True)) as sink:
        ...send to sink.host, sink.port...
        [email] = await sink.wait_for(1)

aiosmtpd is a development dependency: import this module only where the sink is wanted.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import fnmatch
import hmac
import logging
import ssl
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from dialer.simulator.config import SimulatorConfig, SmtpSinkOptions
from dialer.simulator.engine import Engine
from dialer.simulator.message_observer import ReceivedEmail
from dialer.simulator.observer import Observer
from dialer.simulator.tls import self_signed, server_context

SERVER_NAME = "smtp.simulator.test"  # its EHLO name: set, so that no DNS look-up is made
CLOSE_WAIT = 2.0  # real seconds given to open sessions at shutdown

OK = "250 2.0.0 OK"
AUTH_NEEDED = "530 5.7.0 Authentication required"


class SmtpSink:
    """A running sink: where it listens and what it has received (oldest first)."""

    def __init__(
        self,
        options: SmtpSinkOptions,
        observer: Observer,
        settings: Callable[[], SimulatorConfig],
        now: Callable[[], datetime],
    ) -> None:
        self.options = options
        self.observer = observer
        self.received: list[ReceivedEmail] = []
        self.certificate_pem: bytes | None = None  # what a client trusts for STARTTLS
        self.host = options.host
        self.port = options.port
        self._settings = settings
        self._now = now
        self._arrived = asyncio.Condition()
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._server: asyncio.Server | None = None

    async def wait_for(self, count: int) -> list[ReceivedEmail]:
        """Once at least ``count`` messages are in (bound it with ``asyncio.timeout``)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    # ------------------------------------------------------------ serving

    async def start(self) -> None:
        _quiet_aiosmtpd()
        tls = None
        if self.options.starttls:
            self.certificate_pem, key_pem = self_signed(self.options.host)
            tls = server_context(self.certificate_pem, key_pem)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._session(tls, loop), self.options.host, self.options.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        await self._end_sessions()

    def _session(self, tls: ssl.SSLContext | None, loop: asyncio.AbstractEventLoop) -> SMTP:
        options = self.options
        excluded = [] if options.requires_auth else ["LOGIN", "PLAIN"]  # no AUTH offered
        session = SMTP(
            _Handler(self),
            hostname=SERVER_NAME,
            enable_SMTPUTF8=True,
            tls_context=tls,
            # As a real submission server: AUTH only over TLS when TLS is offered.
            auth_require_tls=options.starttls,
            auth_exclude_mechanism=excluded,
            authenticator=self._authenticate,
            loop=loop,
        )
        self._sessions.add(session)
        return session

    async def _end_sessions(self) -> None:
        """Close connections a client left open, and wait for their handlers to finish."""
        handlers = []
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
            # aiosmtpd keeps each connection's handler task private; it ends once cancelled.
            if session._handler_coroutine is not None:
                session._handler_coroutine.cancel()
                handlers.append(session._handler_coroutine)
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_WAIT)

    # ------------------------------------------------------------ SMTP decisions

    def _authenticate(
        self, _: SMTP, __: Session, ___: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        del mechanism  # PLAIN and LOGIN both give a login and a password
        options = self.options
        good = (
            isinstance(auth_data, LoginPassword)
            and options.username is not None
            and options.password is not None
            and hmac.compare_digest(auth_data.login, options.username.encode())
            and hmac.compare_digest(auth_data.password, options.password.encode())
        )
        if good:
            return AuthResult(success=True, auth_data=auth_data)
        self.observer.email.count("auth_failures")
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8

    def bounces(self, address: str) -> bool:
        lowered = address.lower()
        patterns = self._settings().email_bounce_patterns
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)

    async def keep(self, envelope: Envelope) -> None:
        received = ReceivedEmail(
            envelope_from=envelope.mail_from or "",
            envelope_to=tuple(envelope.rcpt_tos),
            message=_parse(envelope.original_content or envelope.content),
            received_at=self._now(),
        )
        unsubscribed = {address.lower() for address in self._settings().email_unsubscribed}
        listed = [address for address in received.envelope_to if address.lower() in unsubscribed]
        self.observer.email.received(received, listed)
        async with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()


class _Handler:
    """aiosmtpd's hooks, answering with the sink's decisions."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_MAIL(
        self, _: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._sink.options.requires_auth and not session.authenticated:
            return AUTH_NEEDED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return OK

    async def handle_RCPT(
        self, _: SMTP, __: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._sink.bounces(address):
            self._sink.observer.email.count("recipients_refused")
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return OK

    async def handle_DATA(self, _: SMTP, __: Session, envelope: Envelope) -> str:
        await self._sink.keep(envelope)
        return f"{OK} Ok: queued"


def _not_login_data_notice(record: logging.LogRecord) -> bool:
    return "login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd() -> None:
    """aiosmtpd warns of its own deprecated attribute, which it sets itself at every
    successful AUTH: nothing a user of the sink can act on."""
    log = logging.getLogger("mail.log")
    if _not_login_data_notice not in log.filters:
        log.addFilter(_not_login_data_notice)


def _parse(content: bytes | str | None) -> EmailMessage:
    raw = content.encode() if isinstance(content, str) else content or b""
    # SMTP carries CRLF lines; the parts are read with the newlines Python writes them with.
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)


@asynccontextmanager
async def running_smtp_sink(
    options: SmtpSinkOptions | None = None,
    *,
    engine: Engine | None = None,
    config: SimulatorConfig | None = None,
) -> AsyncIterator[SmtpSink]:
    """The sink on this event loop for the duration of the block. Beside a running simulator,
    give its engine: the sink then counts in the simulator's observer, on its clock, and
    follows its settings as ``POST /_sim/config`` changes them. Alone, give the settings (or
    none, for the defaults); ``sink.observer`` is then its own."""
    sink = _sink(options or SmtpSinkOptions(), engine, config)
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


def _sink(
    options: SmtpSinkOptions, engine: Engine | None, config: SimulatorConfig | None
) -> SmtpSink:
    if engine is not None:
        return SmtpSink(options, engine.observer, lambda: engine.config, engine.sms.now)
    fixed = config or SimulatorConfig()
    return SmtpSink(options, Observer(), lambda: fixed, lambda: datetime.now(UTC))
