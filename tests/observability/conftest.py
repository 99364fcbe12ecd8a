"""Logs captured as the processes write them: every record, as JSON lines, in memory."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import httpx
import pytest
import structlog

from dialer.domain.statuses import TERMINAL_LEAD, LeadStatus
from dialer.observability.logs import configure_logging
from dialer.settings import load_observability_settings
from tests.rest.conftest import (  # noqa: F401  (the REST app's fixtures)
    bearer,
    client,
    runtime,
    settings_overrides,
)
from tests.services.conftest import Engine, engine  # noqa: F401  (the wired engine)


class CapturedLogs:
    def __init__(self) -> None:
        self.stream = StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Every line, parsed: a line that is not a JSON object fails the test here."""
        parsed = [json.loads(line) for line in self.text.splitlines()]
        assert all(isinstance(record, dict) for record in parsed)
        return parsed


@pytest.fixture
def json_logs() -> Iterator[CapturedLogs]:
    """Logging configured as a server's (JSON, DEBUG), written to memory."""
    captured = CapturedLogs()
    root = logging.getLogger()
    level = root.level
    settings = load_observability_settings(log_format="json", log_level="DEBUG")
    handler = configure_logging(settings, command="serve", stream=captured.stream)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


async def dial_until_finished(
    e: Engine, api: httpx.AsyncClient, token: str, lead_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Dispatcher ticks until every lead has ended; the leads as the API shows them."""
    deadline = time.monotonic() + 60
    leads: dict[int, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        await e.runtime.dispatcher.run_once()
        for lead_id in lead_ids:
            response = await api.get(f"/v1/leads/{lead_id}", headers=bearer(token))
            leads[lead_id] = response.json()
        if all(LeadStatus(lead["status"]) in TERMINAL_LEAD for lead in leads.values()):
            return leads
        await asyncio.sleep(0.02)
    raise AssertionError(f"leads not finished: {leads}")
