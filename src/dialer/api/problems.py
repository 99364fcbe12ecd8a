"""One error shape for every 4xx and 5xx: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from dialer.errors import Problem

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, title: str, detail: str = "", errors: list[Problem] | None = None
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"location": p.location, "message": p.message} for p in errors or []],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)
