"""``dialer nodes`` and the cluster part of ``dialer status``: the processes' heartbeats,
their throughput and the capacity in use, read from the database and Redis."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dialer.adapters.admission.redis import RedisAdmission
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.cli.common import run_command
from dialer.errors import DialerError
from dialer.services.heartbeat import ClusterStatus, cluster_status
from dialer.settings import Settings, load_settings

console = Console()


def nodes(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Dispatchers, workers and listeners: last heartbeat, throughput, capacity in use."""
    status = run_command(read_cluster_status(load_settings()))
    if as_json:
        console.print_json(json.dumps(status_json(status)))
        return
    print_nodes(console, status)


async def read_cluster_status(settings: Settings) -> ClusterStatus:
    """Read-only: the schema must be current already (``dialer migrate``)."""
    async with AsyncExitStack() as stack:
        store = SqlStore(make_engine(settings.database_url))
        stack.push_async_callback(store.close)
        if not await migrate.is_current(store.engine):
            raise DialerError("the database is not at the newest schema: run `dialer migrate`")
        admission = None
        if settings.redis_url:
            admission = RedisAdmission.from_url(
                settings.redis_url, namespace=settings.redis_namespace, timeout=2.0
            )
            stack.push_async_callback(admission.aclose)
        return await cluster_status(
            store, admission, settings.global_max_concurrency, settings.heartbeat_seconds
        )


def status_json(status: ClusterStatus) -> dict[str, Any]:
    return {
        "live_calls": status.live_calls,
        "capacity_in_use": status.capacity_in_use,
        "global_cap": status.global_cap,
        "nodes": [
            {
                "name": n.beat.name,
                "kind": n.beat.kind,
                "node": n.beat.node,
                "pid": n.beat.pid,
                "alive": n.alive,
                "last_beat_seconds_ago": n.age,
                "per_second": n.beat.rate,
                "processed": n.beat.processed,
                "failed": n.beat.failed,
            }
            for n in status.nodes
        ],
    }


def print_nodes(out: Console, status: ClusterStatus) -> None:
    table = Table(title="Processes")
    for column in ("kind", "node", "processes", "last beat", "per second", "total", "failed"):
        table.add_column(column)
    for node, members in status.by_node().items():
        alive = [m for m in members if m.alive]
        age = min(m.age for m in members)
        table.add_row(
            members[0].beat.kind,
            node,
            f"{len(alive)} alive"
            + (f", {len(members) - len(alive)} silent" if len(alive) < len(members) else ""),
            f"{age:.1f} s ago",
            f"{sum(m.beat.rate for m in alive):.1f}",
            str(sum(m.beat.processed for m in members)),
            str(sum(m.beat.failed for m in members)),
        )
    out.print(table)
    in_use = "unknown" if status.capacity_in_use is None else str(status.capacity_in_use)
    out.print(
        f"Calls live: {status.live_calls}; capacity in use: {in_use} of {status.global_cap}; "
        f"calls handed out {status.throughput('dispatcher'):.1f}/s, "
        f"sent {status.throughput('worker'):.1f}/s."
    )


def _alive_count(alive: int, total: int) -> str:
    return f"{alive} alive" + (f", {total - alive} silent" if alive < total else "")


def print_cluster_status(out: Console) -> None:
    """The cluster part of ``dialer status``: shown once any process has beaten."""
    status = run_command(read_cluster_status(load_settings()))
    if status.nodes:
        print_nodes(out, status)
