"""Commands of the REST API: ``dialer serve`` and ``dialer keys create|list|revoke``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialer.api.server import serve as serve_forever
from dialer.bootstrap import open_store
from dialer.cli.common import run_command
from dialer.observability.logs import set_verbose
from dialer.ports import StoredApiKey
from dialer.services import access
from dialer.services.access import KeyScope
from dialer.settings import load_settings

keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
console = Console()
PLATFORM_TENANT = "platform"


def serve(
    api_only: Annotated[
        bool,
        typer.Option(
            "--api-only", help="Serve the API and webhooks only; dispatchers run elsewhere."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the REST API (/v1), the provider webhooks, /metrics and health on DIALER_LISTEN,
    and run the dispatcher, reaper and reconciler in the same process."""
    set_verbose(verbose)  # the format is set as the command starts (dialer.observability)

    def ready(url: str) -> None:
        mode = "API only" if api_only else "API and dispatcher"
        console.print(f"dialer listening on {url} ({mode})", highlight=False)

    run_command(serve_forever(load_settings(), api_only=api_only, on_ready=ready))


@keys.command("create")
def keys_create(
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant (created on first use). Default: DIALER_TENANT ('default'); "
            "platform keys: 'platform'."
        ),
    ] = None,
    scope: Annotated[
        KeyScope,
        typer.Option(help="What the key may do; 'platform' keys are made only here."),
    ] = KeyScope.VIEWER,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
) -> None:
    """Create a key and print it: it is shown this once, never again."""
    owner = _key_tenant(tenant, scope)

    async def create() -> tuple[StoredApiKey, str]:
        async with open_store(load_settings()) as store:
            return await access.create_key(store, owner, scope, name, datetime.now(UTC))

    key, token = run_command(create())
    console.print(f"key {key.key_id} ({key.scope}) for tenant {key.tenant}:", highlight=False)
    print(token)


def _key_tenant(tenant: str | None, scope: KeyScope) -> str:
    """A tenant key is for the tenant the CLI works as (DIALER_TENANT) unless one is named; a
    platform key belongs to the deployment, so it gets a tenant of its own."""
    if tenant is not None:
        return tenant
    if scope is KeyScope.PLATFORM:
        return PLATFORM_TENANT
    return load_settings().tenant


@keys.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Keys with their tenant, scope and state (never their secrets)."""

    async def load() -> list[StoredApiKey]:
        async with open_store(load_settings()) as store:
            return await access.list_keys(store, None)

    found = [k for k in run_command(load()) if tenant is None or k.tenant == tenant]
    rows = [
        {
            "key_id": k.key_id,
            "tenant": k.tenant,
            "scope": k.scope,
            "name": k.name,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in found
    ]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="API keys")
    columns = ("key_id", "tenant", "scope", "name", "created_at", "revoked_at")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in columns))
    console.print(table)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (from keys list).")],
) -> None:
    """Revoke a key: it is refused from the next request on."""

    async def revoke() -> None:
        async with open_store(load_settings()) as store:
            await access.revoke_key(store, key_id, None, datetime.now(UTC))

    run_command(revoke())
    console.print(f"key {key_id} revoked", highlight=False)
