"""The operator dashboard's pages and forms, under /dashboard.

Reads need any key of the tenant; every change (start, pause, resume, cancel, import, replay)
needs an operator key and a form sent from the dashboard itself (CSRF token). A change is
answered with a redirect to the page, where a notice says what happened (post/redirect/get);
a refused one with the page's error and its status code (403, 404, 409, 422)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dialer.api.dashboard.imports import import_upload
from dialer.api.dashboard.live import MAX_LISTED, OUTCOMES
from dialer.api.dashboard.sessions import (
    LOGIN_COOKIE,
    Notice,
    clear_cookies,
    drop_login_cookie,
    same_origin,
    same_token,
    set_login_cookie,
    set_session_cookie,
)
from dialer.api.dashboard.web import (
    PREFIX,
    SECURITY_HEADERS,
    AnyForm,
    PageError,
    PostedForm,
    SignedIn,
    Visitor,
    check_form,
    current_visitor,
    dashboard_of,
    key_principal,
    notify,
    redirect,
    render,
    signed_in,
)
from dialer.api.models import MAX_ID
from dialer.domain.figures import CHANNEL_WORDS
from dialer.domain.model import Campaign
from dialer.errors import Conflict, DialerError, InvalidInput, NotFound, Unavailable
from dialer.services import dlq, owned_campaigns
from dialer.services.access import Forbidden, KeyScope, Unauthenticated
from dialer.services.context import Services

router = APIRouter(prefix=PREFIX, include_in_schema=False)

ACTIONS = tuple(owned_campaigns.ACTIONS)
# Which buttons a campaign in each state shows (the transition rules decide in the end).
ACTIONS_WHEN = {
    "start": ("DRAFT",),
    "pause": ("RUNNING",),
    "resume": ("PAUSED",),
    "cancel": ("DRAFT", "RUNNING", "PAUSED"),
}
DLQ_PAGE = 500
STATUS_OF: tuple[tuple[type[DialerError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (Forbidden, 403),
    (Unavailable, 503),  # our own trouble, never the visitor's
)


def _services(request: Request) -> Services:
    return dashboard_of(request).runtime.services


def _status(exc: DialerError) -> int:
    return next((status for kind, status in STATUS_OF if isinstance(exc, kind)), 500)


async def _campaign(request: Request, visitor: Visitor, campaign_id: int) -> Campaign:
    """The visitor's campaign; another tenant's answers 404 like one that does not exist."""
    if not 1 <= campaign_id <= MAX_ID:
        raise PageError(404, f"campaign {campaign_id} does not exist", visitor)
    try:
        tenant_id = visitor.principal.tenant_id
        return await owned_campaigns.get(_services(request), tenant_id, campaign_id)
    except NotFound as exc:
        raise PageError(404, str(exc), visitor) from exc


# ------------------------------------------------------------------ sign in and out


async def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = await render(request, "login.html", None, status, csrf=token, error=error)
    set_login_cookie(response, request, token)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    if await current_visitor(request) is not None:
        return redirect(PREFIX)
    return await _login_page(request)


@router.post("/login")
async def login(request: Request, form: AnyForm) -> Response:
    """Sign in with an API key: the key is checked, its id kept in a new session in the
    database, and the browser gets only that session's id."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not same_origin(request) or not same_token(expected, form.get("csrf")):
        return await _login_page(request, 403, "The sign-in form expired; please try again.")
    token = form.get("api_key")
    token = token.strip() if isinstance(token, str) else ""
    try:
        principal = await key_principal(request, token)
    except Unauthenticated:
        return await _login_page(request, 401, "Unknown or revoked API key.")
    session_id, _ = await dashboard_of(request).sessions.open(principal)
    response = redirect(PREFIX)
    drop_login_cookie(response)
    set_session_cookie(response, request, session_id)
    return response


@router.post("/logout")
async def logout(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    check_form(request, visitor, form, needs=KeyScope.VIEWER)
    await dashboard_of(request).sessions.close(visitor.session)
    response = redirect(f"{PREFIX}/login")
    clear_cookies(response)
    return response


# ------------------------------------------------------------------ campaigns


@router.get("")
async def campaign_list(request: Request) -> Response:
    visitor = await signed_in(request)
    snapshot = await dashboard_of(request).feed.snapshot(visitor.principal.tenant_id)
    return await render(
        request,
        "campaigns.html",
        visitor,
        snapshot=snapshot,
        max_listed=MAX_LISTED,
        events=f"{PREFIX}/events",
    )


@router.get("/campaigns/{campaign_id:int}")
async def campaign_page(request: Request, campaign_id: int) -> Response:
    visitor = await signed_in(request)
    return await _render_campaign(request, visitor, campaign_id)


async def _render_campaign(
    request: Request, visitor: Visitor, campaign_id: int, status: int = 200, error: str = ""
) -> Response:
    campaign = await _campaign(request, visitor, campaign_id)
    snapshot = await dashboard_of(request).feed.snapshot(visitor.principal.tenant_id, campaign.id)
    return await render(
        request,
        "campaign.html",
        visitor,
        status,
        campaign=campaign,
        detail=snapshot["campaign"],
        outcomes=OUTCOMES,
        channel_words=CHANNEL_WORDS,
        actions_when=ACTIONS_WHEN,
        error=error,
        events=f"{PREFIX}/events?campaign={campaign.id}",
    )


@router.post("/campaigns/{campaign_id:int}/contacts")
async def import_contacts(
    request: Request, campaign_id: int, visitor: SignedIn, form: PostedForm
) -> Response:
    """Upload a contacts CSV; keep the good rows (lenient) or refuse the whole file at the
    first bad one (strict), as the REST import does."""
    check_form(request, visitor, form)
    campaign = await _campaign(request, visitor, campaign_id)
    upload, mode = form.get("file"), form.get("mode", "lenient")
    if mode not in ("lenient", "strict"):
        raise PageError(422, f"mode must be lenient or strict, not {mode!r}", visitor)
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = "Choose a CSV file to import."
        return await _render_campaign(request, visitor, campaign.id, 422, error)
    notice = await import_upload(_services(request), campaign, upload.file, mode == "strict")
    await notify(request, visitor, notice)
    return redirect(f"{PREFIX}/campaigns/{campaign.id}#import")


# Declared after the import route, which its path would otherwise capture.
@router.post("/campaigns/{campaign_id:int}/{action}")
async def campaign_action(
    request: Request, campaign_id: int, action: str, visitor: SignedIn, form: PostedForm
) -> Response:
    """Start, pause, resume or cancel, through the same service as the REST API: an illegal
    transition is shown with the campaign's current state (409)."""
    check_form(request, visitor, form)
    if action not in ACTIONS:
        raise PageError(404, f"no action {action!r}", visitor)
    campaign = await _campaign(request, visitor, campaign_id)
    try:
        moved = await owned_campaigns.act(
            _services(request), visitor.principal.tenant_id, campaign.id, action
        )
    except DialerError as exc:
        return await _render_campaign(request, visitor, campaign.id, _status(exc), str(exc))
    await notify(request, visitor, Notice("ok", f"Campaign {moved.name} is {moved.status}."))
    return redirect(f"{PREFIX}/campaigns/{campaign.id}")


# ------------------------------------------------------------------ dead letters


def _letter_row(letter: dlq.DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "kind": letter.kind,
        "cause": letter.cause,
        "attempts": letter.attempts,
        "created_at": letter.created_at,
        "campaign_id": letter.payload.get("campaign_id"),
        "state": "open"
        if letter.is_open
        else ("replayed" if letter.replayed_at is not None else "discarded"),
    }


@router.get("/dlq")
async def dlq_page(request: Request, closed: bool = False) -> Response:
    visitor = await signed_in(request)
    letters = await dlq.list_dead_letters(
        dashboard_of(request).runtime.store,
        visitor.principal.tenant_id,
        limit=DLQ_PAGE,
        include_closed=closed,
    )
    rows = [_letter_row(letter) for letter in letters]
    return await render(request, "dlq.html", visitor, letters=rows, closed=closed, page=DLQ_PAGE)


@router.post("/dlq/{letter_id:int}/replay")
async def replay_letter(
    request: Request, letter_id: int, visitor: SignedIn, form: PostedForm
) -> Response:
    check_form(request, visitor, form)
    if not 1 <= letter_id <= MAX_ID:
        raise PageError(404, f"dead letter {letter_id} does not exist", visitor)
    try:
        await dlq.replay(_services(request), letter_id, visitor.principal.tenant_id)
    except DialerError as exc:
        raise PageError(_status(exc), str(exc), visitor) from exc
    await notify(request, visitor, Notice("ok", f"Dead letter {letter_id} replayed."))
    return redirect(f"{PREFIX}/dlq")


@router.post("/dlq/replay-all")
async def replay_all(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Replay every open letter of the tenant; those that cannot be replayed are listed."""
    check_form(request, visitor, form)
    services, tenant_id = _services(request), visitor.principal.tenant_id
    letters = await dlq.list_dead_letters(services.store, tenant_id, limit=DLQ_PAGE)
    failures = []
    for letter in letters:
        try:
            await dlq.replay(services, letter.id, tenant_id)
        except DialerError as exc:
            failures.append((f"letter {letter.id}", "replay", str(exc)))
    replayed = len(letters) - len(failures)
    text = f"{replayed} dead letters replayed; {len(failures)} could not be."
    kind = "error" if failures else "ok"
    await notify(request, visitor, Notice(kind, text, tuple(failures)))
    return redirect(f"{PREFIX}/dlq")


# ------------------------------------------------------------------ live updates


@router.get("/events")
async def events(request: Request, campaign: int | None = None) -> Response:
    """Server-Sent Events: the tenant's snapshot (with the campaign's detail when asked for)
    every second, until the browser goes away, the session ends or the server stops."""
    visitor = await current_visitor(request)
    if visitor is None:
        return Response("sign in first", 401, headers=SECURITY_HEADERS)
    if campaign is not None:
        await _campaign(request, visitor, campaign)
    feed = dashboard_of(request).feed

    async def still_signed_in() -> bool:
        return await current_visitor(request) is not None

    stream = feed.stream(visitor.principal.tenant_id, campaign, still_signed_in)
    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
