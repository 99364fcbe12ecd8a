"""Heartbeats: each dispatcher, worker process, webhook listener and ``dialer serve`` upserts
its row in the store every few seconds with what it has done, so ``dialer status`` can list
the processes alive, their last beat and their throughput, beside the calls live and the
capacity in use (read from Redis, or else as the processes with in-process admission report
it in their beats).

A process that stops beating is reported silent after a few intervals; its work is not lost
with it (the broker redelivers a dead worker's tasks, leases expire, the reaper and the
reconciler settle the rest), and housekeeping prunes its row after the retention period.

Heartbeats are on the wall clock, whatever clock the services run on: they are about the
processes, not about the calls.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.ports import Admission, NodeBeat, Store
from dialer.services.loops import run_forever

SILENT_AFTER_BEATS = 3  # a process that missed this many beats is reported silent
# In a beat's info: leases held by the process's own in-process admission (``dialer serve``
# without Redis), which no other process can read.
CAPACITY_IN_USE = "capacity_in_use"


def wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Heartbeat:
    """This process's pulse: counters it is told about, written at each ``beat()``."""

    kind: str  # dispatcher, worker, webhooks
    node: str
    interval: float
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    processed: int = 0
    failed: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=wall_now)
    _last: tuple[datetime, int] | None = None

    @property
    def name(self) -> str:
        return f"{self.node}:{self.pid}"

    def count(self, processed: int = 0, failed: int = 0) -> None:
        self.processed += processed
        self.failed += failed

    async def beat(self, store: Store) -> NodeBeat:
        now = wall_now()
        since, before = self._last or (self.started_at, 0)
        elapsed = (now - since).total_seconds()
        rate = (self.processed - before) / elapsed if elapsed > 0 else 0.0
        beat = NodeBeat(
            name=self.name,
            kind=self.kind,
            node=self.node,
            host=self.host,
            pid=self.pid,
            started_at=self.started_at,
            beat_at=now,
            processed=self.processed,
            failed=self.failed,
            rate=round(rate, 3),
            info=dict(self.info),
        )
        async with store.unit() as uow:
            await uow.cluster.save_heartbeat(beat)
            await uow.commit()
        self._last = (now, self.processed)
        return beat

    async def run(self, store: Store, stop: asyncio.Event) -> None:
        """Beat every ``interval`` seconds until ``stop`` is set; a failed beat (database
        unreachable) is logged and tried again after a back-off: a pulse never stops the
        process."""

        async def beat_once() -> float:
            await self.beat(store)
            return self.interval

        await run_forever(f"heartbeat of {self.name}", beat_once, stop=stop)


# ------------------------------------------------------------------ the cluster's view


@dataclass(frozen=True)
class NodeStatus:
    beat: NodeBeat
    age: float  # seconds since its last beat
    alive: bool


@dataclass(frozen=True)
class ClusterStatus:
    nodes: list[NodeStatus]
    live_calls: int  # attempts not yet ended, in the store
    capacity_in_use: int | None  # leases held in admission; None when it is not shared
    global_cap: int

    def throughput(self, kind: str) -> float:
        """Per second, summed over the live processes of this kind."""
        return sum(n.beat.rate for n in self.nodes if n.alive and n.beat.kind == kind)

    def by_node(self) -> Mapping[str, list[NodeStatus]]:
        grouped: dict[str, list[NodeStatus]] = {}
        for node in self.nodes:
            grouped.setdefault(node.beat.node, []).append(node)
        return grouped


async def cluster_status(
    store: Store, admission: Admission | None, global_cap: int, interval: float
) -> ClusterStatus:
    now = wall_now()
    async with store.unit() as uow:
        beats = await uow.cluster.heartbeats()
        live = await uow.views.live_attempts()
    silent_after = SILENT_AFTER_BEATS * interval
    nodes = []
    for beat in beats:
        age = max(0.0, (now - beat.beat_at).total_seconds())
        nodes.append(NodeStatus(beat, round(age, 1), age <= silent_after))
    if admission is not None:
        return ClusterStatus(nodes, live, (await admission.usage()).global_active, global_cap)
    return ClusterStatus(nodes, live, _reported_in_use(nodes), global_cap)


def _reported_in_use(nodes: list[NodeStatus]) -> int | None:
    """The capacity the live processes with in-process admission report; None when none
    does (then nobody can tell)."""
    reported = [
        n.beat.info[CAPACITY_IN_USE] for n in nodes if n.alive and CAPACITY_IN_USE in n.beat.info
    ]
    return sum(int(value) for value in reported) if reported else None


async def prune_heartbeats(store: Store, retention: float) -> int:
    async with store.unit() as uow:
        pruned = await uow.cluster.prune_heartbeats(wall_now() - timedelta(seconds=retention))
        await uow.commit()
    return pruned
