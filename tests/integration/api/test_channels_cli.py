"""The command line's view of channels, on SQLite and PostgreSQL: `dialer dnc --channel
sms|email` keeps the tenant's opt-out lists (the same the API keeps), and `dialer status`
shows the messages of campaigns with SMS or email steps."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from dialer.bootstrap import Runtime
from dialer.cli.main import app
from tests.support.api import Keys, bearer, new_campaign
from tests.support.messages import STEPS, plant_messages


@pytest.fixture(autouse=True)
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_DATABASE_URL", database_url)
    monkeypatch.setenv("DIALER_TENANT", "acme")  # the API keys' tenant
    monkeypatch.delenv("DIALER_REDIS_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # tables one row a line


async def dialer(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _listed(client: httpx.AsyncClient, keys: Keys, channel: str) -> list[Any]:
    response = await client.get(f"/v1/opt-outs/{channel}", headers=bearer(keys.viewer))
    return [(e["address"], e["reason"]) for e in response.json()["items"]]


async def test_dnc_channel_adds_lists_and_removes_opt_outs(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    added = await dialer("dnc", "add", "--channel", "sms", "(212) 555-0100", "+14155550123")
    assert added.exit_code == 0, added.output
    assert "2 opted out of sms, 0 already were." in added.output
    emailed = await dialer(
        "dnc", "add", "--channel", "email", "Ada@Example.com", "--reason", "asked"
    )
    assert emailed.exit_code == 0, emailed.output
    assert await _listed(client, keys, "sms") == [
        ("+12125550100", "listed by an operator"),
        ("+14155550123", "listed by an operator"),
    ]
    # Kept in lower case: "Ada@" and "ada@" are one mailbox to every mail service.
    assert await _listed(client, keys, "email") == [("ada@example.com", "asked")]

    shown = await dialer("dnc", "list", "--channel", "sms")
    assert shown.exit_code == 0, shown.output
    assert "+1212*****00" in shown.output
    assert "+12125550100" not in shown.output
    emails = await dialer("dnc", "list", "--channel", "email")
    assert "a***@example.com" in emails.output
    assert "ada@" not in emails.output
    plain = await dialer("dnc", "list")  # the do-not-call list is another list
    assert "+1212" not in plain.output

    removed = await dialer("dnc", "remove", "--channel", "sms", "+1 212 555 0100", "+13125550100")
    assert removed.exit_code == 0, removed.output
    assert "1 removed, 1 were not opted out of sms." in removed.output
    assert await _listed(client, keys, "sms") == [("+14155550123", "listed by an operator")]


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["dnc", "add", "--channel", "email", "ada@example.com", "nobody"], "argument 2"),
        (["dnc", "add", "--channel", "sms", "not-a-number"], "argument 1"),
        (["dnc", "remove", "--channel", "sms", "+12125550100", "x"], "argument 2"),
        (["dnc", "add", "--channel", "sms", "--global", "+12125550100"], "--channel"),
        (["dnc", "list", "--channel", "email", "--global"], "--channel"),
    ],
)
async def test_bad_opt_outs_are_refused_naming_the_argument(
    client: httpx.AsyncClient, keys: Keys, args: list[str], where: str
) -> None:
    result = await dialer(*args)
    assert result.exit_code == 2, result.output
    assert f"{where}:" in result.output
    assert await _listed(client, keys, "sms") == await _listed(client, keys, "email") == []


async def test_an_unknown_channel_is_refused(client: httpx.AsyncClient, keys: Keys) -> None:
    result = await dialer("dnc", "add", "--channel", "fax", "+12125550100")
    assert result.exit_code == 2
    assert await _listed(client, keys, "sms") == []


async def test_status_shows_the_messages_of_campaigns_with_steps(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    with_steps = await new_campaign(client, keys.operator, name="with-steps", steps=STEPS)
    await new_campaign(client, keys.operator, name="calls-only")
    await plant_messages(runtime, with_steps["id"], datetime.now(UTC))
    as_json = await dialer("status", "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows["calls-only"]["channels"] == {}
    sms, email = rows["with-steps"]["channels"]["sms"], rows["with-steps"]["channels"]["email"]
    assert sms["by_status"] == {"DELIVERED": 1, "UNDELIVERED": 1, "PENDING": 1}
    assert (sms["delivered"], sms["failed"], sms["pending"], sms["total"]) == (1, 1, 1, 3)
    assert (email["sent"], email["waiting"], email["total"]) == (1, 1, 2)

    table = await dialer("status")
    assert table.exit_code == 0, table.output
    cells = [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in table.stdout.splitlines()
        if "│ with-steps " in line
    ]
    # its row in the campaigns table, then one per channel in the messages table: id,
    # campaign, channel, waiting, pending, sent, delivered, failed, skipped, total
    assert cells[1:] == [
        [str(with_steps["id"]), "with-steps", "sms", "0", "1", "0", "1", "1", "0", "3"],
        [str(with_steps["id"]), "with-steps", "email", "1", "0", "1", "0", "0", "0", "2"],
    ]
    assert "calls-only │ sms" not in table.stdout


async def test_limits_sets_and_shows_the_tenants_message_rates(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    """`dialer limits` keeps the same settings as `PUT /v1/limits`, message rates among them."""
    shown = await dialer("limits", "--sms-per-second", "5", "--email-per-second", "20")
    assert shown.exit_code == 0, shown.output
    assert "Message rates: sms 5/s, email 20/s." in shown.output
    read = await client.get("/v1/limits", headers=bearer(keys.viewer))
    assert (read.json()["sms_per_second"], read.json()["email_per_second"]) == (5, 20)
    refused = await dialer("limits", "--sms-per-second", "0")
    assert refused.exit_code != 0
    assert "sms_per_second" in refused.output
    cleared = await dialer("limits", "--clear")
    assert "Message rates: none of its own." in cleared.output
