"""Dashboard sign-in: server-side sessions behind an opaque cookie, and CSRF tokens.

The browser holds only a random session id (HttpOnly, SameSite=Strict, Secure over https);
the API key it was opened with stays in this process's memory, so the key never sits in the
browser, a URL or a log. Every request re-checks the key (through the API's KeyCache), so a
revoked key closes its sessions within the cache's two seconds. Each session has its own CSRF
token, sent back by every form; the login form, which has no session yet, uses a short-lived
cookie of its own (double submit)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login_csrf"
IDLE_SECONDS = 8 * 3600  # a session unused this long is closed
LOGIN_FORM_SECONDS = 3600
MAX_SESSIONS = 10_000  # the oldest are closed beyond this


@dataclass(frozen=True)
class Notice:
    """A message shown once, on the page a form redirects to."""

    kind: str  # "ok" or "error"
    text: str
    rejected: tuple[tuple[str, str, str], ...] = ()  # (line, field, reason) of an import


@dataclass
class Session:
    token: str  # the API key; never sent back to the browser
    csrf: str
    last_seen: float
    notices: list[Notice] = field(default_factory=list)

    def take_notices(self) -> list[Notice]:
        notices, self.notices = self.notices, []
        return notices


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Open sessions by a digest of their id (a memory dump shows no usable cookie)."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, size: int = MAX_SESSIONS) -> None:
        self.idle_seconds = idle_seconds
        self.size = size
        self._open: OrderedDict[str, Session] = OrderedDict()

    def open(self, token: str) -> tuple[str, Session]:
        """A new session (a fresh id at every sign-in: no fixation)."""
        session_id = secrets.token_urlsafe(32)
        session = Session(token, secrets.token_urlsafe(32), time.monotonic())
        self._open[_digest(session_id)] = session
        while len(self._open) > self.size:
            self._open.popitem(last=False)
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        digest = _digest(session_id)
        session = self._open.get(digest)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle_seconds:
            del self._open[digest]
            return None
        session.last_seen = now
        self._open.move_to_end(digest)
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._open.pop(_digest(session_id), None)

    def __len__(self) -> int:
        return len(self._open)


def same_token(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/dashboard",
    )


def set_login_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/dashboard/login",
    )


def drop_login_cookie(response: Response) -> None:
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/login", httponly=True, samesite="strict")


def clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/dashboard", httponly=True, samesite="strict")
    drop_login_cookie(response)


def same_origin(request: Request) -> bool:
    """A browser names the page a form was sent from; one of another site is refused even
    before its (missing) CSRF token is. No Origin header (an old browser, a script): the
    token alone decides."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host
