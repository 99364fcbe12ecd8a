"""`dialer keys create|list|revoke` against a real database file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dialer.adapters.clock import ManualClock
from dialer.api.app import create_app
from dialer.bootstrap import open_runtime
from dialer.cli.main import app
from dialer.settings import load_settings
from tests.support.api import BASE, bearer
from tests.support.clock import T0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("DIALER_DATABASE_URL", url)
    return url


@asynccontextmanager
async def _api_on(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API on the CLI's database, in process."""
    settings = load_settings(
        database_url=url,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t",
        twilio_api_base="http://127.0.0.1:9",
    )
    async with open_runtime(settings, clock=ManualClock(T0)) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


async def _status_with(url: str, token: str) -> int:
    async with _api_on(url) as client:
        return (await client.get("/v1/campaigns", headers=bearer(token))).status_code


def test_keys_commands(env: str) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scope", "admin"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("dk_")
    assert asyncio.run(_status_with(env, token)) == 200

    listed = runner.invoke(app, ["keys", "list", "--json"])
    [row] = json.loads(listed.output)
    assert (row["tenant"], row["scope"], row["revoked_at"]) == ("acme", "admin", None)
    assert token.split("_", 2)[2] not in listed.output  # the secret is shown once only

    revoked = runner.invoke(app, ["keys", "revoke", row["key_id"]])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(_status_with(env, token)) == 401
    unknown = runner.invoke(app, ["keys", "revoke", row["key_id"]])
    assert unknown.exit_code == 1


def test_a_bad_scope_is_refused(env: str) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--tenant", "a", "--scope", "root"])
    assert result.exit_code == 2


async def _global_removal_with(url: str, token: str) -> int:
    async with _api_on(url) as client:
        response = await client.delete("/v1/dnc/%2B12125550100?list=global", headers=bearer(token))
        return response.status_code


def test_platform_keys_are_made_from_the_command_line(env: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["dnc", "add", "--global", "+12125550100"])
    assert listed.exit_code == 0, listed.output
    admin = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scope", "admin"])
    assert asyncio.run(_global_removal_with(env, admin.output.strip().splitlines()[-1])) == 403

    created = runner.invoke(app, ["keys", "create", "--scope", "platform"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert asyncio.run(_global_removal_with(env, token)) == 200
    rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    assert ("platform", "platform") in [(row["tenant"], row["scope"]) for row in rows]


def test_a_tenant_key_is_for_the_cli_tenant_unless_named(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every other command, ``keys create`` works as DIALER_TENANT (``default``)."""
    runner = CliRunner()
    monkeypatch.delenv("DIALER_TENANT", raising=False)
    assert runner.invoke(app, ["keys", "create", "--scope", "admin"]).exit_code == 0
    monkeypatch.setenv("DIALER_TENANT", "acme")
    assert runner.invoke(app, ["keys", "create", "--scope", "operator"]).exit_code == 0
    assert runner.invoke(app, ["keys", "create", "--scope", "platform"]).exit_code == 0
    rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    owners = [(row["tenant"], row["scope"]) for row in rows]
    assert owners == [("default", "admin"), ("acme", "operator"), ("platform", "platform")]
