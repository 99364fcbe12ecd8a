"""Dashboard sign-in: sessions kept in the database behind an opaque cookie, and CSRF tokens.

The browser holds only a random session id (HttpOnly, SameSite=Strict, Secure over https).
The database holds a SHA-256 digest of that id, and the public id of the API key the session
was opened with, never the key: so any API process, on any machine, serves any session, and a
restart signs no one out. Every request re-checks the key by its id (through the API's
KeyCache), so a revoked key closes its sessions within the cache's two seconds. Each session
has its own CSRF token, sent back by every form; the login form, which has no session yet,
uses a short-lived cookie of its own (double submit). Notices wait in the session's row until
the page a form redirects to takes them, whichever process serves it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dialer.ports import Clock, DashboardSession, Store
from dialer.services.access import Principal

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login_csrf"
IDLE = timedelta(hours=8)  # a session unused this long is closed
TOUCH_AFTER = timedelta(minutes=1)  # last use is written at most this often (idle: ±1 min)
LOGIN_FORM_SECONDS = 3600
SESSIONS_PER_KEY = 20  # the key's least recently used sessions are closed beyond this
PENDING_NOTICES = 4  # the oldest waiting notices are dropped beyond this
NOTICE_BYTES = 16_000  # a notice's rejection report is cut to this size (JSON)


@dataclass(frozen=True)
class Notice:
    """A message shown once, on the page a form redirects to."""

    kind: str  # "ok" or "error"
    text: str
    rejected: tuple[tuple[str, str, str], ...] = ()  # (line, field, reason) of an import

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "rejected": [list(r) for r in self.rejected]}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Notice:
        rows = tuple((str(a), str(b), str(c)) for a, b, c in value.get("rejected", []))
        return cls(str(value["kind"]), str(value["text"]), rows)


def cut_to_size(notice: Notice, budget: int = NOTICE_BYTES) -> Notice:
    """The notice with as many report rows as fit in ``budget`` bytes of JSON, and a last row
    saying how many were left out (the text's counts stay exact)."""
    used, kept = len(json.dumps(notice.text)), []
    for row in notice.rejected:
        used += len(json.dumps(row)) + 2  # and the ", " between rows
        if used > budget:
            break
        kept.append(row)
    left_out = len(notice.rejected) - len(kept)
    if left_out:
        kept.append(("…", "", f"{left_out} more rejected rows not shown"))
    return Notice(notice.kind, notice.text, tuple(kept))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Sign-in sessions in the store, found by the digest of their id."""

    def __init__(self, store: Store, clock: Clock, per_key: int = SESSIONS_PER_KEY) -> None:
        self.store = store
        self.clock = clock
        self.per_key = per_key

    async def open(self, principal: Principal) -> tuple[str, DashboardSession]:
        """A new session (a fresh id at every sign-in: no fixation)."""
        session_id, now = secrets.token_urlsafe(32), self.clock.now()
        session = DashboardSession(
            _digest(session_id),
            principal.key_id,
            principal.tenant_id,
            secrets.token_urlsafe(32),
            now,
            now,
        )
        async with self.store.unit() as uow:
            await uow.access.add_session(session, self.per_key)
            await uow.commit()
        return session_id, session

    async def find(self, session_id: str | None) -> DashboardSession | None:
        """The session, unless unknown or idle too long (then it is closed); its last use
        is noted."""
        if not session_id:
            return None
        digest, now = _digest(session_id), self.clock.now()
        async with self.store.unit() as uow:
            session = await uow.access.session(digest)
            if session is None:
                return None
            idle = now - session.last_seen_at > IDLE
            if idle:
                await uow.access.close_session(digest)
            elif now - session.last_seen_at >= TOUCH_AFTER:
                await uow.access.touch_session(digest, now)
            await uow.commit()
        return None if idle else session

    async def close(self, session: DashboardSession) -> None:
        async with self.store.unit() as uow:
            await uow.access.close_session(session.digest)
            await uow.commit()

    async def notify(self, session: DashboardSession, notice: Notice) -> None:
        """Keep a notice for the next page this session shows, on whichever process."""
        async with self.store.unit() as uow:
            pending = await uow.access.notices(session.digest)
            if pending is None:
                return
            pending = [*pending, cut_to_size(notice).to_json()][-PENDING_NOTICES:]
            await uow.access.save_notices(session.digest, pending)
            await uow.commit()

    async def take_notices(self, session: DashboardSession) -> list[Notice]:
        """The waiting notices, taken once: a second page (another process's too) sees none."""
        async with self.store.unit() as uow:
            pending = await uow.access.notices(session.digest)
            if not pending:
                return []
            await uow.access.save_notices(session.digest, [])
            await uow.commit()
        return [Notice.from_json(value) for value in pending]


async def prune_sessions(store: Store, now: datetime) -> int:
    """Delete idle sessions and those of revoked keys (the API's housekeeping, hourly)."""
    async with store.unit() as uow:
        pruned = await uow.access.prune_sessions(now - IDLE)
        await uow.commit()
    return pruned


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
