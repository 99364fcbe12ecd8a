"""Idempotency keys: a request repeated with the same key gets the first request's answer.

The key is reserved inside the transaction that does the work, and the answer is stored in
that same transaction: either both are committed or neither is, so a crash in between never
leaves a key that claims work that was not done (nor work done under no key)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from dialer.errors import InvalidInput, Problem
from dialer.ports import Store, StoredResponse, UnitOfWork

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(Problem(HEADER, f"1 to {MAX_KEY_LENGTH} printable ASCII characters"))
    return key


async def claim(
    uow: UnitOfWork, tenant_id: int, key: str, request_fingerprint: str, now: datetime
) -> StoredResponse | None:
    """None: the key is new and now reserved by this transaction. Otherwise the stored
    answer to replay; a key reused for a different request is refused."""
    stored = await uow.access.claim_idempotency_key(
        tenant_id, check_key(key), request_fingerprint, now
    )
    if stored is not None and stored.fingerprint != request_fingerprint:
        raise InvalidInput(Problem(HEADER, "this key was used for a different request"))
    return stored


async def prune(store: Store, now: datetime, keep_hours: int) -> int:
    async with store.unit() as uow:
        removed = await uow.access.prune_idempotency_keys(now - timedelta(hours=keep_hours))
        await uow.commit()
    return removed
