"""Messaging webhooks: Twilio message status callbacks and inbound replies, and the one-click
unsubscribe link of our emails.

POST /webhooks/twilio/messages/status     MessageStatus callbacks (signed); ``?m=`` is ours
POST /webhooks/twilio/messages/inbound    replies: STOP/START honoured at once, HELP answered
GET  /unsubscribe/{id}/{token}            a page with one button (a GET must change nothing:
POST /unsubscribe/{id}/{token}            mail scanners follow links); the POST unsubscribes,
                                          and is what List-Unsubscribe-Post clients send
As for calls: a forged request is 403, an event that could not be stored is 503 with
Retry-After (the provider sends it again), and one stored is answered 2xx.
"""

from __future__ import annotations

import html
import logging
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response

from dialer.adapters.messaging.twilio_sms import inbound_from_form, message_event_from_form
from dialer.adapters.telephony.inbound import Inbound
from dialer.adapters.telephony.twilio_signature import SIGNATURE_HEADER, TwilioWebhookVerifier
from dialer.api.problems import problem
from dialer.bootstrap import Runtime
from dialer.domain.sms import OptKeyword
from dialer.errors import InvalidInput, Problem, Unavailable
from dialer.services.message_events import MessageEventWriter, apply_inbound, unsubscribe

log = logging.getLogger(__name__)

STORE_RETRY_AFTER = "5"
HELP_TEXT = "Reply STOP to stop receiving these messages, START to receive them again."


def _message_id(request: Request) -> int | None:
    raw = request.query_params.get("m")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidInput(Problem("m", f"expected a message id, got {raw[:40]!r}"))
    return int(raw)


def _twiml(text: str | None) -> Response:
    body = "" if text is None else f"<Message>{escape(text)}</Message>"
    content = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(content, media_type="application/xml")


def _unavailable(exc: Exception) -> Response:
    log.warning("message webhook not stored, the provider is asked to retry: %s", exc)
    return problem(
        503,
        "Service Unavailable",
        "the event could not be stored",
        headers={"Retry-After": STORE_RETRY_AFTER},
    )


def message_webhook_router(runtime: Runtime, auth_token: str | None) -> APIRouter:
    router = APIRouter()
    verifier = TwilioWebhookVerifier(auth_token) if auth_token else None
    writer = MessageEventWriter(runtime.services)  # callbacks written together

    async def inbound_of(request: Request) -> Inbound | Response:
        query = f"?{request.url.query}" if request.url.query else ""
        inbound = Inbound(
            f"{runtime.services.webhook_base}{request.url.path}{query}",
            {name.lower(): value for name, value in request.headers.items()},
            await request.body(),
        )
        signature = inbound.header(SIGNATURE_HEADER)
        if verifier is None or not verifier.verify(inbound.url, inbound.form(), signature):
            log.warning("message webhook refused: the request signature does not match")
            return problem(403, "Forbidden", "the request signature does not match")
        return inbound

    @router.post("/webhooks/twilio/messages/status", status_code=204, response_model=None)
    async def message_status(request: Request) -> Response:
        inbound = await inbound_of(request)
        if isinstance(inbound, Response):
            return inbound
        try:
            event = message_event_from_form(inbound.form())
            await writer.write(event, _message_id(request))
        except InvalidInput as exc:
            return problem(400, "Bad Request", str(exc), exc.problems)
        except (OSError, Unavailable) as exc:
            return _unavailable(exc)
        return Response(status_code=204)

    @router.post("/webhooks/twilio/messages/inbound", response_model=None)
    async def message_inbound(request: Request) -> Response:
        inbound = await inbound_of(request)
        if isinstance(inbound, Response):
            return inbound
        try:
            keyword = await apply_inbound(runtime.services, inbound_from_form(inbound.form()))
        except InvalidInput as exc:
            return problem(400, "Bad Request", str(exc), exc.problems)
        except (OSError, Unavailable) as exc:
            return _unavailable(exc)
        return _twiml(HELP_TEXT if keyword is OptKeyword.HELP else None)

    @router.get("/unsubscribe/{message_id}/{token}", response_model=None)
    async def unsubscribe_page(message_id: int, token: str) -> Response:
        action = f"/unsubscribe/{message_id}/{html.escape(token)}"
        page = (
            "<!doctype html><title>Unsubscribe</title>"
            f'<form method="post" action="{action}"><p>Stop receiving these emails?</p>'
            '<button type="submit">Unsubscribe</button></form>'
        )
        return Response(page, media_type="text/html")

    @router.post("/unsubscribe/{message_id}/{token}", response_model=None)
    async def unsubscribe_now(message_id: int, token: str) -> Response:
        try:
            done = await unsubscribe(runtime.services, message_id, token)
        except (OSError, Unavailable) as exc:
            return _unavailable(exc)
        if not done:
            return problem(404, "Not Found", "this unsubscribe link is not valid")
        page = "<!doctype html><title>Unsubscribed</title><p>You are unsubscribed.</p>"
        return Response(page, media_type="text/html")

    return router
