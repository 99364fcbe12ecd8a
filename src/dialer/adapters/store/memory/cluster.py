"""Dead letters and the heartbeats of the cluster's processes."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import DeadLetterRow, json_copy
from dialer.ports.records import DeadLetter, NewDeadLetter, NodeBeat

KEY_LENGTH = 200  # as the SQL columns hold them
CAUSE_LENGTH = 2000


def _letter(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        cause=row.cause,
        payload=json_copy(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        replayed_at=row.replayed_at,
        discarded_at=row.discarded_at,
    )


class MemoryCluster(MemoryRepository):
    async def add_dead_letter(self, letter: NewDeadLetter, now: datetime) -> None:
        key, cause = letter.key[:KEY_LENGTH], letter.cause[:CAUSE_LENGTH]
        found = self._db.dead_letters.find("job", (letter.kind, key))
        if found is not None:  # failed again: more tries, the latest cause, open once more
            again = dataclasses.replace(
                found,
                attempts=found.attempts + letter.attempts,
                cause=cause,
                updated_at=now,
                replayed_at=None,
            )
            self._db.dead_letters.put(found.id, again)
            return
        row = DeadLetterRow(
            id=self._db.dead_letters.next_id(),
            tenant_id=letter.tenant_id,
            kind=letter.kind,
            dedupe_key=key,
            cause=cause,
            payload=json_copy(dict(letter.payload)),
            attempts=letter.attempts,
            created_at=now,
            updated_at=now,
        )
        self._db.dead_letters.put(row.id, row)

    async def dead_letters(
        self, tenant_id: int | None, after_id: int, limit: int, include_closed: bool
    ) -> list[DeadLetter]:
        rows = [
            row
            for row in self._db.dead_letters.rows()
            if row.id > after_id
            and tenant_id in (None, row.tenant_id)
            and (include_closed or row.is_open)
        ]
        return [_letter(row) for row in sorted(rows, key=lambda r: r.id)[: max(limit, 0)]]

    async def get_dead_letter(self, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
        row = self._db.dead_letters.get(letter_id)
        return None if row is None else _letter(row)

    async def close_dead_letter(self, letter_id: int, how: str, now: datetime) -> bool:
        if how not in {"replayed", "discarded"}:
            raise ValueError(f"a dead letter is closed as replayed or discarded, not {how!r}")
        row = self._db.dead_letters.get(letter_id)
        if row is None or not row.is_open:
            return False
        if how == "replayed":
            closed = dataclasses.replace(row, updated_at=now, replayed_at=now)
        else:
            closed = dataclasses.replace(row, updated_at=now, discarded_at=now)
        self._db.dead_letters.put(letter_id, closed)
        return True

    async def save_heartbeat(self, beat: NodeBeat) -> None:
        before = self._db.heartbeats.get(beat.name)
        started = beat.started_at if before is None else before.started_at  # the first beat's
        row = dataclasses.replace(beat, started_at=started, info=json_copy(dict(beat.info)))
        self._db.heartbeats.put(beat.name, row)

    async def heartbeats(self) -> list[NodeBeat]:
        rows = sorted(self._db.heartbeats.rows(), key=lambda b: (b.kind, b.node, b.pid))
        return [dataclasses.replace(row, info=json_copy(dict(row.info))) for row in rows]

    async def prune_heartbeats(self, before: datetime) -> int:
        silent = [row.name for row in self._db.heartbeats.rows() if row.beat_at < before]
        for name in silent:
            self._db.heartbeats.delete(name)
        return len(silent)
