"""The dead-letter queue's service API (what the REST API exposes) and its commands: listing
by tenant and page, replaying only what is still to do, discarding, and refusing to close a
letter twice."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.errors import Conflict, InvalidInput, NotFound
from dialer.ports import Origination
from dialer.ports.jobs import JobFailure, job_payload
from dialer.services.batches import record_failures, run_batch
from dialer.services.calls import end_attempt
from dialer.services.dlq import discard, list_dead_letters, replay
from tests.support.cluster import POLICY, attempts_of, cli, queued_jobs
from tests.support.engine import EngineFactory

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


def failed(job: Origination, cause: str = "OSError: broken pipe") -> JobFailure:
    payload = job_payload(job)
    return JobFailure(payload, job.tenant_id, f"attempt:{job.attempt_id}", cause, 4)


async def test_replay_does_only_what_is_still_to_do(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        campaign, [unsent, sent, ended] = await queued_jobs(e, 3)
        await run_batch(services, [job_payload(sent), job_payload(ended)], POLICY)
        await end_attempt(services, ended.attempt_id, AttemptStatus.COMPLETED, "ended")
        ghost = dataclasses.replace(unsent, attempt_id=10**9)
        await record_failures(services, [failed(job) for job in (unsent, sent, ended, ghost)])
        letters = {x.payload["attempt_id"]: x for x in await list_dead_letters(e.store, None)}

        replayed = [
            await replay(services, letters[j.attempt_id].id, None) for j in (unsent, sent, ended)
        ]
        with pytest.raises(Conflict, match="does not exist; discard it"):
            await replay(services, letters[ghost.attempt_id].id, None)
        with pytest.raises(Conflict, match="already replayed"):
            await replay(services, replayed[0].id, None)
        attempts = {row["id"]: row for row in await attempts_of(e.store, campaign.id)}
        async with e.store.unit() as uow:
            lead = await uow.leads.get(unsent.lead_id)
        stats = await e.stats()
        still_open = await list_dead_letters(e.store, None)
    assert all(letter.replayed_at is not None for letter in replayed)
    # Never sent: withdrawn, the lead due again with its attempt unspent; no call made here.
    assert attempts[unsent.attempt_id]["status"] == AttemptStatus.CANCELED.value
    assert (
        attempts[unsent.attempt_id]["hangup_cause"]
        == "not sent: replayed from the dead-letter queue"
    )
    assert (lead.status, lead.attempts) == (LeadStatus.PENDING, 0)
    # Sent: left to its callbacks; ended: left as it was.
    assert attempts[sent.attempt_id]["provider_call_id"] is not None
    assert attempts[ended.attempt_id]["status"] == AttemptStatus.COMPLETED.value
    assert stats["calls_created"] == 2
    assert [x.payload["attempt_id"] for x in still_open] == [ghost.attempt_id]


async def test_letters_are_listed_and_closed_per_tenant(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        _, [job] = await queued_jobs(e, 1)
        mine = job.tenant_id
        theirs = dataclasses.replace(job, attempt_id=10**9, tenant_id=mine + 1)
        others = [dataclasses.replace(job, attempt_id=10**9 + n) for n in (1, 2)]
        await record_failures(services, [failed(x) for x in (job, theirs, *others)])
        everything = await list_dead_letters(e.store, None)
        own = await list_dead_letters(e.store, mine)
        page = await list_dead_letters(e.store, mine, after_id=own[0].id, limit=1)
        with pytest.raises(NotFound):
            await discard(e.store, everything[1].id, mine)  # another tenant's: not found
        with pytest.raises(NotFound):
            await replay(services, everything[1].id, mine)
        gone = await discard(e.store, own[1].id, mine)
        with pytest.raises(Conflict, match="already discarded"):
            await discard(e.store, gone.id, mine)
        with pytest.raises(Conflict, match="already discarded"):
            await replay(services, gone.id, None)
        open_now = await list_dead_letters(e.store, mine)
        with_closed = await list_dead_letters(e.store, mine, include_closed=True)
        with pytest.raises(InvalidInput, match="limit"):
            await list_dead_letters(e.store, mine, limit=0)
    assert [x.tenant_id for x in everything] == [mine, mine + 1, mine, mine]
    assert [x.id for x in own] == [everything[i].id for i in (0, 2, 3)]
    assert [x.id for x in page] == [own[1].id]
    assert gone.discarded_at is not None
    assert gone.replayed_at is None
    assert [x.id for x in open_now] == [own[0].id, own[2].id]
    assert [x.id for x in with_closed] == [x.id for x in own]
    assert all(x.cause == "OSError: broken pipe" and x.attempts == 4 for x in own)


async def _letters(engine: EngineFactory) -> list[int]:
    async with engine() as e:
        _, jobs = await queued_jobs(e, 2)
        await record_failures(e.runtime.services, [failed(job) for job in jobs])
        return [x.id for x in await list_dead_letters(e.store, None)]


def test_the_dlq_commands(engine: EngineFactory, database_url: str) -> None:
    import asyncio

    first, second = asyncio.run(_letters(engine))
    listed = cli(database_url, "dlq", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["id"], r["state"], r["cause"]) for r in rows] == [
        (first, "open", "OSError: broken pipe"),
        (second, "open", "OSError: broken pipe"),
    ]
    replayed = cli(database_url, "dlq", "replay", str(first))
    assert replayed.exit_code == 0, replayed.output
    discarded = cli(database_url, "dlq", "discard", str(second))
    assert discarded.exit_code == 0, discarded.output
    again = cli(database_url, "dlq", "discard", str(second))
    assert again.exit_code == 1
    assert "already discarded" in again.output
    missing = cli(database_url, "dlq", "replay", "999999")
    assert missing.exit_code == 1
    assert "does not exist" in missing.output
    closed = json.loads(cli(database_url, "dlq", "list", "--all", "--json").output)
    assert [r["state"] for r in closed] == ["replayed", "discarded"]
    assert cli(database_url, "dlq", "list", "--json").output.strip() == "[]"
