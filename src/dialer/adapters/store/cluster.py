"""Dead letters and the heartbeats of the cluster's processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from dialer.adapters.store import rows
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.cluster_tables import dead_letters, node_heartbeats
from dialer.ports import (
    DeadLetter,
    NewDeadLetter,
    NodeBeat,
)


class SqlCluster(SqlRepository):
    async def add_dead_letter(self, letter: NewDeadLetter, now: datetime) -> None:
        stmt = self._insert(dead_letters).values(
            tenant_id=letter.tenant_id,
            kind=letter.kind,
            dedupe_key=letter.key[:200],
            cause=letter.cause[:2000],
            payload=dict(letter.payload),
            attempts=letter.attempts,
            created_at=now,
            updated_at=now,
        )
        again = {
            "attempts": dead_letters.c.attempts + stmt.excluded.attempts,
            "cause": stmt.excluded.cause,
            "updated_at": now,
            "replayed_at": None,  # replayed, and failed again: open once more
        }
        await self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["kind", "dedupe_key"], set_=again)
        )

    async def dead_letters(
        self, tenant_id: int | None, after_id: int, limit: int, include_closed: bool
    ) -> list[DeadLetter]:
        d = dead_letters.c
        stmt = select(dead_letters).where(d.id > after_id).order_by(d.id).limit(limit)
        if tenant_id is not None:
            stmt = stmt.where(d.tenant_id == tenant_id)
        if not include_closed:
            stmt = stmt.where(d.replayed_at.is_(None), d.discarded_at.is_(None))
        return [rows.dead_letter(row) for row in await self._conn.execute(stmt)]

    async def get_dead_letter(self, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
        stmt = select(dead_letters).where(dead_letters.c.id == letter_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else rows.dead_letter(row)

    async def close_dead_letter(self, letter_id: int, how: str, now: datetime) -> bool:
        if how not in {"replayed", "discarded"}:
            raise ValueError(f"a dead letter is closed as replayed or discarded, not {how!r}")
        d = dead_letters.c
        stmt = (
            update(dead_letters)
            .where(d.id == letter_id, d.replayed_at.is_(None), d.discarded_at.is_(None))
            .values({f"{how}_at": now, "updated_at": now})
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def save_heartbeat(self, beat: NodeBeat) -> None:
        values = {
            "name": beat.name,
            "kind": beat.kind,
            "node": beat.node,
            "host": beat.host,
            "pid": beat.pid,
            "started_at": beat.started_at,
            "beat_at": beat.beat_at,
            "processed": beat.processed,
            "failed": beat.failed,
            "rate": beat.rate,
            "info": dict(beat.info),
        }
        stmt = self._insert(node_heartbeats).values(values)
        changed = {k: v for k, v in values.items() if k not in {"name", "started_at"}}
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=changed))

    async def heartbeats(self) -> list[NodeBeat]:
        h = node_heartbeats.c
        stmt = select(node_heartbeats).order_by(h.kind, h.node, h.pid)
        return [
            NodeBeat(
                name=row.name,
                kind=row.kind,
                node=row.node,
                host=row.host,
                pid=row.pid,
                started_at=row.started_at,
                beat_at=row.beat_at,
                processed=row.processed,
                failed=row.failed,
                rate=row.rate,
                info=dict(row.info),
            )
            for row in await self._conn.execute(stmt)
        ]

    async def prune_heartbeats(self, before: datetime) -> int:
        stmt = delete(node_heartbeats).where(node_heartbeats.c.beat_at < before)
        return int((await self._conn.execute(stmt)).rowcount)
