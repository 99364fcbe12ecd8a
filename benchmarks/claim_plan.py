"""The due-lead claim on a million leads in PostgreSQL: its plan and its time.

Builds a throwaway database, loads 1,000,000 leads of one campaign spread over 24 time-zone
keys (60% pending, 10% waiting for a retry, 30% finished), and prints EXPLAIN (ANALYZE,
BUFFERS) of the exact statement the store runs, for one zone key (how the dispatcher claims)
and for all keys at once. Run: .venv/bin/python -m benchmarks.claim_plan
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.dialects import postgresql

from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.rows import claim_statement
from dialer.adapters.store.sql import SqlStore
from dialer.domain.model import CampaignSettings

SERVER = os.environ.get("DIALER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "dialer_bench_claim_plan"
LEADS = int(os.environ.get("DIALER_BENCH_LEADS", "1000000"))
ZONES = [f"Zone/{n:02d}" for n in range(24)]
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

LOAD = f"""
INSERT INTO contacts (tenant_id, phone, tags, attributes, version, created_at)
SELECT $1, '+1' || (2000000000 + g)::text, '[]', '{{}}', 1, $2::timestamptz
FROM generate_series(1, {LEADS}) AS g;

INSERT INTO leads (campaign_id, contact_id, tenant_id, phone, zone_key, status, attempts,
                   next_attempt_at, version, updated_at)
SELECT $3, c.id, $1, c.phone,
       'Zone/' || lpad((c.id % 24)::text, 2, '0'),
       CASE WHEN c.id % 10 < 6 THEN 'PENDING' WHEN c.id % 10 = 6 THEN 'WAITING_RETRY'
            ELSE 'DONE' END,
       0,
       $2::timestamptz - make_interval(secs => c.id % 3600)
           + (c.id % 7) * interval '10 minutes',
       1, $2::timestamptz
FROM contacts c;
"""


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def load(url: str) -> int:
    store = SqlStore(make_engine(url))
    await migrate.upgrade(store.engine)
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("bench")
        campaign = await uow.campaigns.add(tenant, CampaignSettings("plan", "+14155550100"), NOW)
        await uow.commit()
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for statement in LOAD.split(";\n\n"):
            await conn.execute(statement, *_params(statement, tenant, campaign.id))
        await conn.execute("ANALYZE")
        print(f"loaded {LEADS:,} contacts and leads in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return campaign.id


def _params(statement: str, tenant: int, campaign: int) -> list[object]:
    return [tenant, NOW, campaign] if "$3" in statement else [tenant, NOW]


def compiled(campaign_id: int, keys: list[str], limit: int) -> str:
    stmt = claim_statement(campaign_id, keys, NOW, limit)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def explain(url: str, campaign_id: int, keys: list[str], limit: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():  # the claim locks rows; roll it back afterwards
            sql = compiled(campaign_id, keys, limit)
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print("\n".join(r[0] for r in rows))
            times = []
            for _ in range(20):
                started = time.perf_counter()
                await conn.fetch(sql)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(f"-> 20 runs: median {times[10]:.2f} ms, max {times[-1]:.2f} ms\n")
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    pass


async def main() -> None:
    await admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{DATABASE}"')
    url = f"{SERVER}/{DATABASE}"
    try:
        campaign_id = await load(url)
        print("== one zone key, limit 200 (the dispatcher's claim) ==")
        await explain(url, campaign_id, ZONES[:1], 200)
        print(f"== all {len(ZONES)} zone keys at once, limit 200 ==")
        await explain(url, campaign_id, ZONES, 200)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
