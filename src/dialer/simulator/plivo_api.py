"""The simulator speaking Plivo's REST API v1 (``dialect="plivo"``).

POST   /v1/Account/{auth_id}/Call/                     make a call (201, request_uuid)
GET    /v1/Account/{auth_id}/Call/?status=live         live call uuids (from_number, to_number)
GET    /v1/Account/{auth_id}/Call/                     ended calls' records (filters as Plivo's)
GET    /v1/Account/{auth_id}/Call/{uuid}/?status=live  a live call; ?status=queued a queued one;
                                                       no status: an ended call's record
DELETE /v1/Account/{auth_id}/Call/{uuid}/              hang up a live call
DELETE /v1/Account/{auth_id}/Request/{uuid}/           cancel a queued call

The call uuid is the create's ``request_uuid``; callbacks carry it as CallUUID (dialects.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.simulator import wire
from dialer.simulator.calls import Call
from dialer.simulator.dialects import PLIVO_CALL_STATE, PLIVO_CAUSE, plivo_number, plivo_time
from dialer.simulator.engine import Engine

BASE = "/v1/Account/{auth_id}"
LIVE = frozenset({wire.RINGING, wire.IN_PROGRESS})
QUEUED = frozenset({wire.QUEUED, wire.INITIATED})
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"api_id": str(uuid.uuid4()), "error": message}
    return JSONResponse(body, status_code=status, headers=headers)


class PlivoApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[Route]:
        return [
            Route(f"{BASE}/Call/", self._guard(self.create), methods=["POST"]),
            Route(f"{BASE}/Call/", self._guard(self.list_calls), methods=["GET"]),
            Route(f"{BASE}/Call/{{uuid}}/", self._guard(self.get), methods=["GET"]),
            Route(f"{BASE}/Call/{{uuid}}/", self._guard(self.hang_up), methods=["DELETE"]),
            Route(f"{BASE}/Request/{{uuid}}/", self._guard(self.cancel), methods=["DELETE"]),
        ]

    def _guard(self, handler: Handler) -> Handler:
        """Basic auth (auth id, auth token), then Plivo's error JSON for every refusal."""

        async def guarded(request: Request) -> Response:
            if not self._authentic(request):
                return _error(401, "Authentication credentials invalid")
            try:
                return await handler(request)
            except wire.ApiError as exc:
                return _error(exc.status, exc.message, exc.headers)

        return guarded

    def _authentic(self, request: Request) -> bool:
        config = self.engine.config
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        good = hmac.compare_digest(password.encode(), config.auth_token.encode())
        same = user == config.account_sid == request.path_params["auth_id"]
        return scheme.lower() == "basic" and good and same

    async def create(self, request: Request) -> Response:
        body = await request.body()
        call = await self.engine.create(lambda: parse_create(body))
        answer = {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": call.sid}
        return JSONResponse(answer, status_code=201)

    async def list_calls(self, request: Request) -> Response:
        query = {k: v[0] for k, v in parse_qs(request.url.query).items()}
        calls = [
            c
            for c in self.engine.calls_newest_first(_e164(query.get("to_number")))
            if _same_from(c, query.get("from_number"))
        ]
        if query.get("status") == "live":
            live = [c.sid for c in calls if c.status in LIVE]
            return JSONResponse({"api_id": str(uuid.uuid4()), "calls": live})
        floor = query.get("initiation_time__gte")
        ended = [c for c in calls if c.ended and _started_since(c, floor)]
        limit = min(int(query.get("limit", "20")), 20)
        objects = [record(c) for c in ended[:limit]]
        meta = {"limit": limit, "offset": 0, "total_count": len(ended), "next": None}
        return JSONResponse({"api_id": str(uuid.uuid4()), "meta": meta, "objects": objects})

    async def get(self, request: Request) -> Response:
        call = self._call(request)
        wanted = request.query_params.get("status")
        if wanted == "live" and call.status in LIVE:
            return JSONResponse(live_details(call))
        if wanted == "queued" and call.status in QUEUED:
            return JSONResponse(queued_details(call))
        if wanted is None and call.ended:
            return JSONResponse(record(call))
        raise wire.ApiError(404, wire.NOT_FOUND, "Call not found")

    async def hang_up(self, request: Request) -> Response:
        call = self._call(request)
        if call.status not in LIVE or not self.engine.end(call):
            raise wire.ApiError(404, wire.NOT_FOUND, "Call not found")
        return Response(status_code=204)

    async def cancel(self, request: Request) -> Response:
        call = self._call(request)
        if call.status not in QUEUED or not self.engine.end(call):
            raise wire.ApiError(404, wire.NOT_FOUND, "Request not found")
        return Response(status_code=204)

    def _call(self, request: Request) -> Call:
        call = self.engine.find(request.path_params["uuid"])
        if call is None:
            raise wire.ApiError(404, wire.NOT_FOUND, "Call not found")
        return call


def parse_create(body: bytes) -> wire.CreateRequest:
    """Plivo's create body (JSON, as its SDKs send it); ApiError 400 with its words."""
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise wire.ApiError(400, wire.INVALID_PARAMETER, "Invalid JSON body") from exc
    if not isinstance(data, dict):
        raise wire.ApiError(400, wire.INVALID_PARAMETER, "Invalid JSON body")
    for name in ("from", "to", "answer_url"):
        if not data.get(name):
            raise wire.ApiError(400, wire.INVALID_PARAMETER, f"{name} is required")
    to, from_ = _e164(str(data["to"])), _e164(str(data["from"]))
    if to is None or not wire.E164.match(to):
        raise wire.ApiError(400, wire.INVALID_TO, f"invalid to number: {data['to']}")
    if from_ is None or not wire.E164.match(from_):
        raise wire.ApiError(400, wire.INVALID_FROM, f"invalid from number: {data['from']}")
    urls = {k: str(data[k]) for k in ("answer_url", "ring_url", "hangup_url") if data.get(k)}
    urls.setdefault("hangup_url", urls["answer_url"])  # Plivo's default
    detection = _machine_detection(data)
    if detection:
        urls["machine_detection"] = detection  # "true", or "hangup": a machine is hung up on
    return wire.CreateRequest(
        to=to,
        from_=from_,
        status_callback=urls["hangup_url"],
        events=wire.CALLBACK_EVENTS,
        timeout=_whole(data, "ring_timeout", 60, wire.MAX_TIMEOUT),
        time_limit=_whole(data, "time_limit", wire.MAX_TIME_LIMIT, wire.MAX_TIME_LIMIT),
        extra=urls,
        detection="detect" if detection else None,  # Plivo hears no beep
        detection_url=str(data["machine_detection_url"]) if detection else None,
    )


def _machine_detection(data: dict[str, Any]) -> str | None:
    value = str(data.get("machine_detection", "")).lower()
    if not value or value == "false":
        return None
    if value not in ("true", "hangup"):
        raise wire.ApiError(400, wire.INVALID_PARAMETER, "machine_detection: true or hangup")
    if not data.get("machine_detection_url"):
        raise wire.ApiError(400, wire.INVALID_PARAMETER, "machine_detection_url is required")
    return value


def _whole(data: dict[str, Any], name: str, default: int, most: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise wire.ApiError(400, wire.INVALID_PARAMETER, f"{name} must be a whole number")
    if int(value) < 1:
        raise wire.ApiError(400, wire.INVALID_PARAMETER, f"{name} must be at least 1")
    return min(int(value), most)


def _e164(number: str | None) -> str | None:
    if not number:
        return None
    return number if number.startswith("+") else f"+{number}"


def _same_from(call: Call, from_number: str | None) -> bool:
    return from_number is None or call.request.from_ == _e164(from_number)


def _started_since(call: Call, floor: str | None) -> bool:
    if not floor:
        return True
    bound = datetime.fromisoformat(floor)
    bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
    return (call.start_time or call.created_at).replace(microsecond=0) >= bound


def _common(call: Call) -> dict[str, Any]:
    return {
        "call_uuid": call.sid,
        "request_uuid": call.sid,
        "from": plivo_number(call.request.from_),
        "to": plivo_number(call.request.to),
        "direction": "outbound",
        "caller_name": "",
    }


def live_details(call: Call) -> dict[str, Any]:
    status = "in-progress" if call.status == wire.IN_PROGRESS else "ringing"
    return {"api_id": str(uuid.uuid4()), **_common(call), "call_status": status}


def queued_details(call: Call) -> dict[str, Any]:
    return {"api_id": str(uuid.uuid4()), **_common(call), "call_status": "queued"}


def record(call: Call) -> dict[str, Any]:
    """An ended call's detail record (CDR)."""
    return {
        "api_id": str(uuid.uuid4()),
        "call_uuid": call.sid,
        "call_direction": "outbound",
        "from_number": plivo_number(call.request.from_),
        "to_number": plivo_number(call.request.to),
        "call_state": PLIVO_CALL_STATE[call.status],
        "hangup_cause_name": PLIVO_CAUSE[call.status],
        "call_duration": call.duration or 0,
        "bill_duration": call.duration or 0,
        "initiation_time": plivo_time(call.start_time or call.created_at),
        "answer_time": plivo_time(call.answered_wall) or None,
        "end_time": plivo_time(call.end_time),
        "resource_uri": f"/v1/Account/{call.account_sid}/Call/{call.sid}/",
    }
