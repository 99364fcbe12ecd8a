"""A Prometheus scrape of ``dialer serve`` on a million call attempts in PostgreSQL.

Builds a throwaway database with 20 running campaigns, 1,000,000 leads (half of them due) and
1,000,000 call attempts (98% ended, the rest live), then times what a scrape of /metrics does:
``metrics.refresh()`` (the store's figures) and the rendering of the exposition text.

Printed: the time of one uncached refresh (the aggregate itself, 10 runs), and the time of a
scrape as Prometheus sees it — 50 scrapes in a row, and 20 scrapes at once — through the
cache that serves them. Run: .venv/bin/python -m benchmarks.metrics_scrape
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

import asyncpg

from benchmarks.claim_plan import admin
from dialer import metrics
from dialer.adapters.clock import ManualClock
from dialer.bootstrap import open_runtime
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import CampaignStatus
from dialer.services.figures import snapshot
from dialer.settings import Settings, load_settings

SERVER = os.environ.get("DIALER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "dialer_bench_metrics_scrape"
ROWS = int(os.environ.get("DIALER_BENCH_ATTEMPTS", "1000000"))
CAMPAIGNS = 20
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

LOAD = f"""
INSERT INTO contacts (tenant_id, phone, tags, attributes, version, created_at)
SELECT $1, '+1' || (2000000000 + g)::text, '[]', '{{}}', 1, $2::timestamptz
FROM generate_series(1, {ROWS}) AS g;

INSERT INTO leads (campaign_id, contact_id, tenant_id, phone, zone_key, status, attempts,
                   next_attempt_at, version, updated_at)
SELECT $3 + c.id % {CAMPAIGNS}, c.id, $1, c.phone, 'America/New_York',
       CASE WHEN c.id % 2 = 0 THEN 'PENDING' ELSE 'DONE' END, 1,
       $2::timestamptz - make_interval(secs => c.id % 3600), 1, $2::timestamptz
FROM contacts c;

INSERT INTO call_attempts (lead_id, campaign_id, tenant_id, number, phone, caller_id, status,
                           lease_id, lease_expires_at, created_at, sent_at, ended_at)
SELECT l.id, l.campaign_id, $1, 1, l.phone, '+14155550100',
       CASE WHEN l.id % 50 = 0 THEN 'ANSWERED'
            WHEN l.id % 5 = 0 THEN 'BUSY' WHEN l.id % 5 = 1 THEN 'NO_ANSWER'
            ELSE 'COMPLETED' END,
       md5(l.id::text), $2::timestamptz + interval '10 minutes',
       $2::timestamptz, $2::timestamptz,
       CASE WHEN l.id % 50 = 0 THEN NULL ELSE $2::timestamptz END
FROM leads l;
"""


def settings(url: str) -> Settings:
    return load_settings(
        database_url=url,
        twilio_api_base="http://127.0.0.1:9",  # never called: nothing is dialled here
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="bench",
    )


async def create_campaigns(url: str) -> tuple[int, int]:
    async with (
        open_runtime(settings(url), clock=ManualClock(NOW)) as runtime,
        runtime.store.unit() as uow,
    ):
        tenant = await uow.tenants.id_for("bench")
        first = 0
        for n in range(CAMPAIGNS):
            campaign = await uow.campaigns.add(
                tenant, CampaignSettings(f"c{n}", "+14155550100"), NOW
            )
            campaign.move_to(CampaignStatus.RUNNING)
            await uow.campaigns.save_status(campaign, NOW)
            first = first or campaign.id
        await uow.commit()
    return tenant, first


async def load(url: str) -> None:
    tenant, first = await create_campaigns(url)
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for statement in LOAD.split(";\n\n"):
            await conn.execute(statement, *_params(statement, tenant, first))
        await conn.execute("VACUUM ANALYZE")
        print(
            f"loaded {ROWS:,} leads and {ROWS:,} attempts in {time.perf_counter() - started:.1f} s"
        )
    finally:
        await conn.close()


def _params(statement: str, tenant: int, first: int) -> list[object]:
    return [tenant, NOW, first] if "$3" in statement else [tenant, NOW]


async def timed(label: str, runs: int, step: Callable[[], Awaitable[object]]) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await step()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"{label}: {runs} runs, median {statistics.median(times):.2f} ms, max {times[-1]:.2f} ms")


async def measure(url: str) -> None:
    async with open_runtime(settings(url), clock=ManualClock(NOW)) as runtime:
        services = runtime.services
        read = partial(snapshot, services)
        await metrics.refresh(read, services)  # warm the connection pool

        async def uncached() -> None:
            await snapshot(services)

        async def scrape() -> None:  # what GET /metrics does
            await metrics.refresh(
                partial(snapshot, services), services, runtime.settings.metrics_cache_seconds
            )
            metrics.exposition()

        async def crowd() -> None:  # 20 scrapers at once, the cache expired: one read
            await asyncio.gather(
                *(metrics.refresh(partial(snapshot, services), services, 0) for _ in range(20))
            )

        await timed("one snapshot read from the store (uncached)", 10, uncached)
        await timed(f"one scrape, cache {runtime.settings.metrics_cache_seconds:g} s", 50, scrape)
        await timed("20 scrapes at once, cache expired", 5, crowd)


async def main() -> None:
    await admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{DATABASE}"')
    url = f"{SERVER}/{DATABASE}"
    try:
        await load(url)
        await measure(url)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
