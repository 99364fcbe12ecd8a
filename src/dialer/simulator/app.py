"""The simulator's HTTP face: the provider's REST API in its dialect (Twilio's below; Plivo's
in plivo_api.py, Telnyx's in telnyx_api.py), plus its own ``/_sim`` endpoints.

POST /2010-04-01/Accounts/{AccountSid}/Calls.json          create a call (201)
GET  /2010-04-01/Accounts/{AccountSid}/Calls.json          list calls (To, From, StartTime>=)
GET  /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json    fetch a call
POST /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json    Status=canceled|completed, or Twiml
.../Messages.json, .../Messages/{Sid}.json, /_sim/sms/inbound  SMS: see sms_api.py
GET  /_sim/stats     the observer's report        POST /_sim/reset   a new window
GET  /_sim/config    the settings (no token)      POST /_sim/config  change them (JSON)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.errors import InvalidInput
from dialer.simulator import wire
from dialer.simulator.config import SimulatorConfig
from dialer.simulator.engine import Engine
from dialer.simulator.observer import Observer
from dialer.simulator.plivo_api import PlivoApi
from dialer.simulator.sms_api import SmsApi
from dialer.simulator.telnyx_api import TelnyxApi

Handler = Callable[[Request], Awaitable[Response]]
CALLS = "/2010-04-01/Accounts/{account_sid}/Calls.json"
CALL = "/2010-04-01/Accounts/{account_sid}/Calls/{sid}.json"


def create_app(config: SimulatorConfig, observer: Observer | None = None) -> Starlette:
    """The simulator as an ASGI app; its engine (``app.state.engine``) starts and stops with
    the app's lifespan."""
    engine = Engine(config, observer)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.aclose()

    api = TwilioApi(engine)
    routes = [
        *_provider_routes(api),
        Route("/_sim/stats", api.stats, methods=["GET"]),
        Route("/_sim/reset", api.reset, methods=["POST"]),
        Route("/_sim/config", api.show_config, methods=["GET"]),
        Route("/_sim/config", api.change_config, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    return app


def _provider_routes(api: TwilioApi) -> list[Route]:
    dialect = api.engine.config.dialect
    if dialect == "plivo":
        return PlivoApi(api.engine).routes()
    if dialect == "telnyx":
        return TelnyxApi(api.engine).routes()
    return [
        Route(CALLS, api.twilio(api.create), methods=["POST"]),
        Route(CALLS, api.twilio(api.list_calls), methods=["GET"]),
        Route(CALL, api.twilio(api.fetch), methods=["GET"]),
        Route(CALL, api.twilio(api.update), methods=["POST"]),
        *SmsApi(api.engine.sms).routes(api.twilio),
    ]


class TwilioApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def twilio(self, handler: Handler) -> Handler:
        """Basic auth first, then Twilio's error JSON for every refusal."""

        async def guarded(request: Request) -> Response:
            try:
                self.engine.authenticate(
                    request.path_params["account_sid"], request.headers.get("authorization")
                )
                return await handler(request)
            except wire.ApiError as exc:
                return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

        return guarded

    async def create(self, request: Request) -> Response:
        params = await _form(request)
        call = await self.engine.create(lambda: wire.parse_create(params))
        return JSONResponse(self.engine.resource(call), status_code=201)

    async def list_calls(self, request: Request) -> Response:
        query = parse_qs(request.url.query, keep_blank_values=True)
        return JSONResponse(self.engine.list_calls(query))

    async def fetch(self, request: Request) -> Response:
        return JSONResponse(self.engine.resource(self.engine.get(request.path_params["sid"])))

    async def update(self, request: Request) -> Response:
        call = self.engine.update(request.path_params["sid"], await _form(request))
        return JSONResponse(self.engine.resource(call))

    async def stats(self, _: Request) -> Response:
        return JSONResponse(self.engine.observer.snapshot())

    async def reset(self, _: Request) -> Response:
        self.engine.observer.reset()
        return JSONResponse(self.engine.observer.snapshot())

    async def show_config(self, _: Request) -> Response:
        return JSONResponse(self._public())

    async def change_config(self, request: Request) -> Response:
        try:
            changes = json.loads(await request.body())
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of settings")
            self.engine.configure(changes)
        except ValueError as exc:  # includes json.JSONDecodeError
            return JSONResponse({"problems": [{"location": "", "message": str(exc)}]}, 400)
        except InvalidInput as exc:
            return JSONResponse({"problems": _problems(exc)}, status_code=400)
        return JSONResponse(self._public())

    def _public(self) -> dict[str, Any]:
        """The settings without the token; for Telnyx, the webhook verification key too."""
        public = self.engine.config.public()
        key = getattr(self.engine.dialect, "public_key", None)
        if key is not None:
            public["telnyx_public_key"] = key
        return public


async def _form(request: Request) -> dict[str, list[str]]:
    """An url-encoded body, keeping repeated names (StatusCallbackEvent)."""
    return parse_qs((await request.body()).decode(), keep_blank_values=True)


def _problems(error: InvalidInput) -> list[dict[str, Any]]:
    return [{"location": p.location, "message": p.message} for p in error.problems]
