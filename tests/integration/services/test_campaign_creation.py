"""Creating a campaign: one entry point checks every deployment limit (the largest campaign
cap, the lease, provider URLs), whoever creates it — the API or ``dialer run``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from dialer.adapters.clock import ManualClock
from dialer.bootstrap import Runtime, open_runtime
from dialer.campaign_document import settings_from_mapping
from dialer.cli.main import app
from dialer.errors import InvalidInput
from dialer.services.campaigns import create_campaign
from dialer.settings import load_settings
from tests.support.clock import T0

PROVIDER = {
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": "creation-token",
    "twilio_api_base": "http://127.0.0.1:9",  # never called: nothing is dialled here
}
CAMPAIGN: dict[str, Any] = {"name": "reminders", "caller_id": "+14155550100"}


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def runtime(database_url: str, overrides: dict[str, Any]) -> AsyncIterator[Runtime]:
    settings = load_settings(database_url=database_url, **PROVIDER, **overrides)
    async with open_runtime(settings, clock=ManualClock(T0)) as runtime:
        yield runtime


async def campaigns_stored(runtime: Runtime) -> int:
    async with runtime.store.unit() as uow:
        tenant_id = await uow.tenants.id_for("default")
        return len(await uow.campaigns.of_tenant(tenant_id, 0, 100))


async def refusal(runtime: Runtime, document: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as info:
        await create_campaign(runtime.services, "default", settings_from_mapping(document))
    [problem] = info.value.problems
    assert await campaigns_stored(runtime) == 0
    return problem.location, problem.message


@pytest.mark.parametrize("overrides", [{"campaign_max_concurrency": 20}])
async def test_a_cap_above_the_largest_campaign_cap_is_refused(runtime: Runtime) -> None:
    where, what = await refusal(runtime, CAMPAIGN | {"max_concurrency": 21})
    assert where == "max_concurrency"
    assert "DIALER_CAMPAIGN_MAX_CONCURRENCY" in what
    assert "20" in what


@pytest.mark.parametrize("overrides", [{"campaign_max_concurrency": 20}])
async def test_a_cap_at_the_largest_campaign_cap_is_created(runtime: Runtime) -> None:
    settings = settings_from_mapping(CAMPAIGN | {"max_concurrency": 20})
    campaign = await create_campaign(runtime.services, "default", settings)
    assert campaign.settings.max_concurrency == 20


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/answer",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://127.0.0.1:8080/twiml",
        "http://localhost/twiml",
        "https://10.1.2.3/twiml",
        "http://192.168.0.10/twiml",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 written as one decimal number
    ],
)
async def test_an_internal_answer_url_is_refused(runtime: Runtime, url: str) -> None:
    where, what = await refusal(runtime, CAMPAIGN | {"answer_url": url})
    assert where == "answer_url"
    assert "DIALER_ALLOW_PRIVATE_ANSWER_URLS" in what


@pytest.mark.parametrize("overrides", [{"allow_private_answer_urls": True}])
async def test_internal_answer_urls_are_allowed_when_the_deployment_says_so(
    runtime: Runtime,
) -> None:
    url = "http://169.254.169.254/twiml"
    settings = settings_from_mapping(CAMPAIGN | {"answer_url": url})
    campaign = await create_campaign(runtime.services, "default", settings)
    assert campaign.settings.answer_url == url


async def test_a_public_answer_url_is_accepted(runtime: Runtime) -> None:
    url = "https://twiml.example.com/answer?campaign=1"
    settings = settings_from_mapping(CAMPAIGN | {"answer_url": url})
    campaign = await create_campaign(runtime.services, "default", settings)
    assert campaign.settings.answer_url == url


def dialer_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, campaign: str) -> Result:
    env = {
        "DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "DIALER_CAMPAIGN_MAX_CONCURRENCY": "20",
        "DIALER_LISTEN": "127.0.0.1:0",
        "TWILIO_ACCOUNT_SID": PROVIDER["twilio_account_sid"],
        "TWILIO_AUTH_TOKEN": PROVIDER["twilio_auth_token"],
        "DIALER_TWILIO_API_BASE": PROVIDER["twilio_api_base"],
        "COLUMNS": "200",  # one problem, one line
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    campaign_file = tmp_path / "campaign.yaml"
    campaign_file.write_text(campaign)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n+12125550100\n")
    return CliRunner().invoke(app, ["run", str(campaign_file), "--contacts", str(contacts)])


def test_dialer_run_refuses_a_cap_above_the_largest_campaign_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = 'name: big\ncaller_id: "+14155550100"\nmax_concurrency: 21\n'
    result = dialer_run(tmp_path, monkeypatch, campaign)
    assert result.exit_code == 2, result.output
    assert "max_concurrency: 21 is above the largest campaign cap 20" in result.stderr
    assert "Traceback" not in result.stderr


ALIAS_BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        (ALIAS_BOMB, "aliases (*name) and merge keys are not allowed"),
        ("name: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 32 levels"),
        ("name: x\n" + "#" * (1 << 20) + "\n", "larger than 1 MiB"),
    ],
    ids=["alias bomb", "deep nesting", "too large"],
)
def test_dialer_run_refuses_a_hostile_campaign_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, campaign: str, message: str
) -> None:
    result = dialer_run(tmp_path, monkeypatch, campaign)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "RecursionError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # "Invalid input:" and the problem
