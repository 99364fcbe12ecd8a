"""Dashboard sessions live in the database: any API process serves any session and its
notices, a restart signs no one out, the database holds neither the session id nor the key,
a revoked key ends its sessions everywhere, and idle ones are pruned. On both backends."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from alembic import command
from sqlalchemy import Connection, inspect, select

from dialer.adapters.clock import ManualClock
from dialer.adapters.store import migrate
from dialer.adapters.store.api_tables import dashboard_sessions
from dialer.adapters.store.schema import metadata
from dialer.adapters.store.sql import SqlStore
from dialer.api.app import create_app
from dialer.api.auth import KeyCache
from dialer.api.dashboard.sessions import (
    IDLE,
    NOTICE_BYTES,
    SESSION_COOKIE,
    Notice,
    Sessions,
    cut_to_size,
)
from dialer.api.server import Loops
from dialer.bootstrap import Runtime, open_runtime
from dialer.services.access import key_principal
from dialer.services.heartbeat import Heartbeat
from tests.support.api import BASE, Keys, bearer, new_campaign
from tests.support.clock import T0
from tests.support.dashboard import csrf_of, sign_in

BAD_ROWS_CSV = b"phone,name\n+12125550100,Ann\nnot-a-number,Bob\n"


@asynccontextmanager
async def api_process(runtime: Runtime) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """Another API process on the same database: its own runtime (engine, caches, clock)
    and its own app, built from the same settings."""
    async with open_runtime(runtime.settings, clock=ManualClock(T0)) as other:
        transport = httpx.ASGITransport(app=create_app(other))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield other, client


def _session_id(client: httpx.AsyncClient) -> str:
    session_id = client.cookies.get(SESSION_COOKIE)
    assert session_id, "not signed in"
    return session_id


def _carry(session_id: str, client: httpx.AsyncClient) -> None:
    """The browser's cookie, sent to another process (a load balancer without stickiness)."""
    client.cookies.set(SESSION_COOKIE, session_id, domain="dialer.example.com")


async def _digests(runtime: Runtime) -> set[str]:
    store = runtime.store
    assert isinstance(store, SqlStore)
    async with store.engine.connect() as conn:
        return set((await conn.execute(select(dashboard_sessions.c.digest))).scalars())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def test_two_api_processes_share_sessions_and_notices(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    page_url = f"/dashboard/campaigns/{campaign['id']}"
    csrf = await sign_in(client, keys.operator)
    async with api_process(runtime) as (_, other):
        _carry(_session_id(client), other)
        page = await other.get(page_url)
        assert page.status_code == 200
        assert "acme · operator" in page.text
        assert csrf_of(page.text) == csrf  # one session, one CSRF token, on both

        started = await client.post(f"{page_url}/start", data={"csrf": csrf})
        assert started.status_code == 303
        landed = await other.get(started.headers["location"])
        assert "Campaign spring-reminders is RUNNING." in landed.text
        assert 'data-testid="notice"' not in (await client.get(page_url)).text  # taken once

        files = {"file": ("contacts.csv", BAD_ROWS_CSV, "text/csv")}
        imported = await other.post(f"{page_url}/contacts", data={"csrf": csrf}, files=files)
        assert imported.status_code == 303
        report = (await client.get(imported.headers["location"])).text
        assert "2 rows read, 1 leads added, 1 rejected" in report
        assert "<td>line 3</td><td>phone</td>" in report.split('"rejection-report"', 1)[1]

        signed_out = await other.post("/dashboard/logout", data={"csrf": csrf})
        assert signed_out.status_code == 303
    assert (await client.get(page_url)).headers["location"] == "/dashboard/login"


async def test_a_session_and_its_notice_survive_a_restart(runtime: Runtime, keys: Keys) -> None:
    async with api_process(runtime) as (_, before):
        csrf = await sign_in(before, keys.operator)
        session_id = _session_id(before)
        campaign = await new_campaign(before, keys.operator)
        page_url = f"/dashboard/campaigns/{campaign['id']}"
        started = await before.post(f"{page_url}/start", data={"csrf": csrf})
        assert started.status_code == 303
    # The first process is gone (its engine, caches and memory with it); a new one starts.
    async with api_process(runtime) as (_, after):
        _carry(session_id, after)
        page = await after.get(started.headers["location"])
        assert page.status_code == 200
        assert "Campaign spring-reminders is RUNNING." in page.text


async def test_the_database_holds_neither_the_session_id_nor_the_key(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    files = {"file": ("contacts.csv", BAD_ROWS_CSV, "text/csv")}
    url = f"/dashboard/campaigns/{campaign['id']}/contacts"
    assert (await client.post(url, data={"csrf": csrf}, files=files)).status_code == 303
    session_id, secret = _session_id(client), keys.operator.split("_", 2)[2]

    store = runtime.store
    assert isinstance(store, SqlStore)
    async with store.engine.connect() as conn:
        rows = [
            repr(tuple(row))
            for table in metadata.sorted_tables
            for row in await conn.execute(select(table))
        ]
    everything = "\n".join(rows)
    assert _digest(session_id) in everything  # the session and its notice are there...
    assert "line 3" in everything
    assert session_id not in everything  # ...but not the id the browser holds
    assert secret not in everything
    assert keys.operator not in everything


async def test_revoking_the_key_ends_its_session_on_every_process(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await sign_in(client, keys.viewer)
    session_id = _session_id(client)
    async with api_process(runtime) as (_, other):
        _carry(session_id, other)
        assert (await other.get("/dashboard")).status_code == 200  # its cache holds the key
        key_id = keys.viewer.split("_")[1]
        revoked = await client.delete(f"/v1/keys/{key_id}", headers=bearer(keys.admin))
        assert revoked.status_code == 204
        assert (await client.get("/dashboard")).status_code == 303  # at once where revoked
        deadline = time.monotonic() + KeyCache().ttl + 2.0
        while (await other.get("/dashboard")).status_code == 200:
            assert time.monotonic() < deadline, "the other process kept the session"
            await asyncio.sleep(0.2)
        assert (await other.get("/dashboard")).headers["location"] == "/dashboard/login"
    assert _digest(session_id) not in await _digests(runtime)


async def test_idle_sessions_and_those_of_revoked_keys_are_pruned(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    clock = runtime.services.clock
    assert isinstance(clock, ManualClock)
    await sign_in(client, keys.operator)
    idle = _session_id(client)
    clock.advance(IDLE.total_seconds() + 1)
    client.cookies.clear()
    await sign_in(client, keys.viewer)
    revoked = _session_id(client)
    client.cookies.clear()
    await sign_in(client, keys.admin)
    kept = _session_id(client)
    key_id = keys.viewer.split("_")[1]
    assert (await client.delete(f"/v1/keys/{key_id}", headers=bearer(keys.admin))).is_success
    assert await _digests(runtime) == {_digest(idle), _digest(revoked), _digest(kept)}

    heartbeat = Heartbeat("serve", "serve@test", 5.0)
    await Loops(runtime, heartbeat)._housekeeping()  # the API's housekeeping tick prunes them

    assert await _digests(runtime) == {_digest(kept)}
    _carry(idle, client)
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/login"


async def test_an_idle_session_ends_even_before_it_is_pruned(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    clock = runtime.services.clock
    assert isinstance(clock, ManualClock)
    await sign_in(client, keys.viewer)
    clock.advance(IDLE.total_seconds() - 60)
    assert (await client.get("/dashboard")).status_code == 200  # used: idle time restarts
    clock.advance(IDLE.total_seconds() - 60)
    assert (await client.get("/dashboard")).status_code == 200
    clock.advance(IDLE.total_seconds() + 1)
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/login"
    assert await _digests(runtime) == set()


async def test_a_key_keeps_a_bounded_number_of_sessions(keys: Keys, runtime: Runtime) -> None:
    clock = ManualClock(T0)
    sessions = Sessions(runtime.store, clock, per_key=2)
    principal = await key_principal(runtime.store, keys.operator.split("_")[1])
    other_key = await key_principal(runtime.store, keys.viewer.split("_")[1])
    other_id, _ = await sessions.open(other_key)
    opened = []
    for _ in range(3):
        clock.advance(60)
        opened.append((await sessions.open(principal))[0])
    assert await sessions.find(opened[0]) is None  # the least recently used one is closed
    assert all([await sessions.find(session_id) for session_id in opened[1:]])
    assert await sessions.find(other_id) is not None  # another key's are not counted


def test_a_notice_is_cut_to_its_size_and_says_how_many_rows_were_left_out() -> None:
    rows = tuple((f"line {n}", "phone", "not a phone number") for n in range(2, 2002))
    notice = cut_to_size(Notice("error", "Imported: 2000 rows read, 2000 rejected.", rows))
    assert NOTICE_BYTES - 100 < len(json.dumps(notice.to_json())) < NOTICE_BYTES + 200
    assert notice.rejected[0] == ("line 2", "phone", "not a phone number")
    shown = len(notice.rejected) - 1
    assert notice.rejected[-1] == ("…", "", f"{2000 - shown} more rejected rows not shown")
    assert Notice.from_json(notice.to_json()) == notice
    small = Notice("ok", "fine", rows[:3])
    assert cut_to_size(small) == small


async def test_pending_notices_are_capped(keys: Keys, runtime: Runtime) -> None:
    sessions = Sessions(runtime.store, ManualClock(T0))
    _, session = await sessions.open(await key_principal(runtime.store, keys.viewer[3:15]))
    for n in range(10):
        await sessions.notify(session, Notice("ok", f"notice {n}"))
    taken = await sessions.take_notices(session)
    assert [n.text for n in taken] == ["notice 6", "notice 7", "notice 8", "notice 9"]
    assert await sessions.take_notices(session) == []


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_the_sessions_migration_comes_and_goes(store: SqlStore) -> None:
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(
                lambda c: command.downgrade(migrate.alembic_config(c), "0004_tracing")
            )
        async with store.engine.connect() as conn:
            assert "dashboard_sessions" not in await conn.run_sync(_tables)
    finally:
        await migrate.upgrade(store.engine)
    async with store.engine.connect() as conn:
        assert "dashboard_sessions" in await conn.run_sync(_tables)
    assert await migrate.is_current(store.engine)
