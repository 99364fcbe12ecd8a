"""The simulator's small webhook client: keep-alive, the response framings, and failures."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dialer.simulator.recorder import CallbackRecorder
from dialer.simulator.server import running_app
from dialer.simulator.webhooks import WebhookClient, WebhookError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A hand-written HTTP server; yields its URL and how many connections it accepted."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", accepted


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    webhooks = WebhookClient(max_connections=4, timeout=1.0, user_agent="test")
    yield webhooks
    await webhooks.aclose()


async def test_forms_arrive_with_headers_and_connections_are_kept_alive(
    client: WebhookClient,
) -> None:
    recorder = CallbackRecorder("token")
    async with running_app(recorder.app) as url:
        statuses = [
            await client.post_form(f"{url}/cb?n={n}", {"CallSid": "CA1", "Body": "a&b=c ü"}, {})
            for n in range(3)
        ]

    assert statuses == [204, 204, 204]
    assert [c.url for c in recorder.received] == [f"{url}/cb?n={n}" for n in range(3)]
    assert recorder.received[0].form == {"CallSid": "CA1", "Body": "a&b=c ü"}


async def test_chunked_and_close_delimited_bodies_are_read(client: WebhookClient) -> None:
    async def chunked_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n"
        )
        await read_request(reader)
        writer.write(b"HTTP/1.0 202 Accepted\r\n\r\nbody until close")

    async with raw_server(chunked_then_close) as (url, accepted):
        first = await client.post_form(url, {"a": "1"}, {"X-Test": "1"})
        second = await client.post_form(url, {"a": "2"}, {})
        third = await client.post_form(url, {"a": "3"}, {})  # the server closed: reconnects

    assert (first, second, third) == (200, 202, 200)
    assert len(accepted) == 2


async def test_a_kept_alive_connection_the_server_dropped_is_replaced(
    client: WebhookClient,
) -> None:
    async def one_request_then_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async with raw_server(one_request_then_hang_up) as (url, accepted):
        statuses = [await client.post_form(url, {"n": str(n)}, {}) for n in range(3)]

    assert statuses == [204, 204, 204]
    assert len(accepted) == 3


async def test_no_answer_times_out(client: WebhookClient) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    slow = WebhookClient(max_connections=1, timeout=0.2, user_agent="test")
    async with raw_server(never_answer) as (url, _):
        with pytest.raises(WebhookError, match="TimeoutError"):
            await slow.post_form(url, {}, {})
    await slow.aclose()


async def test_refused_connections_and_bad_urls_are_errors(client: WebhookClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(WebhookError):
        await client.post_form(f"http://127.0.0.1:{port}/cb", {}, {})
    with pytest.raises(WebhookError, match="not an http"):
        await client.post_form("ftp://example.com/cb", {}, {})
