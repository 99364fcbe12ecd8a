"""The simulator's SMS routes (Twilio dialect): Twilio's Messages API, and a ``/_sim`` endpoint
that makes a contact text one of our numbers.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json        send a message (201)
GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json  fetch a message
POST /_sim/sms/inbound   JSON {"from": contact, "to": our number, "body": "START"}: the contact
                         texts us (opt-out keywords take effect; the inbound webhook is sent)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.simulator import wire
from dialer.simulator.sms import SmsEngine

Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Handler], Handler]
MESSAGES = "/2010-04-01/Accounts/{account_sid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"


class SmsApi:
    def __init__(self, sms: SmsEngine) -> None:
        self.sms = sms

    def routes(self, guard: Guard) -> list[Route]:
        """``guard`` checks the account's basic auth and answers refusals as Twilio does (the
        Calls endpoints' guard)."""
        return [
            Route(MESSAGES, guard(self.create), methods=["POST"]),
            Route(MESSAGE, guard(self.fetch), methods=["GET"]),
            Route("/_sim/sms/inbound", self.inbound, methods=["POST"]),
        ]

    async def create(self, request: Request) -> Response:
        params = parse_qs((await request.body()).decode(), keep_blank_values=True)
        message = self.sms.create(params)
        return JSONResponse(message.resource(), status_code=201)

    async def fetch(self, request: Request) -> Response:
        return JSONResponse(self.sms.get(request.path_params["sid"]).resource())

    async def inbound(self, request: Request) -> Response:
        try:
            fields = _inbound_fields(await request.body())
        except ValueError as exc:  # includes json.JSONDecodeError
            return JSONResponse({"problems": [{"location": "", "message": str(exc)}]}, 400)
        sid = self.sms.receive(fields["from"], fields["to"], fields["body"])
        return JSONResponse({"sid": sid}, status_code=201)


def _inbound_fields(body: bytes) -> dict[str, str]:
    document: Any = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError('expected a JSON object: {"from": ..., "to": ..., "body": ...}')
    fields = {name: document.get(name) for name in ("from", "to", "body")}
    texts = {name: value for name, value in fields.items() if isinstance(value, str) and value}
    for name in ("from", "to"):
        if not wire.E164.match(texts.get(name, "")):
            raise ValueError(f"{name} must be an E.164 number like +14155550100")
    if "body" not in texts:
        raise ValueError("body must be a non-empty string")
    return texts
