"""The simulator speaks Twilio's REST format: the official client works against it, and its
refusals carry Twilio's status codes, error codes and error JSON."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.server import running_simulator

if TYPE_CHECKING:
    from tests.support.simulation import Receiver

TO = "+14155550123"
FROM = "+14155550100"
MakeConfig = Callable[..., SimulatorConfig]


@contextlib.asynccontextmanager
async def api(config: SimulatorConfig) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in to a running simulator, based at the account's Calls."""
    async with running_simulator(config) as url:
        base = f"{url}/2010-04-01/Accounts/{config.account_sid}/"
        auth = (config.account_sid, config.auth_token)
        async with httpx.AsyncClient(base_url=base, auth=auth) as client:
            yield client


def root(client: httpx.AsyncClient, path: str) -> str:
    """A path from the server's root (a relative one would go under the account)."""
    return str(client.base_url.join(path))


def create_form(receiver: Receiver | None = None, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {"To": TO, "From": FROM, "Url": "https://example.com/answer.xml"}
    if receiver is not None:
        form["StatusCallback"] = receiver.url()
        form["StatusCallbackEvent"] = ["initiated", "ringing", "answered", "completed"]
    return {k: v for k, v in {**form, **changes}.items() if v != ""}


# ---------------------------------------------------------------- the official client


def official_client_session(url: str, config: SimulatorConfig, callback: str) -> dict[str, Any]:
    client = Client(config.account_sid, config.auth_token)
    client.api.base_url = url  # every Api request goes to the simulator
    try:
        call = client.calls.create(
            to=TO,
            from_=FROM,
            url="https://example.com/answer.xml",
            status_callback=callback,
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=600,
        )
        fetched = client.calls(call.sid).fetch()
        listed = client.calls.list(to=TO, start_time_after=datetime.now(UTC) - timedelta(1))
        canceled = client.calls(call.sid).update(status="canceled")
        try:
            client.calls("CA" + "f" * 32).fetch()
        except TwilioRestException as exc:
            missing = exc
        return {
            "call": call,
            "fetched": fetched,
            "listed": listed,
            "canceled": canceled,
            "missing": missing,
        }
    finally:
        session = client.http_client.session  # type: ignore[attr-defined]
        if session is not None:
            session.close()


async def test_the_official_twilio_client_creates_fetches_lists_and_cancels(
    receiver: Receiver, sim_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    config = sim_config(outcome_overrides={TO: Outcome.NO_ANSWER})
    async with running_simulator(config) as url:
        seen = await asyncio.to_thread(official_client_session, url, config, receiver.url())
        async with asyncio.timeout(5):
            await receiver.recorder.wait_for_status(seen["call"].sid, "canceled")

    call = seen["call"]
    assert call.sid.startswith("CA")
    assert len(call.sid) == 34
    assert call.status == "queued"
    assert (call.to, call._from, call.account_sid) == (TO, FROM, config.account_sid)
    assert isinstance(call.date_created, datetime)
    assert call.direction == "outbound-api"
    assert seen["fetched"].sid == call.sid
    assert [c.sid for c in seen["listed"]] == [call.sid]
    assert seen["canceled"].status == "canceled"
    assert seen["missing"].status == 404
    assert seen["missing"].code == 20404


# ---------------------------------------------------------------- refusals


async def test_missing_or_wrong_credentials_are_refused_like_twilio(
    sim_config: MakeConfig,
) -> None:
    config = sim_config()
    async with running_simulator(config) as url, httpx.AsyncClient() as client:
        calls = f"{url}/2010-04-01/Accounts/{config.account_sid}/Calls.json"
        anonymous = await client.post(calls, data=create_form())
        wrong = await client.get(calls, auth=(config.account_sid, "nope"))

    for response in (anonymous, wrong):
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"To": ""}, 21201),
        ({"From": ""}, 21213),
        ({"Url": ""}, 21205),
        ({"To": "14155550123"}, 21211),
        ({"To": "+0123"}, 21211),
        ({"From": "caller"}, 21212),
        ({"StatusCallbackEvent": "hangup"}, 21626),
        ({"Timeout": "0"}, 20001),
    ],
)
async def test_invalid_creates_get_twilios_400s(
    sim_config: MakeConfig, changes: dict[str, str], code: int
) -> None:
    async with api(sim_config()) as client:
        response = await client.post("Calls.json", data=create_form(**changes))
        stats = (await client.get(root(client, "/_sim/stats"))).json()

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["status"] == 400
    assert stats["calls_created"] == 0
    assert stats["rejected_4xx"] == 1


async def test_twiml_instead_of_url_is_accepted(sim_config: MakeConfig) -> None:
    async with api(sim_config()) as client:
        response = await client.post(
            "Calls.json", data=create_form(Url="", Twiml="<Response><Pause/></Response>")
        )

    assert response.status_code == 201


async def test_unknown_calls_and_other_accounts_are_404(sim_config: MakeConfig) -> None:
    config = sim_config()
    async with api(config) as client:
        unknown = await client.get(f"Calls/CA{'0' * 32}.json")
        hang_up = await client.post(f"Calls/CA{'0' * 32}.json", data={"Status": "canceled"})
        other = await client.get(root(client, f"/2010-04-01/Accounts/AC{'1' * 32}/Calls.json"))

    assert [r.status_code for r in (unknown, hang_up, other)] == [404, 404, 404]
    assert {r.json()["code"] for r in (unknown, hang_up, other)} == {20404}


async def test_over_the_cps_limit_creates_get_429_with_retry_after(
    sim_config: MakeConfig,
) -> None:
    config = sim_config(speed=1.0, cps=3.0, outcome_overrides={TO: Outcome.FAILED})
    async with api(config) as client:
        responses = [await client.post("Calls.json", data=create_form()) for _ in range(5)]
        stats = (await client.get(root(client, "/_sim/stats"))).json()

    assert [r.status_code for r in responses] == [201, 201, 201, 429, 429]
    throttled = responses[-1]
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["code"] == 20429
    assert throttled.json()["message"] == "Too Many Requests"
    assert (stats["calls_created"], stats["rejected_429"]) == (3, 2)


async def test_injected_errors_create_nothing(sim_config: MakeConfig) -> None:
    async with api(sim_config(error_rate=1.0)) as client:
        responses = [await client.post("Calls.json", data=create_form()) for _ in range(6)]
        listed = (await client.get("Calls.json")).json()
        stats = (await client.get(root(client, "/_sim/stats"))).json()

    assert {r.status_code for r in responses} <= {500, 503}
    assert {r.json()["code"] for r in responses} <= {20500, 20503}
    assert listed["calls"] == []
    assert (stats["calls_created"], stats["rejected_5xx"]) == (0, 6)


# ---------------------------------------------------------------- look-ups and hang-ups


async def test_listing_filters_by_to_from_and_start_time_and_pages(
    sim_config: MakeConfig,
) -> None:
    async with api(sim_config(outcome_overrides={TO: Outcome.FAILED})) as client:
        sids = [
            (await client.post("Calls.json", data=create_form())).json()["sid"] for _ in range(5)
        ]
        await client.post("Calls.json", data=create_form(From="+14155550101"))
        await client.post("Calls.json", data=create_form(To="+14155550124"))
        today = datetime.now(UTC).date()
        query = {"To": TO, "From": FROM, "StartTime>": today.isoformat(), "PageSize": 2}
        pages = [(await client.get("Calls.json", params=query)).json()]
        while pages[-1]["next_page_uri"]:
            pages.append((await client.get(root(client, pages[-1]["next_page_uri"]))).json())
        tomorrow = {"To": TO, "StartTime>": (today + timedelta(1)).isoformat()}
        none_yet = (await client.get("Calls.json", params=tomorrow)).json()
        everything = (await client.get("Calls.json")).json()

    assert [len(p["calls"]) for p in pages] == [2, 2, 1]
    assert [c["sid"] for p in pages for c in p["calls"]] == sids[::-1]  # newest first
    assert none_yet["calls"] == []
    assert len(everything["calls"]) == 7


async def test_start_time_filter_on_the_wire_is_twilios_greater_or_equal_syntax(
    sim_config: MakeConfig,
) -> None:
    async with api(sim_config(outcome_overrides={TO: Outcome.FAILED})) as client:
        sid = (await client.post("Calls.json", data=create_form())).json()["sid"]
        today = datetime.now(UTC).date().isoformat()
        # What the docs write as ?StartTime>=2024-05-01 is the parameter "StartTime>".
        response = await client.get(f"Calls.json?To=%2B14155550123&StartTime>={today}")

    assert [c["sid"] for c in response.json()["calls"]] == [sid]


async def test_canceled_leaves_an_answered_call_alone_and_completed_ends_it(
    receiver: Receiver, sim_config: MakeConfig
) -> None:
    config = sim_config(outcome_overrides={TO: Outcome.ANSWER}, talk_mean=1e9)
    async with api(config) as client:
        created = await client.post("Calls.json", data=create_form(receiver))
        sid = created.json()["sid"]
        async with asyncio.timeout(5):
            await receiver.recorder.wait_for_status(sid, "in-progress")
        canceled = await client.post(f"Calls/{sid}.json", data={"Status": "canceled"})
        completed = await client.post(f"Calls/{sid}.json", data={"Status": "completed"})
        again = await client.post(f"Calls/{sid}.json", data={"Status": "completed"})
        stats = (await client.get(root(client, "/_sim/stats"))).json()

    assert canceled.json()["status"] == "in-progress"
    assert completed.json()["status"] == "completed"
    assert int(completed.json()["duration"]) >= 1
    assert completed.json()["end_time"] is not None
    assert again.status_code == 400
    assert again.json()["code"] == 21220
    assert stats["hangups"] == 1
    assert stats["outcomes"] == {"completed": 1}


# ---------------------------------------------------------------- runtime settings


async def test_fault_rates_change_at_runtime(sim_config: MakeConfig) -> None:
    async with api(sim_config(outcome_overrides={TO: Outcome.FAILED})) as client:
        before = await client.post("Calls.json", data=create_form())
        changed = await client.post(root(client, "/_sim/config"), json={"error_rate": 1.0})
        during = await client.post("Calls.json", data=create_form())
        await client.post(root(client, "/_sim/config"), json={"error_rate": 0})
        after = await client.post("Calls.json", data=create_form())
        shown = (await client.get(root(client, "/_sim/config"))).json()

    assert before.status_code == 201
    assert during.status_code in (500, 503)
    assert after.status_code == 201
    assert changed.json()["error_rate"] == 1.0
    assert shown["error_rate"] == 0.0
    assert shown["auth_token"] == "***"


async def test_bad_runtime_settings_are_refused_and_change_nothing(
    sim_config: MakeConfig,
) -> None:
    async with api(sim_config()) as client:
        bad = await client.post(
            root(client, "/_sim/config"), json={"error_rate": 2, "speed": 5, "nonsense": 1}
        )
        wrong_type = await client.post(root(client, "/_sim/config"), json={"cps": "fast"})
        not_json = await client.post(root(client, "/_sim/config"), content=b"{")
        shown = (await client.get(root(client, "/_sim/config"))).json()

    assert bad.status_code == 400
    assert {p["location"] for p in bad.json()["problems"]} == {"speed", "nonsense"}
    assert wrong_type.status_code == 400
    assert wrong_type.json()["problems"][0]["location"] == "cps"
    assert not_json.status_code == 400
    assert (shown["error_rate"], shown["cps"], shown["speed"]) == (0.0, 100.0, 100.0)


async def test_beyond_the_kept_number_the_oldest_ended_calls_are_forgotten(
    sim_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dialer.simulator.engine.CALLS_KEPT", 3)
    async with api(sim_config(outcome_overrides={TO: Outcome.FAILED})) as client:
        sids = []
        for _ in range(5):
            sids.append((await client.post("Calls.json", data=create_form())).json()["sid"])
            await asyncio.sleep(0.05)  # 2 simulated seconds: the call has failed
        found = [(await client.get(f"Calls/{sid}.json")).status_code for sid in sids]
        listed = (await client.get("Calls.json", params={"To": TO})).json()["calls"]

    assert found == [404, 404, 200, 200, 200]
    assert [c["sid"] for c in listed] == sids[:1:-1]
