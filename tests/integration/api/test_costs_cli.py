"""`dialer rate-cards load|list` and `dialer costs`, on SQLite and PostgreSQL: a YAML card is
stored as the next version (a bad one refused naming each key, storing nothing), every
version is listed, and a tenant's charges are summed per campaign, day and channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from dialer.adapters.store.sql import SqlStore
from dialer.adapters.store.tables import tenants
from dialer.cli.main import app
from dialer.domain.costs import CostChannel, RateCard
from dialer.ports import Store
from dialer.ports.cost_store import NewCharge

DAY1, DAY2 = date(2026, 12, 1), date(2026, 12, 2)
CALLS_V1 = """\
provider: twilio
channel: call
currency: USD
increment: 60/60
prices:
  - {prefix: "1", per_minute: 0.0140}
  - {prefix: "44", per_minute: 0.0255, increment: 1/1}
"""
CALLS_V2 = """\
provider: twilio
channel: call
currency: USD
effective_at: 2099-01-01T00:00:00Z
prices:
  - {prefix: "1", per_minute: 0.0150}
  - {prefix: "44", per_minute: 0.0260}
  - {prefix: "49", per_minute: 0.0300, connection_fee: 0.01}
"""
SMS = """\
provider: twilio
channel: sms
currency: EUR
prices:
  - {prefix: "1", per_segment: 0.0079}
"""


@pytest.fixture(autouse=True)
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_DATABASE_URL", database_url)
    monkeypatch.setenv("DIALER_TENANT", "acme")
    monkeypatch.delenv("DIALER_REDIS_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # tables one row a line


async def dialer(*args: str) -> Result:
    """The command run as an operator would, off the test's event loop (it runs its own)."""
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, list(args)))


def rows(result: Result) -> list[list[str]]:
    """The body rows of the table printed, cell by cell."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]


def header(result: Result) -> list[str]:
    [line] = [line for line in result.stdout.splitlines() if line.startswith("┃")]
    return [cell.strip() for cell in line.split("┃")[1:-1]]


async def store_cards(store: Store) -> list[RateCard]:
    async with store.unit() as uow:
        return await uow.costs.cards()


def card_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_cards_are_loaded_as_versions_and_listed(store: Store, tmp_path: Path) -> None:
    first = await dialer("rate-cards", "load", card_file(tmp_path, "v1.yaml", CALLS_V1))
    assert first.exit_code == 0, first.output
    [stored] = await store_cards(store)
    assert (stored.provider, stored.channel, stored.version) == ("twilio", CostChannel.CALL, 1)
    effective = f"{stored.effective_at:%Y-%m-%d %H:%M:%S}"  # none given: when it was stored
    assert first.stdout.strip() == (
        f"Stored twilio call rate card version 1: 2 prices in USD, effective from {effective} UTC."
    )

    second = await dialer("rate-cards", "load", card_file(tmp_path, "v2.yaml", CALLS_V2))
    assert second.exit_code == 0, second.output
    assert "twilio call rate card version 2: 3 prices in USD" in second.stdout
    assert "effective from 2099-01-01 00:00:00 UTC." in second.stdout
    sms = await dialer("rate-cards", "load", card_file(tmp_path, "sms.yaml", SMS))
    assert "twilio sms rate card version 1: 1 price in EUR" in sms.stdout

    v1, v2, v3 = await store_cards(store)
    assert [(c.channel, c.version) for c in (v1, v2, v3)] == [
        (CostChannel.CALL, 1),
        (CostChannel.CALL, 2),
        (CostChannel.SMS, 1),
    ]
    assert [p.per_minute for p in v2.prices] == [
        Decimal("0.0150"),
        Decimal("0.0260"),
        Decimal("0.03"),
    ]
    assert v2.prices[2].connection_fee == Decimal("0.01")
    assert v3.prices[0].per_segment == Decimal("0.0079")

    listed = await dialer("rate-cards", "list")
    assert listed.exit_code == 0, listed.output
    assert header(listed) == [
        "id",
        "provider",
        "channel",
        "version",
        "currency",
        "effective (UTC)",
        "prices",
    ]
    assert rows(listed) == [
        [str(v1.id), "twilio", "call", "1", "USD", effective, "2"],
        [str(v2.id), "twilio", "call", "2", "USD", "2099-01-01 00:00:00", "3"],
        [str(v3.id), "twilio", "sms", "1", "EUR", f"{v3.effective_at:%Y-%m-%d %H:%M:%S}", "1"],
    ]
    calls = await dialer("rate-cards", "list", "--provider", "twilio", "--channel", "call")
    assert [row[3] for row in rows(calls)] == ["1", "2"]
    assert rows(await dialer("rate-cards", "list", "--provider", "plivo")) == []
    assert (await dialer("rate-cards", "list", "--channel", "fax")).exit_code == 2


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            CALLS_V1.replace("USD", "usd").replace("0.0140", "-1"),
            [
                "currency: expected an ISO 4217 code such as USD or EUR, got 'usd'",
                "prices[0].per_minute: Input should be greater than or equal to 0",
            ],
        ),
        (
            CALLS_V1.replace("per_minute: 0.0255", "per_segment: 0.0255"),
            [
                "prices[1].per_minute: required on a call card",
                "prices[1].per_segment: not charged on a call card",
            ],
        ),
        (
            CALLS_V2.replace("2099", "2020"),
            ["effective_at: a rate card cannot take effect in the past"],
        ),
        (CALLS_V1 + "currency: EUR\n", ["line 8, column 1: not valid YAML"]),
    ],
    ids=["bad-values", "wrong-channel-price", "past", "key-twice"],
)
async def test_a_bad_card_is_refused_naming_each_key_and_nothing_is_stored(
    store: Store, tmp_path: Path, text: str, problems: list[str]
) -> None:
    result = await dialer("rate-cards", "load", card_file(tmp_path, "bad.yaml", text))
    assert result.exit_code == 2, result.output
    for problem in problems:
        assert f"  {problem}" in result.stderr
    assert result.stdout == ""
    assert await store_cards(store) == []


async def test_a_file_that_cannot_be_read_is_named(store: Store, tmp_path: Path) -> None:
    missing = await dialer("rate-cards", "load", str(tmp_path / "nowhere.yaml"))
    assert missing.exit_code == 2
    assert f"{tmp_path / 'nowhere.yaml'}: cannot be read: No such file" in missing.stderr
    binary = tmp_path / "card.yaml"
    binary.write_bytes(b"provider: tw\xffilio\n")
    refused = await dialer("rate-cards", "load", str(binary))
    assert refused.exit_code == 2
    assert f"{binary}: not UTF-8 text (byte 13)" in refused.stderr
    assert await store_cards(store) == []


async def charge_tenants(store: Store) -> None:
    """Charges of two tenants: acme's in two campaigns, two days, two channels, two
    currencies; another tenant's that acme's rollups never include."""
    async with store.unit() as uow:
        acme, other = await uow.tenants.id_for("acme"), await uow.tenants.id_for("other")
        await uow.costs.record_charges(
            [
                charge(acme, 1, "0.013", provider_amount=Decimal("0.012")),
                charge(acme, 2, "0.0079", channel=CostChannel.SMS),
                charge(acme, 3, "1.5", campaign_id=11, day=DAY2),
                charge(acme, 4, "2", currency="EUR", day=DAY2),
                charge(other, 5, "100", campaign_id=12),
            ]
        )
        await uow.commit()


def charge(tenant_id: int, subject: int, amount: str, **changes: object) -> NewCharge:
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "campaign_id": 10,
        "channel": CostChannel.CALL,
        "subject_id": subject,
        "amount": Decimal(amount),
        "currency": "USD",
        "card_id": 1,
        "day": DAY1,
        "created_at": datetime(2026, 12, 1, 12, tzinfo=UTC),
    }
    return NewCharge(**{**values, **changes})  # type: ignore[arg-type]


async def test_costs_sum_the_tenants_charges_per_group(store: SqlStore) -> None:
    await charge_tenants(store)
    by_campaign = await dialer("costs")  # DIALER_TENANT's, per campaign
    assert by_campaign.exit_code == 0, by_campaign.output
    assert "Costs of tenant acme" in by_campaign.stdout
    assert header(by_campaign) == ["campaign", "currency", "amount", "count", "provider amount"]
    assert rows(by_campaign) == [
        ["10", "EUR", "2.000000", "1", ""],
        ["10", "USD", "0.020900", "2", "0.012000"],
        ["11", "USD", "1.500000", "1", ""],
    ]

    by_day = await dialer("costs", "--by", "day", "--by", "channel", "--since", "2026-12-02")
    assert by_day.exit_code == 0, by_day.output
    assert header(by_day)[:3] == ["day", "channel", "currency"]
    assert rows(by_day) == [
        ["2026-12-02", "call", "EUR", "2.000000", "1", ""],
        ["2026-12-02", "call", "USD", "1.500000", "1", ""],
    ]
    one_campaign = await dialer(
        "costs", "--campaign", "10", "--by", "channel", "--until", "2026-12-01"
    )
    assert rows(one_campaign) == [
        ["call", "USD", "0.013000", "1", "0.012000"],
        ["sms", "USD", "0.007900", "1", ""],
    ]
    other = await dialer("costs", "--tenant", "other")
    assert rows(other) == [["12", "USD", "100.000000", "1", ""]]
    nobody = await dialer("costs", "--tenant", "nobody")
    assert nobody.exit_code == 0, nobody.output
    assert rows(nobody) == []
    async with store.engine.connect() as conn:  # reading a tenant's costs creates none
        names = (await conn.execute(select(tenants.c.name))).scalars().all()
    assert sorted(names) == ["acme", "other"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--since", "2026-13-01"], "--since: expected a UTC day as YYYY-MM-DD, got '2026-13-01'"),
        (["--until", "yesterday"], "--until: expected a UTC day as YYYY-MM-DD, got 'yesterday'"),
        (["--since", "2026-12-02", "--until", "2026-12-01"], "--since: 2026-12-02 is after"),
    ],
    ids=["month-13", "not-a-day", "since-after-until"],
)
async def test_bad_days_are_refused_naming_the_option(
    store: Store, args: list[str], problem: str
) -> None:
    await charge_tenants(store)
    result = await dialer("costs", *args)
    assert result.exit_code == 2, result.output
    assert f"  {problem}" in result.stderr
    assert result.stdout == ""
