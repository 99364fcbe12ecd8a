"""Access to the REST API: a tenant's keys, what each key's scope allows, and who a key
says is calling.

A key reads ``dk_<key id>_<secret>``. The key id is public (it names the key in listings and
logs); only a SHA-256 digest of the secret is stored, compared in constant time. The secret
carries 256 random bits, so a fast digest is enough: there is nothing to brute-force. The
whole key is shown once, when it is created."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dialer.errors import DialerError, InvalidInput, NotFound, Problem
from dialer.ports import NewApiKey, Store, StoredApiKey

PREFIX = "dk"
KEY_ID_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class KeyScope(StrEnum):
    """What a key may do; each scope includes the ones below it."""

    VIEWER = "viewer"  # read
    OPERATOR = "operator"  # also change campaigns, contacts, calls, the tenant's lists
    ADMIN = "admin"  # also manage the tenant's keys and add to the global do-not-call list
    # Also remove global do-not-call entries and read who listed each one and why: the
    # operator of the deployment, never a tenant. Created only from the command line.
    PLATFORM = "platform"

    def includes(self, needed: KeyScope) -> bool:
        order = list(KeyScope)
        return order.index(self) >= order.index(needed)


API_SCOPES = (KeyScope.VIEWER, KeyScope.OPERATOR, KeyScope.ADMIN)  # what the API may create


class Unauthenticated(DialerError):
    """No key, or a key that is malformed, unknown or revoked."""


class Forbidden(DialerError):
    """A valid key whose scope does not allow the request."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every query is scoped to, and the key's scope."""

    tenant_id: int
    tenant: str
    scope: KeyScope
    key_id: str

    def require(self, needed: KeyScope) -> None:
        if not self.scope.includes(needed):
            raise Forbidden(f"this needs a key with the {needed} scope; this key is {self.scope}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    return key_id, secret


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise InvalidInput(Problem("name", "1 to 100 printable characters"))
    return name


async def create_key(
    store: Store, tenant: str, scope: KeyScope, name: str, now: datetime
) -> tuple[StoredApiKey, str]:
    """Create a key for the tenant (created on first use); returns it with the full token,
    which is never shown again."""
    name = check_name(name)
    key_id, secret = secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES)
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        new = NewApiKey(tenant_id, key_id, hash_secret(secret), scope.value, name)
        stored = await uow.access.add_key(new, now)
        await uow.commit()
    return stored, f"{PREFIX}_{key_id}_{secret}"


async def authenticate(store: Store, token: str) -> Principal:
    parsed = parse_token(token.strip())
    if parsed is None:
        raise Unauthenticated("malformed API key")
    key_id, secret = parsed
    async with store.unit() as uow:
        key = await uow.access.key(key_id)
    digest = hash_secret(secret)
    # Compared even when the key is unknown, so timing tells nothing about which ids exist.
    matches = hmac.compare_digest(key.secret_hash if key else _DUMMY_HASH, digest)
    if key is None or not matches or key.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return Principal(key.tenant_id, key.tenant, KeyScope(key.scope), key.key_id)


async def key_principal(store: Store, key_id: str) -> Principal:
    """The live key's tenant and scope by its public id, for a holder that keeps only the id
    (a dashboard session); Unauthenticated when the key is unknown or revoked."""
    async with store.unit() as uow:
        key = await uow.access.key(key_id)
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return Principal(key.tenant_id, key.tenant, KeyScope(key.scope), key.key_id)


async def list_keys(store: Store, tenant_id: int | None) -> list[StoredApiKey]:
    async with store.unit() as uow:
        return await uow.access.keys(tenant_id)


async def revoke_key(store: Store, key_id: str, tenant_id: int | None, now: datetime) -> None:
    """Revoke a live key (of this tenant, unless None); NotFound when there is none."""
    async with store.unit() as uow:
        if not await uow.access.revoke_key(key_id, tenant_id, now):
            raise NotFound(f"no live API key {key_id!r}")
        await uow.commit()
