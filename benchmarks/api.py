"""The REST API under load: latency of POST /v1/calls and of provider webhook ingestion at
fixed request rates, against a real `dialer serve --api-only` process (uvicorn on loopback),
and a streamed contacts import. Run from the repository root:

    .venv/bin/python -m benchmarks.api                      # SQLite, about 2 minutes
    .venv/bin/python -m benchmarks.api --postgres           # a PostgreSQL database of its own
    .venv/bin/python -m benchmarks.api --database postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m benchmarks.api --postgres --only calls --rates 500 --profile /tmp/p
    .venv/bin/python -m benchmarks.api --quick              # 3 s per rate, 20,000 rows
    .venv/bin/python -m benchmarks.api --import-rows 1000000 --rates 0

Each rate is open-loop: request i is sent at t0 + i/rate whatever the earlier ones did (so a
slow server shows as latency, not as a lower rate), with at most 256 requests in flight.
Latency is measured by the client, from send to the end of the answer. Webhooks are real
signed Twilio status callbacks for attempts seeded beforehand, each one stored by the server
in its own transaction. The import sends a CSV as a chunked body and reads the server's peak
resident memory (VmHWM) before and after, to show the upload is streamed, not held.

``--postgres`` creates a database of its own on DIALER_BENCH_PG (default the local server;
``benchmarks.deployment.own_database``), migrates it, and drops it at the end.
``--profile DIR`` samples the server with py-spy while the calls are sent (one raw profile
per rate) and prints the functions seen most often, on the stack and running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import httpx

from benchmarks.deployment import own_database
from dialer.adapters.clock import WallClock
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.adapters.telephony.twilio_signature import sign
from dialer.bootstrap import open_runtime
from dialer.domain.model import CampaignSettings
from dialer.ports import ContactDraft, Origination
from dialer.services.access import KeyScope, create_key
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings

SID, TOKEN = "AC" + "be" * 16, "bench-token"
MAX_IN_FLIGHT = 256
PY_SPY = Path(sys.executable).parent / "py-spy"


@dataclass
class Result:
    what: str
    rate: int
    sent: int
    ok: int
    p50_ms: float
    p99_ms: float
    achieved: float


class _Held:
    async def submit(self, batch: Sequence[Origination]) -> None:
        return None

    async def drain(self) -> None:
        return None


async def seed(database: str, attempts: int) -> tuple[str, list[int]]:
    """An operator key, and ``attempts`` QUEUED attempts (never sent) for webhooks to hit."""
    settings = load_settings(
        database_url=database,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_api_base="http://127.0.0.1:9",
        dispatch_batch_size=5000,
        campaign_max_concurrency=5000,
    )
    async with open_runtime(settings, clock=WallClock()) as runtime:
        _, token = await create_key(runtime.store, "bench", KeyScope.OPERATOR, "bench", _now())
        if attempts == 0:
            return token, []
        campaign_settings = CampaignSettings(
            "webhook-bench", "+14155550100", max_concurrency=5000, ramp_up=0
        )
        campaign = await create_campaign(runtime.services, "bench", campaign_settings)
        drafts = [
            ContactDraft(f"+1{area}555{i:04d}", "America/New_York")
            for area in (212, 312, 415, 646)
            for i in range(10000)
        ][:attempts]
        await import_drafts(runtime.services, campaign.id, drafts)
        await start_campaign(runtime.services, campaign.id)
        dispatcher = Dispatcher(runtime.services, _Held(), 5000)
        while (await dispatcher.run_once()).originated:
            pass
        async with runtime.store.unit() as uow:
            live = [a.id for a in await uow.attempts.live()]
    return token, live


def _now() -> datetime:
    return WallClock().now()


@asynccontextmanager
async def migrated(database: str | None, postgres: bool, tmp: str) -> AsyncIterator[str]:
    """The database to run on: the one given (already migrated), else a PostgreSQL or SQLite
    one of the benchmark's own, migrated here."""
    if database is not None:
        yield database
    elif postgres:
        async with own_database("api") as url:
            yield url
    else:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = SqlStore(make_engine(url))
        await migrate.upgrade(store.engine)
        await store.close()
        yield url


@asynccontextmanager
async def server(database: str) -> AsyncIterator[tuple[str, int]]:
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database,
        "DIALER_LISTEN": "127.0.0.1:0",
        "DIALER_PUBLIC_BASE_URL": "http://bench.invalid",
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",
        "DIALER_API_MAX_PENDING_CALLS": "10000000",
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer.cli", "serve", "--api-only",
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        yield line.split("dialer listening on ")[1].split()[0], process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def open_loop(what: str, rate: int, seconds: float, send: object) -> Result:
    total = int(rate * seconds)
    latencies: list[float] = []
    ok = 0
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(i: int) -> None:
        nonlocal ok
        async with gate:
            started = time.perf_counter()
            try:
                status = await send(i)  # type: ignore[operator]
            except httpx.TransportError:
                status = 0  # counted as a failure: sent minus 2xx
            latencies.append(time.perf_counter() - started)
            ok += 200 <= status < 300

    t0 = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    cuts = quantiles(latencies, n=100)
    return Result(what, rate, total, ok, cuts[49] * 1000, cuts[98] * 1000, total / elapsed)


async def calls_at(
    client: httpx.AsyncClient, token: str, rate: int, seconds: float, base: int
) -> Result:
    headers = {"Authorization": f"Bearer {token}"}

    async def send(i: int) -> int:
        n = base + i
        call = {
            "to": f"+1{(646, 718, 917)[n // 10000 % 3]}555{n % 10000:04d}",
            "from": "+14155550100",
        }
        return (await client.post("/v1/calls", json=call, headers=headers)).status_code

    return await open_loop("POST /v1/calls", rate, seconds, send)


async def webhooks_at(
    client: httpx.AsyncClient, attempts: list[int], rate: int, seconds: float
) -> Result:
    async def send(i: int) -> int:
        attempt = attempts[i % len(attempts)]
        path = f"/webhooks/twilio/status?attempt={attempt}"
        sequence = i // len(attempts)
        params = {
            "CallSid": f"CA{attempt:032d}",
            "AccountSid": SID,
            "CallStatus": "ringing" if sequence == 0 else "in-progress",
            "SequenceNumber": str(sequence),
        }
        signature = sign(TOKEN, "http://bench.invalid" + path, params)
        headers = {"X-Twilio-Signature": signature}
        return (await client.post(path, data=params, headers=headers)).status_code

    return await open_loop("webhook", rate, seconds, send)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def import_rows(client: httpx.AsyncClient, token: str, pid: int, rows: int) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    campaign = {"name": "import-bench", "caller_id": "+14155550100"}
    created = await client.post("/v1/campaigns", json=campaign, headers=headers)
    url = f"/v1/campaigns/{created.json()['id']}/contacts"

    async def body() -> AsyncIterator[bytes]:
        yield b"phone,name,plan\n"
        for start in range(0, rows, 10000):
            yield "".join(
                f"+1212{200 + n // 10000:03d}{n % 10000:04d},n{n},gold\n"
                for n in range(start, min(rows, start + 10000))
            ).encode()

    before = peak_rss_mib(pid)
    started = time.perf_counter()
    response = await client.post(
        url, content=body(), headers={**headers, "Content-Type": "text/csv"}, timeout=3600
    )
    elapsed = time.perf_counter() - started
    report = response.json()
    return (
        f"{rows:,} rows: HTTP {response.status_code}, {report.get('accepted', 0):,} accepted, "
        f"{report.get('added', 0):,} leads added, {report.get('rejected_count', 0):,} rejected, "
        f"{elapsed:.1f} s ({rows / elapsed:,.0f} rows/s); server peak RSS {before:.0f} MiB "
        f"before, {peak_rss_mib(pid):.0f} MiB after"
    )


@contextmanager
def profiled(pid: int, out: Path | None, label: str) -> Iterator[None]:
    """py-spy samples the server while the block runs (nothing when ``out`` is None): only
    the samples holding the GIL, i.e. where the process spends its CPU."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{label}.txt"
    command = [str(PY_SPY), "record", "--gil", "--pid", str(pid), "--format", "raw"]
    command += ["--output", str(raw)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(30)
    print(f"profile {raw}:")
    print(top_of_profile(raw))


def top_of_profile(raw: Path, n: int = 15) -> str:
    """The functions most often on the stack (total) and running (own), per cent of samples
    of the busy thread (py-spy leaves idle samples out)."""
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    lines = [f"  {samples} samples; on the stack (total) / running (own), % of samples:"]
    lines += [f"  total {100 * c / samples:5.1f}%  {f}" for f, c in total.most_common(n)]
    lines += [f"  own   {100 * c / samples:5.1f}%  {f}" for f, c in own.most_common(n)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` without the line, so a function counts once."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].removesuffix(')')})"


async def run_rates(
    what: Callable[[int], Awaitable[Result]], rates: list[int], pid: int, args: argparse.Namespace
) -> list[Result]:
    results = []
    for rate in rates:
        await asyncio.sleep(2)  # let the previous level's writes settle
        label = f"{what.__name__}-{rate}"
        with profiled(pid, args.profile, label):
            results.append(await what(rate))
    return results


def table(results: list[Result]) -> str:
    lines = [
        f"{'what':<16}{'rate/s':>8}{'sent':>8}{'2xx':>8}{'achieved/s':>12}"
        f"{'p50 ms':>10}{'p99 ms':>10}"
    ]
    lines += [
        f"{r.what:<16}{r.rate:>8}{r.sent:>8}{r.ok:>8}{r.achieved:>12.1f}"
        f"{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}"
        for r in results
    ]
    return "\n".join(lines)


def _loadavg() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


async def main(args: argparse.Namespace) -> None:
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at the start {_loadavg()}")
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
        async with migrated(args.database, args.postgres, tmp) as database:
            await run(database, args)
    print(f"# load average at the end {_loadavg()}")


async def run(database: str, args: argparse.Namespace) -> None:
    rates = [r for r in args.rates if r > 0]
    needed = max([int(r * args.seconds) for r in rates] + [1])
    attempts_wanted = 0 if args.only == "calls" else min(needed, 40000)
    token, attempts = await seed(database, attempts_wanted)
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"database {database.split(':')[0]}; "
        f"{len(attempts)} attempts seeded"
    )
    async with server(database) as (url, pid):
        # Idle connections are dropped before uvicorn's 5 s keep-alive closes them, so no
        # request is sent on a connection the server is closing.
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, keepalive_expiry=3)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            base = 0

            async def webhooks(rate: int) -> Result:
                return await webhooks_at(client, attempts, rate, args.seconds)

            async def calls(rate: int) -> Result:
                nonlocal base
                first, base = base, base + int(rate * args.seconds)  # new numbers each rate
                return await calls_at(client, token, rate, args.seconds, first)

            results: list[Result] = []
            if args.only != "calls":
                results += await run_rates(webhooks, rates, pid, args)
            if args.only != "webhooks":
                results += await run_rates(calls, rates, pid, args)
            print(table(results))
            if args.import_rows:
                print("import:", await import_rows(client, token, pid, args.import_rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a migrated PostgreSQL URL (default: SQLite)")
    parser.add_argument(
        "--postgres", action="store_true", help="a PostgreSQL database of its own (DIALER_BENCH_PG)"
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--only", choices=["calls", "webhooks"], help="one kind of request")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of the server, here")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.import_rows = 3.0, 20_000
    asyncio.run(main(options))
