"""Contact import into PostgreSQL: a million CSV rows through the service `dialer run` and the
REST API use (``dialer.services.contacts.import_contacts``). Run from the repository root:

    .venv/bin/python -m benchmarks.import_pg                 # 1,000,000 rows
    .venv/bin/python -m benchmarks.import_pg --quick         # 100,000 rows
    .venv/bin/python -m benchmarks.import_pg --profile       # cProfile's top functions too
    .venv/bin/python -m benchmarks.import_pg --quick --portable   # the statements used before

It writes a CSV of valid numbers over thirteen US and European time zones, in several
spellings, with name, tags, a time-zone override on some rows and an extra attribute column,
and a few bad rows of every kind the importer rejects (not a number, unknown time zone, bad
quiet hours, wrong column count, a repeated number). It creates a PostgreSQL database of its
own, imports the file in a child process (so the peak resident memory is the import's alone),
checks the report and the tables against what it wrote, drops the database, and prints rows/s,
the time, the peak RSS and the rejected rows. It exits non-zero when a figure is wrong: a good
row not stored, a bad row not rejected, or a lead count that is not the accepted count.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import multiprocessing
import os
import platform
import pstats
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import asyncpg

from dialer.bootstrap import open_runtime
from dialer.domain.model import CampaignSettings
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import MAX_REPORTED, ImportReport, import_contacts
from dialer.settings import load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

SERVER = os.environ.get("DIALER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
HEADER = ["phone", "name", "timezone", "tags", "quiet_hours", "account"]

# (how the number is written, given eight digits) per zone: US area codes and EU cities.
PATTERNS = [
    lambda d: f"(212) {d[:3]}-{d[3:7]}",  # New York
    lambda d: f"+1 312 {d[:3]} {d[3:7]}",  # Chicago
    lambda d: f"303-{d[:3]}-{d[3:7]}",  # Denver
    lambda d: f"+1415{d[:7]}",  # Los Angeles
    lambda d: f"+1 907 {d[:3]} {d[3:7]}",  # Anchorage / Adak
    lambda d: f"808{d[:7]}",  # Honolulu
    lambda d: f"+44 20 7{d[:3]} {d[3:7]}",  # London
    lambda d: f"+33 1 4{d[0]} {d[1:3]} {d[3:5]} {d[5:7]}",  # Paris
    lambda d: f"+49 30 {d[:8]}",  # Berlin
    lambda d: f"+34 91 {d[:3]} {d[3:5]} {d[5:7]}",  # Madrid
    lambda d: f"+39 06 {d[:4]} {d[4:8]}",  # Rome
    lambda d: f"+351 21 {d[:3]} {d[3:7]}",  # Lisbon
    lambda d: f"+31 20 {d[:3]} {d[3:7]}",  # Amsterdam
]
OVERRIDES = ["America/Phoenix", "Europe/Dublin", "America/Toronto"]
BAD_KINDS = ("not a number", "unknown time zone", "bad quiet hours", "column count", "repeated")
# How the importer's reasons begin, and the kind each one is.
REASONS = [
    ("phone:", "not a number"),
    ("timezone:", "unknown time zone"),
    ("quiet_hours:", "bad quiet hours"),
    ("expected", "column count"),
    ("duplicate", "repeated"),
]
BAD_EVERY = 2000  # one bad row in 2,000: 500 in a million, 100 of each kind


@dataclass(frozen=True)
class Written:
    rows: int
    good: int
    bad: int
    kinds: dict[str, int]  # bad rows by kind


def generate(path: Path, rows: int, seed: int = 1) -> Written:
    """Write the CSV; every good row has its own number (a counter, spread over the zones)."""
    rng = random.Random(seed)
    bad = 0
    kinds: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(HEADER)
        first_phone = ""
        for n in range(rows):
            if n % BAD_EVERY == BAD_EVERY - 1:
                kind = BAD_KINDS[bad % len(BAD_KINDS)]
                out.writerow(_bad_row(kind, first_phone))
                kinds[kind] += 1
                bad += 1
                continue
            row = _good_row(n, rng)
            first_phone = first_phone or row[0]
            out.writerow(row)
    return Written(rows, rows - bad, bad, dict(kinds))


def _good_row(n: int, rng: random.Random) -> list[str]:
    pattern = PATTERNS[n % len(PATTERNS)]
    serial = n // len(PATTERNS)  # unique within a zone: 77,000 numbers per zone in a million
    digits = f"{2 + serial // 1_000_000 % 8}{serial % 1_000_000:06d}{rng.randrange(10)}"
    override = OVERRIDES[n % 3] if n % 50 == 0 else ""
    tags = "vip;renewal" if n % 7 == 0 else ("renewal" if n % 2 else "")
    quiet = "12:00-13:00" if n % 97 == 0 else ""
    return [pattern(digits), f"Contact {n}", override, tags, quiet, f"A-{n:07d}"]


def _bad_row(kind: str, first_phone: str) -> list[str]:
    if kind == "not a number":
        return ["12345", "Bad number", "", "", "", "x"]
    if kind == "unknown time zone":
        return ["+1 212 555 0199", "Bad zone", "Mars/Olympus_Mons", "", "", "x"]
    if kind == "bad quiet hours":
        return ["+1 212 555 0198", "Bad quiet", "", "", "25:00-26:00", "x"]
    if kind == "column count":
        return ["+1 212 555 0197", "Too few"]
    return [first_phone, "Repeated", "", "", "", "x"]


# ------------------------------------------------------------------ the import (a child process)


@dataclass(frozen=True)
class Outcome:
    seconds: float
    cpu_seconds: float  # the importer's own CPU (parsing, the driver); not PostgreSQL's
    rows: int
    accepted: int
    added: int
    rejected: int
    reasons: dict[str, int]
    rss_start_mib: float
    rss_peak_mib: float
    contacts_stored: int
    leads_stored: int
    tenths: list[float]  # rows/s over each tenth of the file (the last is partial)


def import_child(url: str, csv_path: str, profile: bool, portable: bool, rows: int) -> Outcome:
    """Runs in a spawned process: import the file once, measure it, count what was stored."""
    rss_start = _rss_mib()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    progress: list[float] = []  # when each tenth of the file began to be read
    every = max(1, rows // 10)
    report = asyncio.run(_import(url, Path(csv_path), portable, every, progress))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    contacts, leads = asyncio.run(_stored(url))
    return Outcome(
        seconds=seconds,
        cpu_seconds=cpu,
        rows=report.rows,
        accepted=report.accepted,
        added=report.added,
        rejected=report.rejected_count,
        reasons=_reasons(report),
        rss_start_mib=rss_start,
        rss_peak_mib=_rss_mib(),
        contacts_stored=contacts,
        leads_stored=leads,
        tenths=[every / (b - a) for a, b in pairwise(progress)],
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def _import(
    url: str, path: Path, portable: bool, every: int, progress: list[float]
) -> ImportReport:
    # No call is placed: the provider is the simulator's account on a port nobody listens on.
    settings = load_settings(
        database_url=url,
        redis_url=None,
        broker_url=None,
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        twilio_api_base="http://127.0.0.1:9",
    )

    def lines() -> Iterator[str]:  # as `dialer run` reads its --contacts file, timed
        with path.open(encoding="utf-8-sig", newline="") as file:
            for number, line in enumerate(file):
                if number % every == 0:
                    progress.append(time.perf_counter())
                yield line

    async with open_runtime(settings) as runtime:
        if portable:  # PostgreSQL on the row-by-row statements SQLite uses (the old path)
            runtime.services.store.bulk_statements = False  # type: ignore[attr-defined]
        campaign = await create_campaign(
            runtime.services, "bench", CampaignSettings("import", "+14155550100")
        )
        return await import_contacts(runtime.services, campaign.id, lines)


def _reasons(report: ImportReport) -> dict[str, int]:
    """The listed rejections by kind (the report lists the first 1,000; the count is exact)."""
    kinds: dict[str, int] = {}
    for row in report.rejected:
        kind = next((k for p, k in REASONS if row.reason.startswith(p)), row.reason)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


async def _stored(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        contacts = await conn.fetchval("SELECT count(*) FROM contacts")
        leads = await conn.fetchval("SELECT count(*) FROM leads")
    finally:
        await conn.close()
    return int(contacts), int(leads)


# ------------------------------------------------------------------ the parent


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run(csv_path: Path, rows: int, profile: bool, portable: bool) -> Outcome:
    database = f"dialer_bench_import_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            args = (f"{SERVER}/{database}", str(csv_path), profile, portable, rows)
            return pool.apply(import_child, args)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def failures(written: Written, got: Outcome) -> list[str]:
    checks = {
        "rows read": (got.rows, written.rows),
        "rows accepted": (got.accepted, written.good),
        "rows rejected": (got.rejected, written.bad),
        "leads added": (got.added, written.good),
        "contacts stored": (got.contacts_stored, written.good),
        "leads stored": (got.leads_stored, written.good),
    }
    wrong = [f"{name}: {a:,} (expected {b:,})" for name, (a, b) in checks.items() if a != b]
    if written.bad <= MAX_REPORTED and got.reasons != written.kinds:  # every one is listed
        wrong.append(f"reasons: {got.reasons} (expected {written.kinds})")
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument(
        "--portable", action="store_true", help="the row-by-row statements (before the bulk path)"
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    print(f"# contact import into PostgreSQL, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# statements: {'portable (row by row)' if args.portable else 'bulk (unnest)'}")
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("# load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="dialer-import-") as folder:
        path = Path(folder) / "contacts.csv"
        began = time.perf_counter()
        written = generate(path, rows)
        size = path.stat().st_size / 2**20
        print(
            f"wrote {written.rows:,} rows ({written.bad} bad) in "
            f"{time.perf_counter() - began:.1f} s, {size:.0f} MiB"
        )
        got = run(path, rows, args.profile, args.portable)
    print("# load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        f"imported {got.rows:,} rows in {got.seconds:.1f} s: {got.rows / got.seconds:,.0f} rows/s; "
        f"accepted {got.accepted:,}, leads added {got.added:,}, rejected {got.rejected:,} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(got.reasons.items()))})"
    )
    print(
        f"the importer's CPU time: {got.cpu_seconds:.1f} s "
        f"({got.cpu_seconds / got.rows * 1e6:.0f} µs per row; the rest of the wall time is "
        "waiting for PostgreSQL or for a core)"
    )
    print("rows/s by tenth of the file: " + " ".join(f"{r:,.0f}" for r in got.tenths))
    print(f"peak RSS {got.rss_peak_mib:.0f} MiB (the child started at {got.rss_start_mib:.0f} MiB)")
    wrong = failures(written, got)
    for line in wrong:
        print(f"WRONG: {line}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
