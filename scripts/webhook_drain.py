"""How fast the outbox drains: N events for one endpoint, a fast receiver on loopback (in
this process), and one delivery loop ticking as `dialer serve` runs it.

    python scripts/webhook_drain.py postgresql://postgres@127.0.0.1:5432/DB [N] [CONCURRENCY]

The database is migrated; use an empty one (its webhook tables are written to)."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

from aiohttp import web

from dialer.adapters.clock import WallClock
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.adapters.webhooks.http import HttpWebhookSender
from dialer.ports.webhook_store import NewEvent
from dialer.services.webhook_delivery import DeliveryPolicy, WebhookDeliverer


async def receiver() -> tuple[web.AppRunner, int, list[int]]:
    received = [0]

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        received[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1], received


async def main(url: str, n: int, concurrency: int) -> None:
    runner, port, received = await receiver()
    store = SqlStore(make_engine(url))
    await migrate.upgrade(store.engine)
    now = datetime.now(UTC)
    async with store.unit() as uow:
        hook = f"http://127.0.0.1:{port}/hook"
        endpoint = await uow.webhooks.add_endpoint(
            1, hook, ["lead.finished"], "", "whsec_eA==", now
        )
        events = [NewEvent(1, "lead.finished", {"n": i}, endpoint_id=endpoint.id) for i in range(n)]
        await uow.webhooks.record(events, now)
        await uow.commit()
    sender = HttpWebhookSender(5, allow_http=True, allow_private=True)
    deliverer = WebhookDeliverer(
        store, sender, WallClock(), DeliveryPolicy(per_endpoint=concurrency)
    )
    started = time.perf_counter()
    while received[0] < n:  # noqa: ASYNC110 (the loop as run_forever runs it, measured)
        await asyncio.sleep(await deliverer.tick())
    took = time.perf_counter() - started
    print(f"{n} deliveries in {took:.1f} s: {n / took:.0f} per second")
    await deliverer.aclose()
    await store.close()
    await runner.cleanup()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(args[0], int(args[1]) if len(args) > 1 else 3000, int(args[2]) if len(args) > 2 else 4)
    )
