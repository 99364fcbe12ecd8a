"""A small HTTP/1.1 client that POSTs forms over keep-alive connections: the simulator's way of
delivering status callbacks.

Why not httpx: measured on loopback, an ``httpx.AsyncClient`` spends 0.7 to 2 ms of CPU per
request (more as its pool grows, since its pool scans every connection on every change), so
several hundred calls a second, each with four callbacks, would need more than a core for the
callbacks alone. This client does the one thing needed, in about a tenth of that.

It speaks enough HTTP/1.1 for webhooks: a response body by Content-Length, chunked, or up to
the close; interim 1xx responses skipped; ``Connection: close`` honoured; http and https.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

MAX_HEAD = 64 * 1024
NO_BODY_STATUSES = frozenset({204, 304})


class WebhookError(Exception):
    """The request could not be delivered, or the answer could not be read."""


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


class WebhookClient:
    def __init__(self, *, max_connections: int, timeout: float, user_agent: str) -> None:
        self._timeout = timeout
        self._user_agent = user_agent
        self._max_idle = max_connections
        self._in_flight = asyncio.Semaphore(max_connections)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post_form(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> int:
        """POST ``form`` url-encoded to ``url``; the response's status code."""
        body = urlencode(form).encode()
        return await self.post(url, body, "application/x-www-form-urlencoded", headers)

    async def post(
        self, url: str, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> int:
        """POST ``body`` (of ``content_type``) to ``url``; the response's status code."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookError(f"not an http(s) URL: {url!r}")
        origin = _Origin(parts.scheme, parts.hostname, parts.port or _default_port(parts.scheme))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = self._request(parts.netloc, target, body, content_type, headers)
        async with self._in_flight:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(origin, request)
            except (
                OSError,
                TimeoutError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ) as exc:
                raise WebhookError(f"POST {url}: {exc!r}") from exc

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    async def _exchange(self, origin: _Origin, request: bytes) -> int:
        connection = await self._connection(origin)
        try:
            return await self._round_trip(origin, connection, request)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            stale = isinstance(exc, ConnectionError) or not exc.partial
            if not (connection.reused and stale):
                raise
        # A kept-alive connection the server had closed before answering: try a new one.
        return await self._round_trip(origin, await self._connect(origin), request)

    async def _round_trip(self, origin: _Origin, connection: _Connection, request: bytes) -> int:
        try:
            status, keep_alive = await _send(connection, request)
        except BaseException:
            connection.close()
            raise
        self._release(origin, connection, keep_alive)
        return status

    async def _connection(self, origin: _Origin) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                connection.reused = True
                return connection
            connection.close()
        return await self._connect(origin)

    async def _connect(self, origin: _Origin) -> _Connection:
        tls = self._tls_context() if origin.scheme == "https" else None
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=tls, limit=MAX_HEAD
        )
        return _Connection(reader, writer)

    def _release(self, origin: _Origin, connection: _Connection, keep_alive: bool) -> None:
        idle = self._idle.setdefault(origin, [])
        if keep_alive and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()

    def _request(
        self,
        netloc: str,
        target: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str],
    ) -> bytes:
        lines = [
            f"POST {target} HTTP/1.1",
            f"Host: {netloc}",
            f"User-Agent: {self._user_agent}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


async def _send(connection: _Connection, request: bytes) -> tuple[int, bool]:
    """Write the request, read the whole response: (status, whether to keep the connection)."""
    connection.writer.write(request)
    await connection.writer.drain()
    while True:
        version, status, headers = await _read_head(connection.reader)
        if not 100 <= status < 200:
            break
    keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    if status in NO_BODY_STATUSES:
        return status, keep_alive
    if "chunked" in headers.get("transfer-encoding", "").lower():
        await _skip_chunked(connection.reader)
    elif "content-length" in headers:
        await connection.reader.readexactly(int(headers["content-length"]))
    else:
        await connection.reader.read()  # the body runs to the close
        keep_alive = False
    return status, keep_alive


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return version, int(status), headers


async def _skip_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            break
        await reader.readexactly(size + 2)  # the chunk and its CRLF
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
        pass


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
