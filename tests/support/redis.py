"""The local Redis for tests: each test works in a key namespace of its own, removed after."""

from __future__ import annotations

import os

from redis.asyncio import Redis

REDIS_URL = os.environ.get("DIALER_TEST_REDIS", "redis://127.0.0.1:6379/0")
# The logical database the data-loss tests may empty (FLUSHDB): nothing else lives there.
LOSS_DB_URL = REDIS_URL.rsplit("/", 1)[0] + "/15"


async def drop_namespace(url: str, namespace: str) -> None:
    """Delete every key that names a test namespace (tests only: production code never scans
    keys). Matches anywhere in the key: admission keys start with ``{namespace}:``, others
    carry it further in."""
    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"*{namespace}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()
