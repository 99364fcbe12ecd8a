"""/v1/keys: a tenant's API keys, managed with an admin key. The first admin key of a tenant
comes from the command line: ``dialer keys create --tenant NAME --scope admin``; platform keys
come only from there."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from dialer.api.auth import Admin, KeyCache, RuntimeDep
from dialer.api.models import Text, _In
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.ports import StoredApiKey
from dialer.services import access
from dialer.services.access import API_SCOPES, Forbidden, KeyScope

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)

KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


class KeyIn(_In):
    name: Text
    scope: KeyScope = KeyScope.VIEWER


class KeyOut(BaseModel):
    key_id: str
    name: str
    scope: KeyScope
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: StoredApiKey) -> KeyOut:
        return cls(
            key_id=key.key_id,
            name=key.name,
            scope=KeyScope(key.scope),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class NewKeyOut(KeyOut):
    token: str = Field(description="The whole key: shown this once, never again")


@router.get("", response_model=list[KeyOut])
async def list_keys(caller: Admin, runtime: RuntimeDep) -> list[KeyOut]:
    """The tenant's keys (never their secrets)."""
    return [KeyOut.of(k) for k in await access.list_keys(runtime.store, caller.tenant_id)]


@router.post("", status_code=201, response_model=NewKeyOut)
async def create_key(caller: Admin, runtime: RuntimeDep, body: KeyIn) -> NewKeyOut:
    """A new key for this tenant; the answer holds the whole key, shown once. Never a
    platform key: whoever holds the API holds a tenant's key at most."""
    if body.scope not in API_SCOPES:
        raise Forbidden(
            f"{body.scope} keys are created only from the command line "
            f"(dialer keys create --scope {body.scope})"
        )
    now = runtime.services.clock.now()
    key, token = await access.create_key(runtime.store, caller.tenant, body.scope, body.name, now)
    return NewKeyOut(**KeyOut.of(key).model_dump(), token=token)


@router.delete("/{key_id}", status_code=204, response_model=None)
async def revoke_key(caller: Admin, runtime: RuntimeDep, request: Request, key_id: KeyId) -> None:
    """Revoke a key of this tenant: it is refused from the next request on (by other
    processes of the deployment within two seconds)."""
    now = runtime.services.clock.now()
    await access.revoke_key(runtime.store, key_id, caller.tenant_id, now)
    cache: KeyCache = request.app.state.key_cache
    cache.forget(key_id)
