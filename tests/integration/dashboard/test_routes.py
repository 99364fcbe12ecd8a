"""The dashboard's pages and forms over the ASGI app: sign-in and sign-out, CSRF, scopes,
tenant isolation, transitions, contact import with its rejection report, dead letters."""

from __future__ import annotations

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.domain.statuses import LeadStatus
from dialer.ports import ContactDraft
from dialer.services.contacts import import_drafts
from tests.support.api import BASE, Keys, bearer, new_campaign, plant_letters
from tests.support.dashboard import csrf_of, sign_in

GOOD_AND_BAD_CSV = b"phone,name\n+12125550100,Ann\nnot-a-number,Bob\n+12125550102,Cy\n"


async def _status(client: httpx.AsyncClient, token: str, campaign_id: int) -> str:
    response = await client.get(f"/v1/campaigns/{campaign_id}", headers=bearer(token))
    status: str = response.json()["status"]
    return status


async def _leads(runtime: Runtime, campaign_id: int) -> dict[LeadStatus, int]:
    async with runtime.store.unit() as uow:
        return await uow.views.lead_counts(campaign_id)


# ------------------------------------------------------------------ sign in and out


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/campaigns/1", "/dashboard/dlq"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login"
    assert (await client.get("/dashboard/events")).status_code == 401


async def test_sign_in_keeps_the_key_out_of_the_browser_and_sign_out_ends_it(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    form = await client.get("/dashboard/login")
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    answer = await client.post(
        "/dashboard/login", data={"api_key": keys.operator, "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 303
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("dialer_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" in cookie  # the test client speaks https
    secret = keys.operator.split("_", 2)[2]
    assert secret not in cookie
    assert secret not in answer.headers["location"]
    session_id = cookie.split(";")[0].split("=", 1)[1]

    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "acme · operator" in page.text
    assert secret not in page.text

    signed_out = await client.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/dashboard/login"
    # The old session id is dead on the server, not merely forgotten by the browser.
    client.cookies.set("dialer_session", session_id, domain="dialer.example.com")
    assert (await client.get("/dashboard")).status_code == 303


async def test_a_plain_http_sign_in_cookie_is_not_marked_secure(
    runtime: Runtime, keys: Keys
) -> None:
    from dialer.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        form = await client.get("/dashboard/login")
        answer = await client.post(
            "/dashboard/login", data={"api_key": keys.viewer, "csrf": csrf_of(form.text)}
        )
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("dialer_session=")
    )
    assert "HttpOnly" in cookie
    assert "Secure" not in cookie


async def test_a_wrong_key_or_a_forged_login_form_is_refused(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    form = await client.get("/dashboard/login")
    token = csrf_of(form.text)
    wrong = await client.post("/dashboard/login", data={"api_key": "dk_nope", "csrf": token})
    assert wrong.status_code == 401
    assert "Unknown or revoked API key" in wrong.text
    assert "dialer_session" not in wrong.headers.get("set-cookie", "")

    client.cookies.clear()  # another site's form: the login cookie is not sent with it
    forged = await client.post("/dashboard/login", data={"api_key": keys.admin, "csrf": token})
    assert forged.status_code == 403
    assert (await client.get("/dashboard")).status_code == 303


async def test_a_revoked_key_closes_its_session(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    await sign_in(client, keys.viewer)
    key_id = keys.viewer.split("_")[1]
    revoked = await client.delete(f"/v1/keys/{key_id}", headers=bearer(keys.admin))
    assert revoked.status_code == 204
    assert (await client.get("/dashboard")).status_code == 303


# ------------------------------------------------------------------ CSRF and scopes


async def test_a_form_without_the_sessions_token_changes_nothing(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    start = f"/dashboard/campaigns/{campaign['id']}/start"
    wrong = ("y" if csrf.startswith("x") else "x") + csrf[1:]  # never the token itself

    for data, headers in (
        ({}, {}),
        ({"csrf": wrong}, {}),
        ({"csrf": csrf}, {"Origin": "https://evil.example"}),
    ):
        refused = await client.post(start, data=data, headers=headers)
        assert refused.status_code == 403
        assert "the form is stale or was not sent from this dashboard" in refused.text
        assert await _status(client, keys.viewer, campaign["id"]) == "DRAFT"

    started = await client.post(start, data={"csrf": csrf}, headers={"Origin": BASE})
    assert started.status_code == 303
    assert await _status(client, keys.viewer, campaign["id"]) == "RUNNING"
    page = await client.get(started.headers["location"])
    assert "Campaign spring-reminders is RUNNING." in page.text


async def test_a_viewer_sees_no_buttons_and_is_refused_if_it_posts(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    letters = await plant_letters(runtime, client, keys)
    csrf = await sign_in(client, keys.viewer)
    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    assert page.status_code == 200
    assert "data-action=" not in page.text
    assert 'enctype="multipart/form-data"' not in page.text
    dlq_page = await client.get("/dashboard/dlq")
    assert "provider down" in dlq_page.text
    assert "data-action=" not in dlq_page.text

    base = f"/dashboard/campaigns/{campaign['id']}"
    for path, files in (
        (f"{base}/start", None),
        (f"{base}/cancel", None),
        (f"{base}/contacts", {"file": ("c.csv", GOOD_AND_BAD_CSV, "text/csv")}),
        (f"/dashboard/dlq/{letters['origination']}/replay", None),
        ("/dashboard/dlq/replay-all", None),
    ):
        refused = await client.post(path, data={"csrf": csrf}, files=files)
        assert refused.status_code == 403, path
        assert "needs a key with the operator scope" in refused.text
    assert await _status(client, keys.viewer, campaign["id"]) == "DRAFT"
    assert await _leads(runtime, campaign["id"]) == {}
    still_open = (await client.get("/v1/dlq", headers=bearer(keys.viewer))).json()["items"]
    assert len(still_open) == 2


async def test_another_tenants_campaign_and_letters_are_404(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    mine = await new_campaign(client, keys.operator, name="acme-only")
    letters = await plant_letters(runtime, client, keys)
    csrf = await sign_in(client, keys.other_admin)
    listing = await client.get("/dashboard")
    assert "acme-only" not in listing.text
    assert "globex · admin" in listing.text
    url = f"/dashboard/campaigns/{mine['id']}"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"/dashboard/events?campaign={mine['id']}")).status_code == 404
    refused = await client.post(f"{url}/start", data={"csrf": csrf})
    assert refused.status_code == 404
    assert f"campaign {mine['id']} does not exist" in refused.text
    replay = await client.post(
        f"/dashboard/dlq/{letters['origination']}/replay", data={"csrf": csrf}
    )
    assert replay.status_code == 404
    dlq_page = await client.get("/dashboard/dlq")
    assert f'data-letter="{letters["origination"]}"' not in dlq_page.text
    assert f'data-letter="{letters["theirs"]}"' in dlq_page.text
    assert await _status(client, keys.operator, mine["id"]) == "DRAFT"


# ------------------------------------------------------------------ campaigns


async def test_list_and_campaign_page_show_progress_caps_and_buttons(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator, max_concurrency=3)
    drafts = [ContactDraft(f"+1212555{i:04d}", "America/New_York") for i in range(4)]
    await import_drafts(runtime.services, campaign["id"], drafts)
    await sign_in(client, keys.operator)
    listing = await client.get("/dashboard")
    assert f'<tr data-campaign="{campaign["id"]}">' in listing.text
    assert '<progress data-col="bar" value="0" max="4">' in listing.text
    assert "0 / 4" in listing.text
    assert "0 / 3" in listing.text

    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    text = page.text
    assert 'data-field="cap-campaign">3<' in text
    assert 'data-field="cap-global">10000<' in text
    assert 'data-field="cap-tenant">no cap<' in text
    assert 'data-field="eta" data-testid="eta">—<' in text  # nothing running: unknown
    assert 'data-bar="COMPLETED"' in text
    # A draft offers start and cancel; pause and resume are there but hidden until they apply.
    for action, shown in (("start", True), ("cancel", True), ("pause", False)):
        form = text.split(f'/{action}"', 1)[1].split(">", 1)[0]
        assert ("hidden" not in form) is shown, action


async def test_an_illegal_transition_is_shown_with_409(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    url = f"/dashboard/campaigns/{campaign['id']}"
    refused = await client.post(f"{url}/pause", data={"csrf": csrf})
    assert refused.status_code == 409
    assert f"campaign {campaign['id']} is DRAFT; pause needs RUNNING" in refused.text
    assert (await client.post(f"{url}/cancel", data={"csrf": csrf})).status_code == 303
    again = await client.post(f"{url}/start", data={"csrf": csrf})
    assert again.status_code == 409
    assert "is CANCELLED" in again.text
    assert (await client.post(f"{url}/explode", data={"csrf": csrf})).status_code == 404


# ------------------------------------------------------------------ contact import


async def test_import_keeps_the_good_rows_and_reports_the_bad_one(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    url = f"/dashboard/campaigns/{campaign['id']}/contacts"
    files = {"file": ("contacts.csv", GOOD_AND_BAD_CSV, "text/csv")}
    answer = await client.post(url, data={"csrf": csrf, "mode": "lenient"}, files=files)
    assert answer.status_code == 303
    page = await client.get(answer.headers["location"])
    report = page.text.split('data-testid="rejection-report"', 1)[1].split("</table>")[0]
    assert "<td>line 3</td><td>phone</td>" in report
    assert "3 rows read, 2 leads added, 1 rejected" in page.text
    assert await _leads(runtime, campaign["id"]) == {LeadStatus.PENDING: 2}
    # The notice is shown once.
    assert "rejection-report" not in (await client.get(answer.headers["location"])).text


async def test_strict_import_refuses_the_whole_file(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    url = f"/dashboard/campaigns/{campaign['id']}/contacts"
    files = {"file": ("contacts.csv", GOOD_AND_BAD_CSV, "text/csv")}
    answer = await client.post(url, data={"csrf": csrf, "mode": "strict"}, files=files)
    page = await client.get(answer.headers["location"])
    assert "Nothing was imported: the file was refused." in page.text
    assert "<td>line 3</td><td>phone</td>" in page.text
    assert await _leads(runtime, campaign["id"]) == {}


@pytest.mark.parametrize(
    ("content", "where", "field", "reason"),
    [
        (b"name\nAnn\n", "line 1", "header", "the header has no &#39;phone&#39; column"),
        (b"phone\n\xff\xfe\n", "file", "file", "not UTF-8 text (byte 6)"),
        (b"phone,name\n+12125550100\n", "line 2", "row", "expected 2 columns, found 1"),
    ],
)
async def test_a_bad_file_is_reported_by_where_and_field(
    client: httpx.AsyncClient, keys: Keys, content: bytes, where: str, field: str, reason: str
) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    url = f"/dashboard/campaigns/{campaign['id']}/contacts"
    files = {"file": ("contacts.csv", content, "text/csv")}
    answer = await client.post(url, data={"csrf": csrf, "mode": "lenient"}, files=files)
    page = await client.get(answer.headers["location"])
    assert f"<td>{where}</td><td>{field}</td><td>{reason}</td>" in page.text


async def test_an_import_without_a_file_is_422(client: httpx.AsyncClient, keys: Keys) -> None:
    campaign = await new_campaign(client, keys.operator)
    csrf = await sign_in(client, keys.operator)
    url = f"/dashboard/campaigns/{campaign['id']}/contacts"
    answer = await client.post(url, data={"csrf": csrf, "mode": "lenient"})
    assert answer.status_code == 422
    assert "Choose a CSV file to import." in answer.text


# ------------------------------------------------------------------ dead letters


async def test_dead_letters_are_listed_and_replayed_one_or_all(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    letters = await plant_letters(runtime, client, keys)
    csrf = await sign_in(client, keys.operator)
    page = await client.get("/dashboard/dlq")
    assert page.text.count("provider down") == 2

    one = await client.post(f"/dashboard/dlq/{letters['origination']}/replay", data={"csrf": csrf})
    assert one.status_code == 303
    after = await client.get("/dashboard/dlq")
    assert f"Dead letter {letters['origination']} replayed." in after.text
    assert f'data-letter="{letters["origination"]}"' not in after.text
    replayed = await client.get("/v1/dlq?include_closed=true", headers=bearer(keys.viewer))
    states = {item["id"]: item["replayed_at"] for item in replayed.json()["items"]}
    assert states[letters["origination"]] is not None

    twice = await client.post(
        f"/dashboard/dlq/{letters['origination']}/replay", data={"csrf": csrf}
    )
    assert twice.status_code == 409
    assert "was already replayed" in twice.text
    huge = await client.post("/dashboard/dlq/99999999999999999999/replay", data={"csrf": csrf})
    assert huge.status_code == 404

    # The remaining letter is not an origination: replay-all reports it as not replayable.
    every = await client.post("/dashboard/dlq/replay-all", data={"csrf": csrf})
    assert every.status_code == 303
    summary = await client.get("/dashboard/dlq")
    assert "0 dead letters replayed; 1 could not be." in summary.text
    assert f"letter {letters['other']}" in summary.text
    history = await client.get("/dashboard/dlq?closed=true")
    assert "replayed" in history.text
