"""What only the Redis backend has to prove: scripts run by SHA and come back after NOSCRIPT,
a batch is one round trip, time is the server's, rebuilders race safely, and a Redis that does
not answer is reported as such."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from dialer.adapters.admission import redis as redis_backend
from dialer.adapters.admission.redis import RedisAdmission
from dialer.errors import AdmissionUnavailable
from dialer.ports import Lease, Scope
from tests.support.redis import REDIS_URL

SCOPE = Scope(tenant_id=1, campaign_id=1, global_max=10_000, campaign_max=10_000)


def calls(n: int, prefix: str = "c") -> list[tuple[str, str]]:
    return [(f"{prefix}-{i}", f"+1212555{i:04d}") for i in range(n)]


def leases(n: int, seconds: float = 600) -> list[Lease]:
    return [Lease(f"l-{i}", 1, 1, f"+1646555{i:04d}", time.time() + seconds) for i in range(n)]


async def test_scripts_come_back_after_noscript(redis_admission: RedisAdmission) -> None:
    """A Redis restart forgets every script: the next call loads it again by name."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.script_flush()
        [result] = await redis_admission.acquire_batch(SCOPE, calls(1), ttl=60)
        assert result.admitted
        sha = redis_backend.Scripts(client).sha["acquire"]
        assert await client.script_exists(sha) == [True]
    finally:
        await client.aclose()


async def test_a_batch_is_one_script_call(namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    admission = RedisAdmission(client, namespace=namespace)
    await admission.rebuild([])
    sent: list[tuple[Any, ...]] = []
    original = client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        sent.append(args)
        return await original(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    await admission.acquire_batch(SCOPE, calls(200), ttl=60)  # loads the script once, first
    sent.clear()
    results = await admission.acquire_batch(SCOPE, [*calls(200, "d")[100:], ("e", "+1")], ttl=60)
    await client.aclose()
    assert [args[0] for args in sent] == ["EVALSHA"]
    assert sum(r.admitted for r in results) == 1  # the other numbers are held by the first batch


async def test_leases_run_on_the_server_clock(
    redis_admission: RedisAdmission, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dispatcher whose clock is a day off still grants leases on Redis's time."""
    server_now = await redis_admission.server_time()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400)
    [result] = await redis_admission.acquire_batch(SCOPE, calls(1), ttl=30)
    assert result.lease is not None
    assert 29.9 < result.lease.expires_at - server_now < 31


async def test_racing_rebuilders_one_rebuilds(namespace: str) -> None:
    """Two dispatchers find the state lost at once: one rebuilds (in several chunks, under
    the lock), the other is refused, and the state is the store's exactly once."""
    first = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    second = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    live = leases(1200)  # three chunks
    try:
        outcomes = await asyncio.gather(first.rebuild(live), second.rebuild(live))
        assert sorted(outcomes) == [False, True]
        assert not await second.needs_rebuild()
        assert (await first.usage()).global_active == 1200
        assert not await first.rebuild(live)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_dead_rebuilder_does_not_block_forever(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_backend, "REBUILD_LOCK_MS", 200)
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    try:
        # A rebuilder took the lock, restored a first chunk, and died before its last chunk.
        await admission._restore("rebuild", leases(3), "dead-token", commit=False)
        assert not await admission.rebuild(leases(5))  # the lock is still held
        assert await admission.needs_rebuild()
        await asyncio.sleep(0.3)
        assert await admission.rebuild(leases(5))
        assert (await admission.usage()).global_active == 5
    finally:
        await admission.aclose()


async def test_expired_leases_are_swept_with_their_meta(
    redis_admission: RedisAdmission, namespace: str
) -> None:
    """An acquire sweeps a bounded slice of the global set (its latency stays flat after a
    mass expiry) and the whole of its campaign's; counts never depend on the sweep."""
    await redis_admission.acquire_batch(SCOPE, calls(300), ttl=0.1)
    await asyncio.sleep(0.2)
    [result] = await redis_admission.acquire_batch(SCOPE, [("late", "+1")], ttl=60)
    assert result.admitted
    assert await redis_admission.headroom(SCOPE) == 10_000 - 1
    prefix = f"{{{namespace}}}:"
    client = Redis.from_url(REDIS_URL)
    try:
        assert await client.zcard(f"{prefix}cap:c:1") == 1
        assert await client.zcard(f"{prefix}cap:g") == 1 + 300 - 256
        assert (await redis_admission.usage()).global_active == 1  # a full sweep
        assert await client.zcard(f"{prefix}cap:g") == 1
        assert await client.hlen(f"{prefix}meta") == 1
    finally:
        await client.aclose()


async def test_the_local_server_keeps_every_key(redis_admission: RedisAdmission) -> None:
    """No eviction: a lease or a number lock is never dropped under memory pressure."""
    assert await redis_admission.server_problems() == []


async def test_a_redis_that_does_not_answer_is_reported() -> None:
    admission = RedisAdmission.from_url("redis://127.0.0.1:1/0", timeout=1.0)
    try:
        with pytest.raises(AdmissionUnavailable):
            await admission.acquire_batch(SCOPE, calls(1), ttl=60)
        with pytest.raises(AdmissionUnavailable):
            await admission.needs_rebuild()
    finally:
        await admission.aclose()
