"""The simulator speaking Telnyx Call Control v2 (``dialect="telnyx"``).

POST /v2/calls                                  dial (Idempotency-Key honoured)
GET  /v2/calls/{call_control_id}                the call's status (is_alive, call_duration)
POST /v2/calls/{call_control_id}/actions/hangup hang up (422 with code 90018 once ended)
GET  /v2/connections/{connection_id}/active_calls  the connection's live calls

Authentication is ``Authorization: Bearer <API key>`` (the simulator's ``auth_token``); webhooks
are signed with an Ed25519 key derived from it, whose public half is in GET /_sim/config.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.simulator import wire
from dialer.simulator.calls import Call
from dialer.simulator.dialects import iso
from dialer.simulator.engine import Engine

Handler = Callable[[Request], Awaitable[Response]]
# Telnyx's error codes for the refusals simulated
CODES = {401: "10009", 404: "10005", 422: "10032", 429: "10011", 500: "10007", 503: "10007"}
CALL_ENDED = "90018"


def _error(status: int, detail: str, code: str | None = None, **headers: str) -> Response:
    error = {"code": code or CODES.get(status, "10015"), "title": detail, "detail": detail}
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers or None)


class TelnyxApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[Route]:
        return [
            Route("/v2/calls", self._guard(self.dial), methods=["POST"]),
            Route("/v2/calls/{call_id}", self._guard(self.get), methods=["GET"]),
            Route(
                "/v2/calls/{call_id}/actions/hangup", self._guard(self.hang_up), methods=["POST"]
            ),
            Route(
                "/v2/connections/{connection_id}/active_calls",
                self._guard(self.active_calls),
                methods=["GET"],
            ),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            token = self.engine.config.auth_token
            if scheme.lower() != "bearer" or not hmac.compare_digest(key.encode(), token.encode()):
                return _error(401, "Authentication failed")
            try:
                return await handler(request)
            except wire.ApiError as exc:
                code = CALL_ENDED if exc.code == wire.CALL_NOT_LIVE else None
                return _error(exc.status, exc.message, code, **exc.headers)

        return guarded

    async def dial(self, request: Request) -> Response:
        body = await request.body()
        key = request.headers.get("idempotency-key")
        call = await self.engine.create(lambda: parse_dial(body), idempotency_key=key)
        return JSONResponse({"data": {**_ids(call), "is_alive": not call.ended}})

    async def get(self, request: Request) -> Response:
        call = self._call(request)
        return JSONResponse({"data": self._status(call)})

    async def hang_up(self, request: Request) -> Response:
        call = self._call(request)
        if not self.engine.end(call):
            raise wire.ApiError(422, wire.CALL_NOT_LIVE, "Call has already ended")
        return JSONResponse({"data": {"result": "ok"}})

    async def active_calls(self, request: Request) -> Response:
        connection = request.path_params["connection_id"]
        live = [
            {**_ids(c), "call_duration": self._talk(c)}
            for c in self.engine.calls_newest_first()
            if not c.ended and c.request.extra.get("connection_id") == connection
        ]
        meta = {"total_items": len(live), "page_number": 1, "page_size": 250, "total_pages": 1}
        return JSONResponse({"data": live[:250], "meta": meta})

    def _call(self, request: Request) -> Call:
        call = self.engine.find(request.path_params["call_id"])
        if call is None:
            raise wire.ApiError(404, wire.NOT_FOUND, "Resource not found")
        return call

    def _status(self, call: Call) -> dict[str, Any]:
        return {
            **_ids(call),
            "is_alive": not call.ended,
            "call_duration": self._talk(call),
            "start_time": iso(call.start_time or call.created_at),
            "end_time": iso(call.end_time),
        }

    def _talk(self, call: Call) -> int:
        if call.ended:
            return call.duration or 0
        if call.answered_at is None:
            return 0
        return int(self.engine.clock.elapsed() - call.answered_at)


def _ids(call: Call) -> dict[str, Any]:
    return {
        "call_control_id": call.sid,
        "call_leg_id": call.sid[3:],
        "call_session_id": call.sid[3:],
        "client_state": call.request.extra.get("client_state"),
        "record_type": "call",
    }


def parse_dial(body: bytes) -> wire.CreateRequest:
    """The dial body; ApiError 422 naming the field, as Telnyx answers."""
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise wire.ApiError(422, wire.INVALID_PARAMETER, "The request body is not JSON") from exc
    if not isinstance(data, dict):
        raise wire.ApiError(422, wire.INVALID_PARAMETER, "The request body is not an object")
    for name in ("connection_id", "to", "from"):
        if not data.get(name):
            raise wire.ApiError(422, wire.INVALID_PARAMETER, f"'{name}' is required")
    if not wire.E164.match(str(data["to"])):
        raise wire.ApiError(422, wire.INVALID_TO, f"Invalid 'to' number: {data['to']}")
    if not wire.E164.match(str(data["from"])):
        raise wire.ApiError(422, wire.INVALID_FROM, f"Invalid 'from' number: {data['from']}")
    extra = {"connection_id": str(data["connection_id"])}
    if data.get("client_state"):
        extra["client_state"] = str(data["client_state"])
    webhook_url = str(data["webhook_url"]) if data.get("webhook_url") else None
    detection = _machine_detection(data)
    return wire.CreateRequest(
        to=str(data["to"]),
        from_=str(data["from"]),
        status_callback=webhook_url,
        events=wire.CALLBACK_EVENTS,
        timeout=_whole(data, "timeout_secs", 30, wire.MAX_TIMEOUT),
        time_limit=_whole(data, "time_limit_secs", wire.MAX_TIME_LIMIT, wire.MAX_TIME_LIMIT),
        extra=extra,
        detection=detection,
        detection_url=webhook_url if detection else None,
    )


# answering_machine_detection: the settings simulated, and what each waits for.
MACHINE_DETECTION = {"detect": "detect", "detect_beep": "detect_end"}


def _machine_detection(data: dict[str, Any]) -> str | None:
    value = data.get("answering_machine_detection", "disabled")
    if value == "disabled":
        return None
    if value not in MACHINE_DETECTION:
        detail = f"'answering_machine_detection' must be disabled, detect or detect_beep: {value}"
        raise wire.ApiError(422, wire.INVALID_PARAMETER, detail)
    return MACHINE_DETECTION[str(value)]


def _whole(data: dict[str, Any], name: str, default: int, most: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise wire.ApiError(422, wire.INVALID_PARAMETER, f"'{name}' must be a whole number >= 1")
    return min(value, most)
