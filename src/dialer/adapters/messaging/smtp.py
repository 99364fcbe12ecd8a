"""Email over SMTP (aiosmtplib), with a small pool of authenticated connections.

Errors are translated here, at the boundary, into ``dialer.errors``:

==========================================  =========================================
what happened                               raised
==========================================  =========================================
connection refused, timed out, dropped      ProviderUnavailable: nothing was sent
before DATA; TLS failure; a refusing
greeting or EHLO
AUTH refused (535, 534, 530 anywhere);      ProviderAuthFailed: an operator must fix the
the server offers no AUTH but we have       credentials or the URL
credentials
4xx reply (451, 452, 421...) at any step    ProviderUnavailable: not sent; try later
5xx reply to MAIL, RCPT or DATA             SmtpRejected, a ProviderRejected carrying the
                                            reply code (550: no such mailbox; 552, 554:
                                            content refused): a hard bounce
connection lost or read timeout once the    ProviderOutcomeUnknown: the server may have
DATA command went out, before its reply     queued the message
==========================================  =========================================

A pooled connection can die while idle (the server's idle timeout, a NAT): one found closed
before use is replaced, and one that fails the first command (MAIL) by dropping or by a 421 is
replaced once and the message sent on the new one; what the new one does is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from dialer.adapters.messaging.email_message import OutgoingEmail, compose
from dialer.adapters.messaging.smtp_url import SETTING, SmtpServer, parse_smtp_url
from dialer.errors import (
    InvalidInput,
    Problem,
    ProviderAuthFailed,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderUnavailable,
)
from dialer.ports.messaging import EmailRequest, MessageAccepted, MessageProgress

AUTH_REPLY_CODES = frozenset({530, 534, 535})  # auth required, mechanism too weak, refused
CLOSING = 421  # "service not available, closing transmission channel"
QUIT_SECONDS = 2.0  # how long aclose waits for each server's goodbye


class SmtpRejected(ProviderRejected):
    """A permanent (5xx) refusal, with the server's reply code for callers that care which."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _DeadConnection(Exception):
    """A reused connection failed its first command: replace it and try once more."""


@dataclass
class _Slot:
    """One of the pool's places: a connection, or room for one not yet made."""

    client: aiosmtplib.SMTP | None = None

    def live(self) -> aiosmtplib.SMTP | None:
        return self.client if self.client is not None and self.client.is_connected else None

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None


class SmtpSender:
    """The ``EmailSender`` port over one SMTP server. At most ``pool_size`` connections, each
    authenticated once and reused for message after message; a send waits up to ``timeout``
    for a free one, and every command waits up to ``timeout`` for its reply."""

    name = "smtp"

    def __init__(
        self,
        server: SmtpServer,
        *,
        pool_size: int = 4,
        timeout: float = 30,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if pool_size < 1 or timeout <= 0:
            raise InvalidInput(Problem(SETTING, "pool size and timeout must be positive"))
        self._server = server
        self._timeout = timeout
        self._tls_context = tls_context
        self._slots: asyncio.Queue[_Slot] = asyncio.Queue()
        for _ in range(pool_size):
            self._slots.put_nowait(_Slot())
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        pool_size: int = 4,
        timeout: float = 30,
        tls_context: ssl.SSLContext | None = None,
    ) -> SmtpSender:
        """``smtp://user:pass@host:port`` or ``smtps://...``; see ``smtp_url``."""
        return cls(
            parse_smtp_url(url), pool_size=pool_size, timeout=timeout, tls_context=tls_context
        )

    async def send_email(self, request: EmailRequest) -> MessageAccepted:
        email = compose(request)
        slot = await self._checkout()
        try:
            await self._send_on(slot, email)
        finally:
            self._checkin(slot)
        return MessageAccepted(provider_message_id=email.message_id, progress=MessageProgress.SENT)

    async def aclose(self) -> None:
        """Say goodbye on every idle connection; one in use is closed when its send ends."""
        self._closed = True
        while not self._slots.empty():
            client = self._slots.get_nowait().live()
            if client is not None:
                await _quit(client)

    # ------------------------------------------------------------ the pool

    async def _checkout(self) -> _Slot:
        if self._closed:
            raise ProviderUnavailable("the SMTP sender is closed")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._slots.get()
        except TimeoutError as exc:
            raise ProviderUnavailable(f"no SMTP connection came free in {self._timeout}s") from exc

    def _checkin(self, slot: _Slot) -> None:
        if self._closed:
            slot.drop()
        self._slots.put_nowait(slot)

    async def _send_on(self, slot: _Slot, email: OutgoingEmail) -> None:
        """Send on the slot's connection (made if needed). The slot keeps a connection only
        when its state is known: idle, between transactions."""
        try:
            await self._transact(slot, email)
        except SMTPResponseException as exc:
            await _reset(slot)
            raise refusal(exc) from exc
        except (SMTPException, OSError) as exc:  # before DATA: nothing was sent
            slot.drop()
            raise ProviderUnavailable(f"smtp connection failed: {exc!r}") from exc
        except BaseException:  # translated already, or cancelled: the dialogue's state is unknown
            slot.drop()
            raise

    async def _transact(self, slot: _Slot, email: OutgoingEmail) -> None:
        reused = slot.live()
        client = reused or await self._connect(slot)
        try:
            await _envelope(client, email, reused=reused is not None)
        except _DeadConnection:
            client = await self._connect(slot)
            await _envelope(client, email, reused=False)
        await _data(client, email)

    # ------------------------------------------------------------ connecting

    async def _connect(self, slot: _Slot) -> aiosmtplib.SMTP:
        """A new connection in ``slot``: TLS as configured, logged in. Its failures are
        translated here, where a refusing greeting cannot pass for a refused message."""
        slot.drop()
        client = self._new_client()
        try:
            await client.connect()
            await self._login(client)
        except ProviderError:
            client.close()
            raise
        except (SMTPException, OSError) as exc:  # includes TLS errors (ssl.SSLError)
            client.close()
            where = f"{self._server.host}:{self._server.port}"
            raise ProviderUnavailable(f"smtp connection to {where} failed: {exc!r}") from exc
        except BaseException:
            client.close()
            raise
        slot.client = client
        return client

    def _new_client(self) -> aiosmtplib.SMTP:
        server = self._server
        return aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.implicit_tls,
            start_tls=None,  # without implicit TLS: STARTTLS when the server offers it
            tls_context=self._tls_context,
            timeout=self._timeout,
        )

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        if self._server.username is None:
            return
        try:
            await client.login(self._server.username, self._server.password or "")
        except SMTPAuthenticationError as exc:
            raise _auth_error(exc) from exc
        except SMTPResponseException as exc:
            raise ProviderUnavailable(f"smtp login failed: {exc.code} {exc.message}") from exc
        except (SMTPServerDisconnected, SMTPTimeoutError):
            raise  # a transport failure: _connect translates it as one
        except SMTPException as exc:  # no AUTH offered (often: not before STARTTLS)
            raise ProviderAuthFailed(f"smtp server cannot authenticate us: {exc}") from exc


# ---------------------------------------------------------------- one transaction


async def _envelope(client: aiosmtplib.SMTP, email: OutgoingEmail, *, reused: bool) -> None:
    """MAIL and RCPT. A reused connection that drops, or says it is closing, at MAIL was dead
    before we wrote: ``_DeadConnection`` asks for one retry on a new connection."""
    try:
        await client.mail(email.sender)
    except (SMTPServerDisconnected, SMTPResponseException) as exc:
        closing = isinstance(exc, SMTPServerDisconnected) or exc.code == CLOSING
        if reused and closing:
            raise _DeadConnection from exc
        raise
    await client.rcpt(email.recipient)


async def _data(client: aiosmtplib.SMTP, email: OutgoingEmail) -> None:
    """DATA and the content. A reply is final; a lost connection or no reply in time is not:
    the server may have queued the message before the connection dropped."""
    try:
        await client.data(email.content)
    except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
        raise ProviderOutcomeUnknown(f"smtp connection lost during DATA: {exc!r}") from exc


async def _reset(slot: _Slot) -> None:
    """After a refusal, RSET clears the transaction so the connection can be reused."""
    client = slot.live()
    if client is None:
        return
    try:
        await client.rset()
    except (SMTPException, OSError):
        slot.drop()


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(SMTPException, OSError):
        await client.quit(timeout=QUIT_SECONDS)
    client.close()


def refusal(exc: SMTPResponseException) -> ProviderError:
    """A reply to MAIL, RCPT or DATA in ``dialer.errors``: 5xx is permanent, 4xx is not."""
    detail = f"smtp {exc.code}: {exc.message}"
    if exc.code in AUTH_REPLY_CODES:
        return ProviderAuthFailed(detail)
    if 500 <= exc.code < 600:
        return SmtpRejected(detail, exc.code)
    return ProviderUnavailable(detail)


def _auth_error(exc: SMTPAuthenticationError) -> ProviderError:
    detail = f"smtp login refused: {exc.code} {exc.message}"
    if 400 <= exc.code < 500:  # 454: temporary authentication failure
        return ProviderUnavailable(detail)
    return ProviderAuthFailed(detail)
