"""API keys, idempotency keys and dashboard sign-in sessions."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.database import SessionRow
from dialer.adapters.store.memory.rows import IdempotencyRow, json_copy
from dialer.errors import NotFound
from dialer.ports.records import DashboardSession, NewApiKey, StoredApiKey, StoredResponse


class MemoryAccess(MemoryRepository):
    async def add_key(self, key: NewApiKey, now: datetime) -> StoredApiKey:
        tenant = self._db.tenants.get(key.tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {key.tenant_id} does not exist")
        row_id = self._db.api_keys.next_id()
        stored = StoredApiKey(
            row_id,
            key.tenant_id,
            tenant.name,
            key.key_id,
            key.secret_hash,
            key.scope,
            key.name,
            now,
            None,
        )
        self._db.api_keys.put(row_id, stored)
        return stored

    async def key(self, key_id: str) -> StoredApiKey | None:
        return self._db.api_keys.find("key_id", key_id)

    async def keys(self, tenant_id: int | None) -> list[StoredApiKey]:
        found = [k for k in self._db.api_keys.rows() if tenant_id in (None, k.tenant_id)]
        return sorted(found, key=lambda k: k.id)

    async def revoke_key(self, key_id: str, tenant_id: int | None, now: datetime) -> bool:
        key = self._db.api_keys.find("key_id", key_id)
        if key is None or key.revoked_at is not None or tenant_id not in (None, key.tenant_id):
            return False
        self._db.api_keys.put(key.id, dataclasses.replace(key, revoked_at=now))
        return True

    async def claim_idempotency_key(
        self, tenant_id: int, key: str, fingerprint: str, now: datetime
    ) -> StoredResponse | None:
        # A concurrent first request cannot overtake: it runs in a unit of its own, which
        # waits for this one to end (the store's lock).
        found = self._db.idempotency.get((tenant_id, key))
        if found is not None:
            return StoredResponse(found.fingerprint, found.status_code, json_copy(found.body))
        row_id = self._db.idempotency.next_id()
        placeholder = IdempotencyRow(row_id, tenant_id, key, fingerprint, 0, {}, now)
        self._db.idempotency.put((tenant_id, key), placeholder)
        return None

    async def save_idempotent_response(
        self, tenant_id: int, key: str, status_code: int, body: Any
    ) -> None:
        row = self._db.idempotency.get((tenant_id, key))
        if row is not None:
            answered = dataclasses.replace(row, status_code=status_code, body=json_copy(body))
            self._db.idempotency.put((tenant_id, key), answered)

    async def prune_idempotency_keys(self, before: datetime) -> int:
        old = [r for r in self._db.idempotency.rows() if r.created_at < before]
        for row in old:
            self._db.idempotency.delete((row.tenant_id, row.key))
        return len(old)

    async def add_session(self, session: DashboardSession, keep: int) -> None:
        self._db.sessions.put(session.digest, SessionRow(session, []))
        others = [
            row.session
            for row in self._db.sessions.group("key_id", session.key_id)
            if row.session.digest != session.digest
        ]
        others.sort(key=lambda s: (s.last_seen_at, s.created_at), reverse=True)
        for closed in others[max(keep - 1, 0) :]:
            self._db.sessions.delete(closed.digest)

    async def session(self, digest: str) -> DashboardSession | None:
        row = self._db.sessions.get(digest)
        return None if row is None else row.session

    async def touch_session(self, digest: str, now: datetime) -> None:
        row = self._db.sessions.get(digest)
        if row is not None:
            seen = dataclasses.replace(row.session, last_seen_at=now)
            self._db.sessions.put(digest, dataclasses.replace(row, session=seen))

    async def close_session(self, digest: str) -> None:
        self._db.sessions.delete(digest)

    async def notices(self, digest: str) -> list[Any] | None:
        # No row lock to take: the unit holds the store's lock until it ends.
        row = self._db.sessions.get(digest)
        return None if row is None else list(json_copy(row.notices))

    async def save_notices(self, digest: str, notices: list[Any]) -> None:
        row = self._db.sessions.get(digest)
        if row is not None:
            self._db.sessions.put(digest, dataclasses.replace(row, notices=json_copy(notices)))

    async def prune_sessions(self, idle_before: datetime) -> int:
        revoked = {k.key_id for k in self._db.api_keys.rows() if k.revoked_at is not None}
        gone = [
            row.session.digest
            for row in self._db.sessions.rows()
            if row.session.last_seen_at < idle_before or row.session.key_id in revoked
        ]
        for digest in gone:
            self._db.sessions.delete(digest)
        return len(gone)
