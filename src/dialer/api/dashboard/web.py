"""What every dashboard page shares: who is signed in, rendering with safe headers, and the
two ways a page ends early (a redirect, or an error page with its status code)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from dialer.api.auth import KeyCache
from dialer.api.dashboard.live import LiveFeed
from dialer.api.dashboard.sessions import (
    SESSION_COOKIE,
    Notice,
    Sessions,
    clear_cookies,
    same_origin,
    same_token,
)
from dialer.bootstrap import Runtime
from dialer.ports import DashboardSession
from dialer.services import access
from dialer.services.access import KeyScope, Principal, Unauthenticated

PREFIX = "/dashboard"
HERE = Path(__file__).parent
MAX_FORM_FIELDS = 20

# No inline script or style anywhere: the page runs only our own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send Origin: null
    "Cache-Control": "no-store",
}


class Dashboard:
    """The dashboard's state in one process: sessions, the live feed, the templates."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions = Sessions(runtime.store, runtime.services.clock)
        self.feed = LiveFeed(runtime.services)
        self.templates = Jinja2Templates(directory=HERE / "templates")


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


@dataclass(frozen=True)
class Visitor:
    """A signed-in operator: the key's tenant and scope, and the session."""

    principal: Principal
    session: DashboardSession

    @property
    def can_operate(self) -> bool:
        return self.principal.scope.includes(KeyScope.OPERATOR)


class PageRedirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


class PageError(Exception):
    """An error page: the status code, and a message saying what went wrong."""

    def __init__(self, status: int, message: str, visitor: Visitor | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.visitor = visitor


def _key_cache(request: Request) -> KeyCache:
    cache: KeyCache = request.app.state.key_cache
    return cache


async def key_principal(request: Request, token: str) -> Principal:
    """The key's tenant and scope, through the API's cache (a revoked key: Unauthenticated
    within the cache's lifetime)."""
    cache = _key_cache(request)
    caller = cache.get(token)
    if caller is None:
        caller = await access.authenticate(dashboard_of(request).runtime.store, token)
        cache.put(token, caller)
    return caller


async def session_principal(request: Request, session: DashboardSession) -> Principal:
    """The tenant and scope of the key behind the session, looked up by the key's id (the
    session never holds the key), through the same cache."""
    cache = _key_cache(request)
    caller = cache.get_by_id(session.key_id)
    if caller is None:
        store = dashboard_of(request).runtime.store
        caller = await access.key_principal(store, session.key_id)
        cache.put_by_id(caller)
    if caller.tenant_id != session.tenant_id:  # never expected: a key keeps its tenant
        raise Unauthenticated("the key no longer belongs to the session's tenant")
    return caller


async def current_visitor(request: Request) -> Visitor | None:
    sessions = dashboard_of(request).sessions
    session = await sessions.find(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        return None
    try:
        principal = await session_principal(request, session)
    except Unauthenticated:
        await sessions.close(session)
        return None
    return Visitor(principal, session)


async def signed_in(request: Request) -> Visitor:
    """The visitor, or a redirect to the sign-in page."""
    visitor = await current_visitor(request)
    if visitor is None:
        raise PageRedirect(f"{PREFIX}/login")
    return visitor


SignedIn = Annotated[Visitor, Depends(signed_in)]


async def read_form(request: Request) -> FormData:
    try:
        return await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except HTTPException as exc:  # a malformed body, or one above the size limit
        raise PageError(exc.status_code, str(exc.detail)) from exc


async def any_form(request: Request) -> AsyncIterator[FormData]:
    """The posted form; closed (an uploaded file with it) once the answer is made."""
    form = await read_form(request)
    try:
        yield form
    finally:
        await form.close()


async def signed_in_form(request: Request, _: SignedIn) -> AsyncIterator[FormData]:
    """The form, read only once its sender is known to be signed in."""
    async for form in any_form(request):
        yield form


AnyForm = Annotated[FormData, Depends(any_form)]
PostedForm = Annotated[FormData, Depends(signed_in_form)]


def check_form(
    request: Request, visitor: Visitor, form: FormData, needs: KeyScope = KeyScope.OPERATOR
) -> None:
    """A form sent from one of our pages (its CSRF token matches the session's), by a key
    with the scope the change needs; else 403."""
    if not same_origin(request) or not same_token(visitor.session.csrf, form.get("csrf")):
        raise PageError(403, "the form is stale or was not sent from this dashboard", visitor)
    if not visitor.principal.scope.includes(needs):
        message = f"this needs a key with the {needs} scope; this key is {visitor.principal.scope}"
        raise PageError(403, message, visitor)


async def notify(request: Request, visitor: Visitor, notice: Notice) -> None:
    """Show the notice on the visitor's next page (served by any process)."""
    await dashboard_of(request).sessions.notify(visitor.session, notice)


async def render(
    request: Request,
    template: str,
    visitor: Visitor | None,
    status: int = 200,
    **context: Any,
) -> Response:
    notices = []
    if visitor is not None:
        notices = await dashboard_of(request).sessions.take_notices(visitor.session)
    values = {"prefix": PREFIX, "visitor": visitor, "notices": notices, **context}
    return dashboard_of(request).templates.TemplateResponse(
        request, template, values, status_code=status, headers=SECURITY_HEADERS
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def on_redirect(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRedirect)
    response = redirect(exc.url)
    if exc.url == f"{PREFIX}/login":
        clear_cookies(response)
    return response


async def on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return await render(request, "error.html", exc.visitor, exc.status, message=exc.message)
