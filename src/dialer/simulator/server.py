"""Serving the simulator over real HTTP: blocking from the command line, or as an async context
manager inside tests and benchmarks. Port 0 picks a free port; the URL given is the real one."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from dialer.simulator.app import create_app
from dialer.simulator.config import SimulatorConfig, SmtpSinkOptions
from dialer.simulator.engine import Engine
from dialer.simulator.observer import Observer

GRACEFUL_SHUTDOWN_SECONDS = 2
BACKLOG = 2048


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_server(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` with uvicorn on this event loop; return once it accepts connections."""
    sock = _listening_socket(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=BACKLOG,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(_serve(server, sock))
    while not server.started:
        if task.done():
            await task  # raises what stopped it
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.005)
    bound_port = sock.getsockname()[1]
    return RunningServer(f"http://{_url_host(host)}:{bound_port}", server, task)


@contextlib.asynccontextmanager
async def running_app(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Any ASGI app served for the duration of the block; yields its base URL."""
    running = await start_server(app, host, port)
    try:
        yield running.url
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def running_simulator(
    config: SimulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    observer: Observer | None = None,
) -> AsyncIterator[str]:
    """The simulator on this event loop for the duration of the block; yields its base URL
    (what ``DIALER_TWILIO_API_BASE`` should be). Calls still live at the end are stopped."""
    app = create_app(config, observer)
    running = await start_server(app, host, port)
    try:
        yield running.url
    finally:
        await engine_of(app).aclose()  # ends delayed answers and live calls first
        await running.stop()


def engine_of(app: Starlette) -> Engine:
    engine: Engine = app.state.engine
    return engine


def serve(
    config: SimulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    smtp: SmtpSinkOptions | None = None,
) -> None:
    """Run the simulator until interrupted. Prints ``simulator listening on http://HOST:PORT``
    (the real port) on stdout, once, when it accepts connections; with ``smtp``, the SMTP sink
    runs beside it and a second line says ``smtp sink listening on smtp://HOST:PORT``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(config, host, port, smtp))


async def _serve_until_stopped(
    config: SimulatorConfig, host: str, port: int, smtp: SmtpSinkOptions | None
) -> None:
    app = create_app(config)
    running = await start_server(app, host, port)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(running.stop)  # also when the SMTP sink cannot start
        sys.stdout.write(f"simulator listening on {running.url}\n")
        public_key = getattr(engine_of(app).dialect, "public_key", None)
        if public_key is not None:  # what the dialer needs as TELNYX_PUBLIC_KEY
            sys.stdout.write(f"telnyx public key {public_key}\n")
        if smtp is not None:
            await stack.enter_async_context(_smtp_beside(engine_of(app), smtp))
        sys.stdout.flush()
        await running.task  # until SIGINT/SIGTERM, which uvicorn handles


@contextlib.asynccontextmanager
async def _smtp_beside(engine: Engine, options: SmtpSinkOptions) -> AsyncIterator[None]:
    # Imported here: aiosmtpd is a development dependency, and the simulator runs without it.
    from dialer.simulator.smtp_sink import running_smtp_sink

    async with running_smtp_sink(options, engine=engine) as sink:
        sys.stdout.write(f"smtp sink listening on smtp://{_url_host(sink.host)}:{sink.port}\n")
        yield


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    with sock:
        await server.serve(sockets=[sock])


def _listening_socket(host: str, port: int) -> socket.socket:
    # proto must be IPPROTO_TCP (as getaddrinfo gives it): asyncio sets TCP_NODELAY on accepted
    # connections only then, and without it every keep-alive response waits ~40 ms (Nagle).
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
