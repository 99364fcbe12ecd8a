"""Who is calling: an API key in ``Authorization: Bearer <key>`` or ``X-Auth-Token: <key>``,
and the scope each operation needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dialer.bootstrap import Runtime
from dialer.services.api_keys import KeyScope, Principal, Unauthenticated, authenticate

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dk_...`")
token_header = APIKeyHeader(
    name="X-Auth-Token", auto_error=False, description="The same API key, in its own header"
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    token: Annotated[str | None, Security(token_header)],
) -> Principal:
    raw = credentials.credentials if credentials is not None else token
    if not raw:
        raise Unauthenticated("an API key is required (Authorization: Bearer or X-Auth-Token)")
    return await authenticate(runtime.store, raw)


def _scoped(needed: KeyScope) -> object:
    async def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        caller.require(needed)
        return caller

    return Depends(check)


Viewer = Annotated[Principal, _scoped(KeyScope.VIEWER)]
Operator = Annotated[Principal, _scoped(KeyScope.OPERATOR)]
Admin = Annotated[Principal, _scoped(KeyScope.ADMIN)]
