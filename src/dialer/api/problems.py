"""One error shape for every 4xx and 5xx: RFC 9457 problem details (application/problem+json).

``install`` maps every error the app can meet to that shape: request validation, Dialer's own
errors (a dependency of ours unavailable: 503), HTTP errors raised by the framework, and
anything else (500, logged, with nothing of the internals in the answer)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialer.errors import (
    Conflict,
    DialerError,
    InvalidInput,
    NotFound,
    Problem,
    ProviderError,
    Unavailable,
)
from dialer.services.access import Forbidden, Unauthenticated
from dialer.services.adhoc_calls import Backlogged

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "message"],
                "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

# Declared on every operation, so clients (and schemathesis) know the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": f"{text}: a problem document",
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    }
    for code, text in (("4XX", "Client error"), ("5XX", "Server error"))
}


def body(status: int, title: str, detail: str = "", errors: Sequence[Problem] = ()) -> bytes:
    return json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "errors": [{"location": p.location, "message": p.message} for p in errors],
        }
    ).encode()


def problem(
    status: int,
    title: str = "",
    detail: str = "",
    errors: Sequence[Problem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    title = title or HTTPStatus(status).phrase
    content = json.loads(body(status, title, detail, errors or ()))
    return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, detail="the body is not valid JSON")
    problems = [Problem(_location(e["loc"]), str(e["msg"])) for e in errors]
    return problem(422, detail="the request is not valid", errors=problems)


def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return problem(422, detail="the request is not valid", errors=exc.problems)


def _dialer_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFound):
        return problem(404, detail=str(exc))
    if isinstance(exc, Conflict):
        return problem(409, detail=str(exc))
    if isinstance(exc, Unauthenticated):
        return problem(401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, Forbidden):
        return problem(403, detail=str(exc))
    if isinstance(exc, Backlogged):
        return problem(429, detail=str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Unavailable):
        return unavailable(exc)
    if isinstance(exc, ProviderError):
        log.warning("provider error answered 502: %s", exc)
        return problem(502, detail=f"the telephony provider failed: {exc}")
    # Every error that means bad input has a class of its own above; anything else is ours.
    log.error("unmapped error answered 500: %r", exc)
    return problem(500, detail="an unexpected error; logged")


def unavailable(exc: Unavailable) -> JSONResponse:
    """Our own trouble, never the caller's: 503 with when to try again."""
    log.error("dependency unavailable: %s", exc)
    retry_after = {"Retry-After": str(max(1, round(exc.retry_after)))}
    detail = "a service Dialer depends on is unavailable; try again"  # no internals
    return problem(503, detail=detail, headers=retry_after)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, detail=str(exc.detail), headers=exc.headers)


def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.error("storage unavailable: %s", exc)
    return problem(503, detail="storage is unavailable; try again", headers={"Retry-After": "5"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidInput, _invalid)
    app.add_exception_handler(DialerError, _dialer_error)
    app.add_exception_handler(HTTPException, _http)
    # The store translates its driver's errors into Unavailable (above); a socket error
    # raised where no adapter translated it is still our trouble, not the caller's.
    app.add_exception_handler(OSError, _unavailable)


class ProblemGuard:
    """The outermost layer: an error nothing else handled becomes a logged 500 whose answer
    says nothing about the internals (and is not raised on to the server)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except ClientDisconnect:
            log.info("client went away during %s %s", scope["method"], scope["path"])
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_problem(send, 500, "Internal Server Error", "an unexpected error; logged")


async def send_problem(send: Send, status: int, title: str, detail: str) -> None:
    payload = body(status, title, detail)
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
