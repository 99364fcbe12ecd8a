"""API keys, idempotency keys and dashboard sign-in sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from dialer.adapters.store import rows
from dialer.adapters.store.api_tables import (
    api_keys,
    dashboard_sessions,
    idempotency_keys,
)
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    tenants,
)
from dialer.ports import (
    DashboardSession,
    NewApiKey,
    StoredApiKey,
    StoredResponse,
)


class SqlAccess(SqlRepository):
    def _api_key_query(self) -> Any:
        return select(api_keys, tenants.c.name.label("tenant")).join(
            tenants, tenants.c.id == api_keys.c.tenant_id
        )

    async def add_key(self, key: NewApiKey, now: datetime) -> StoredApiKey:
        await self._conn.execute(
            api_keys.insert().values(
                tenant_id=key.tenant_id,
                key_id=key.key_id,
                secret_hash=key.secret_hash,
                scope=key.scope,
                name=key.name,
                created_at=now,
            )
        )
        stored = await self.key(key.key_id)
        assert stored is not None
        return stored

    async def key(self, key_id: str) -> StoredApiKey | None:
        stmt = self._api_key_query().where(api_keys.c.key_id == key_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else rows.api_key(row)

    async def keys(self, tenant_id: int | None) -> list[StoredApiKey]:
        stmt = self._api_key_query().order_by(api_keys.c.id)
        if tenant_id is not None:
            stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
        return [rows.api_key(row) for row in await self._conn.execute(stmt)]

    async def revoke_key(self, key_id: str, tenant_id: int | None, now: datetime) -> bool:
        stmt = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if tenant_id is not None:
            stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
        return (await self._conn.execute(stmt)).rowcount == 1

    async def claim_idempotency_key(
        self, tenant_id: int, key: str, fingerprint: str, now: datetime
    ) -> StoredResponse | None:
        # The placeholder row is this transaction's: a concurrent request with the same key
        # waits on the unique index until it commits (then reads its answer) or rolls back.
        stmt = (
            self._insert(idempotency_keys)
            .values(
                tenant_id=tenant_id,
                key=key,
                fingerprint=fingerprint,
                status_code=0,
                body={},
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(idempotency_keys.c.id)
        )
        if (await self._conn.execute(stmt)).first() is not None:
            return None
        i = idempotency_keys.c
        row = (
            await self._conn.execute(
                select(i.fingerprint, i.status_code, i.body).where(
                    i.tenant_id == tenant_id, i.key == key
                )
            )
        ).one()
        return StoredResponse(row.fingerprint, row.status_code, row.body)

    async def save_idempotent_response(
        self, tenant_id: int, key: str, status_code: int, body: Any
    ) -> None:
        i = idempotency_keys.c
        await self._conn.execute(
            update(idempotency_keys)
            .where(i.tenant_id == tenant_id, i.key == key)
            .values(status_code=status_code, body=body)
        )

    async def prune_idempotency_keys(self, before: datetime) -> int:
        stmt = delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
        return int((await self._conn.execute(stmt)).rowcount)

    async def add_session(self, session: DashboardSession, keep: int) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            dashboard_sessions.insert().values(
                digest=session.digest,
                key_id=session.key_id,
                tenant_id=session.tenant_id,
                csrf=session.csrf,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                notices=[],
            )
        )
        kept = (
            select(d.digest)
            .where(d.key_id == session.key_id, d.digest != session.digest)
            .order_by(d.last_seen_at.desc(), d.created_at.desc())
            .limit(max(keep - 1, 0))
        )
        await self._conn.execute(
            delete(dashboard_sessions).where(
                d.key_id == session.key_id,
                d.digest != session.digest,
                d.digest.not_in(kept.scalar_subquery()),
            )
        )

    async def session(self, digest: str) -> DashboardSession | None:
        d = dashboard_sessions.c
        stmt = select(d.digest, d.key_id, d.tenant_id, d.csrf, d.created_at, d.last_seen_at).where(
            d.digest == digest
        )
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else DashboardSession(*row)

    async def touch_session(self, digest: str, now: datetime) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            update(dashboard_sessions).where(d.digest == digest).values(last_seen_at=now)
        )

    async def close_session(self, digest: str) -> None:
        await self._conn.execute(
            delete(dashboard_sessions).where(dashboard_sessions.c.digest == digest)
        )

    async def notices(self, digest: str) -> list[Any] | None:
        d = dashboard_sessions.c
        # FOR UPDATE on PostgreSQL; SQLite has one writer, so the clause is not rendered.
        stmt = select(d.notices).where(d.digest == digest).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else list(row.notices)

    async def save_notices(self, digest: str, notices: list[Any]) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            update(dashboard_sessions).where(d.digest == digest).values(notices=notices)
        )

    async def prune_sessions(self, idle_before: datetime) -> int:
        d = dashboard_sessions.c
        revoked = select(api_keys.c.key_id).where(api_keys.c.revoked_at.is_not(None))
        stmt = delete(dashboard_sessions).where(
            (d.last_seen_at < idle_before) | d.key_id.in_(revoked.scalar_subquery())
        )
        return int((await self._conn.execute(stmt)).rowcount)
