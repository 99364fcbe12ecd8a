"""The dashboard on the REST app and keys (acme and globex), and the same app behind a real
uvicorn listener, for the event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dialer.bootstrap import Runtime
from tests.support.dashboard import Served, served_app


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[Served]:
    """The app on a loopback port (httpx's ASGI transport cannot stream an endless body)."""
    async with served_app(runtime) as served:
        yield served
