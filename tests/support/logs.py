"""Logs captured as the processes write them, and a campaign dialled to its end through the
API."""

from __future__ import annotations

import asyncio
import json
import time
from io import StringIO
from typing import Any

import httpx

from dialer.domain.statuses import TERMINAL_LEAD, LeadStatus
from tests.support.api import bearer
from tests.support.engine import Engine


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
