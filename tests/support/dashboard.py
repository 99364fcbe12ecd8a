"""The dashboard signed in through its own login form, and the app behind a real uvicorn
listener (httpx's ASGI transport cannot stream an endless body)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from dialer.api.app import create_app
from dialer.api.dashboard import close_streams
from dialer.bootstrap import Runtime

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = await http.get("/dashboard/login")
    assert form.status_code == 200
    answer = await http.post(
        "/dashboard/login", data={"api_key": token, "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"
    page = await http.get("/dashboard")
    assert page.status_code == 200
    return csrf_of(page.text)


@dataclass
class Served:
    app: FastAPI
    url: str
    server: uvicorn.Server


@asynccontextmanager
async def served_app(runtime: Runtime) -> AsyncIterator[Served]:
    """The app on a loopback port until the block ends."""
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(app, f"http://127.0.0.1:{port}", server)
    finally:
        close_streams(app)
        server.should_exit = True
        await asyncio.wait_for(task, 10)
