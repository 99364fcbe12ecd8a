"""Request size limits: JSON bodies up to DIALER_API_MAX_JSON_BYTES, uploads (contacts CSV)
up to DIALER_API_MAX_UPLOAD_BYTES. A declared length over the limit is refused before the body
is read; a body that grows past it (chunked) is cut off at the limit."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialer.api.problems import send_problem

UPLOAD_PATHS = re.compile(r"^/(v1|dashboard)/campaigns/[^/]+/contacts$")


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than the limit of {limit} bytes")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if UPLOAD_PATHS.match(scope["path"]) else self.json_limit
        declared = _declared_length(scope)
        if declared == -1:
            await send_problem(send, 400, "Bad Request", "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            detail = f"the body is larger than the limit of {limit} bytes"
            await send_problem(send, 413, "Content Too Large", detail)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, limited, send)
