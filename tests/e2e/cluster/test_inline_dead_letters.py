"""Dead letters in the embedded mode: an origination job run by the inline executor that
fails lands in the dead-letter queue with its cause and payload, as a Celery worker's does,
and `dialer dlq list/replay` work on it. The failure is real: the provider's client raises
an error no adapter maps (a crashed SDK); everything else is the real engine."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from dialer.adapters.executor.inline import InlineExecutor
from dialer.ports import CallRequest, ProviderEvent, Telephony
from dialer.services.dlq import DeadLetter, list_dead_letters
from tests.support.cluster import attempts_of, cli, drafts, running_campaign
from tests.support.engine import EngineFactory

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
CRASH = "the provider SDK crashed"


class CrashingTelephony:
    """A provider client whose create fails with an error of its own (not a provider answer)."""

    def __init__(self, inner: Telephony) -> None:
        self.inner = inner
        self.name = inner.name
        self.creates = 0

    async def create_call(self, request: CallRequest) -> str:
        self.creates += 1
        raise RuntimeError(CRASH)

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        return await self.inner.fetch_call(provider_call_id)

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        return await self.inner.find_call(request, since)

    async def hang_up(self, provider_call_id: str) -> None:
        await self.inner.hang_up(provider_call_id)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _run_failing_jobs(engine: EngineFactory) -> dict[str, Any]:
    async with engine() as e:
        runtime = e.runtime
        assert isinstance(runtime.executor, InlineExecutor)  # the embedded default
        crashing = CrashingTelephony(runtime.services.telephony)
        runtime.services.telephony = crashing
        campaign = await running_campaign(runtime.services, "inline-dlq", drafts(2))
        for _ in range(50):
            await runtime.dispatcher.run_once()
            if runtime.executor.failures >= 2:
                break
        await runtime.executor.drain()
        letters = await list_dead_letters(e.store, None)
        attempts = await attempts_of(e.store, campaign.id)
        return {
            "letters": letters,
            "attempts": attempts,
            "creates": crashing.creates,
            "stats": await e.stats(),
        }


def test_an_inline_job_that_fails_is_a_dead_letter_and_replays(
    engine: EngineFactory, database_url: str
) -> None:
    run = asyncio.run(_run_failing_jobs(engine))
    letters: list[DeadLetter] = run["letters"]
    by_attempt = {row["id"]: row for row in run["attempts"]}

    assert run["creates"] == 2  # tried once each: a crash is not transient
    assert sorted(letter.payload["attempt_id"] for letter in letters) == sorted(by_attempt)
    for letter in letters:
        attempt = by_attempt[letter.payload["attempt_id"]]
        assert letter.kind == "originate"
        assert letter.cause == f"RuntimeError: {CRASH}"
        assert letter.attempts == 1
        assert letter.tenant_id == attempt["tenant_id"]
        assert letter.payload["request"]["to"] == attempt["phone"]

    listed = cli(database_url, "dlq", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert {row["cause"] for row in json.loads(listed.output)} == {f"RuntimeError: {CRASH}"}
    first = letters[0].id
    replayed = cli(database_url, "dlq", "replay", str(first))
    assert replayed.exit_code == 0, replayed.output
    closed = json.loads(cli(database_url, "dlq", "list", "--all", "--json").output)
    assert {row["id"]: row["state"] for row in closed} == {first: "replayed", letters[1].id: "open"}
