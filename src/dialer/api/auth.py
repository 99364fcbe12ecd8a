"""Who is calling: an API key in ``Authorization: Bearer <key>`` or ``X-Auth-Token: <key>``,
and the scope each operation needs."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dialer.bootstrap import Runtime
from dialer.services.access import KeyScope, Principal, Unauthenticated, authenticate

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dk_...`")
token_header = APIKeyHeader(
    name="X-Auth-Token", auto_error=False, description="The same API key, in its own header"
)


class KeyCache:
    """Keys recently found valid, so a busy client does not cost a database read per
    request. An entry lives ``ttl`` seconds: a key revoked by another process is refused
    within that time (at once when revoked through this process's API)."""

    def __init__(self, ttl: float = 2.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Principal | None:
        return self._fresh(self._key(token))

    def put(self, token: str, caller: Principal) -> None:
        self._store(self._key(token), caller)

    # A key looked up by its public id (a dashboard session keeps only that) is cached under
    # "id:<key id>", which no hex digest of a token can equal.
    def get_by_id(self, key_id: str) -> Principal | None:
        return self._fresh(f"id:{key_id}")

    def put_by_id(self, caller: Principal) -> None:
        self._store(f"id:{caller.key_id}", caller)

    def _fresh(self, entry_key: str) -> Principal | None:
        entry = self._entries.get(entry_key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def _store(self, entry_key: str, caller: Principal) -> None:
        self._entries[entry_key] = (time.monotonic(), caller)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        for digest in [d for d, (_, p) in self._entries.items() if p.key_id == key_id]:
            del self._entries[digest]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    token: Annotated[str | None, Security(token_header)],
) -> Principal:
    raw = credentials.credentials if credentials is not None else token
    if not raw:
        raise Unauthenticated("an API key is required (Authorization: Bearer or X-Auth-Token)")
    cache: KeyCache = request.app.state.key_cache
    caller = cache.get(raw)
    if caller is None:
        caller = await authenticate(runtime.store, raw)
        cache.put(raw, caller)
    return caller


def scoped(needed: KeyScope) -> object:
    async def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        caller.require(needed)
        return caller

    return Depends(check)


Viewer = Annotated[Principal, scoped(KeyScope.VIEWER)]
Operator = Annotated[Principal, scoped(KeyScope.OPERATOR)]
Admin = Annotated[Principal, scoped(KeyScope.ADMIN)]
