"""Provider webhooks: signature checked, recorded once, one transaction and one release.

One route, ``POST /webhooks/{provider}/status``, for the configured provider (Twilio, Plivo or
Telnyx); a table says how each one's requests are read and answered. A forged request gets 403
and changes nothing. When the event cannot be stored (database down) the answer is 503, so the
provider delivers it again: never a 2xx for an event not kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dialer.adapters.telephony import plivo, telnyx
from dialer.adapters.telephony.inbound import Inbound, RequestVerifier
from dialer.adapters.telephony.twilio import parse_status_callback
from dialer.adapters.telephony.twilio_signature import SIGNATURE_HEADER
from dialer.api.models import MAX_ID
from dialer.api.problems import problem
from dialer.bootstrap import Runtime
from dialer.errors import InvalidInput, NotFound, Problem, Unavailable
from dialer.ports import ProviderEvent, WebhookVerifier
from dialer.services.calls import apply_event

log = logging.getLogger(__name__)

STORE_RETRY_AFTER = "5"  # seconds: a store that failed is given a moment before the next try


@dataclass(frozen=True)
class ProviderWebhook:
    """How one provider's status webhooks are read, and what it expects back."""

    parse: Callable[[Inbound], ProviderEvent | None]  # None: no status change, not stored
    reply: Callable[[], Response]


def _no_content() -> Response:
    return Response(status_code=204)


def _plivo_xml() -> Response:
    # The same URL serves ring, answer and hangup: Plivo reads XML from the answer request
    # and ignores the body of the others.
    return Response(plivo.DEFAULT_ANSWER_XML, media_type="application/xml")


WEBHOOKS: dict[str, ProviderWebhook] = {
    "twilio": ProviderWebhook(lambda i: parse_status_callback(i.form()), _no_content),
    "plivo": ProviderWebhook(lambda i: plivo.parse_callback(i.form()), _plivo_xml),
    "telnyx": ProviderWebhook(lambda i: telnyx.parse_webhook(i.body), _no_content),
}


def _attempt_id(request: Request) -> int | None:
    raw = request.query_params.get("attempt")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone also takes "²" and "٣"
        raise InvalidInput(Problem("attempt", f"expected an attempt id, got {raw[:40]!r}"))
    digits = raw.lstrip("0")
    if len(digits) > len(str(MAX_ID)) or int(digits or "0") > MAX_ID:
        # No attempt has such an id, and the database could not even be asked about it.
        raise NotFound(f"attempt {raw[:40]} does not exist")
    return int(digits or "0")


def _public_url(runtime: Runtime, request: Request) -> str:
    """The URL the provider signed: our public base plus the path and query it called."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{runtime.services.webhook_base}{request.url.path}{query}"


def _authentic(verifier: WebhookVerifier | RequestVerifier, inbound: Inbound) -> bool:
    if isinstance(verifier, RequestVerifier):
        return verifier.verify_request(inbound)
    return verifier.verify(inbound.url, inbound.form(), inbound.header(SIGNATURE_HEADER))


def webhook_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/webhooks")
    provider = runtime.services.telephony.name
    webhook = WEBHOOKS[provider]

    @router.post(f"/{provider}/status", status_code=204, response_model=None)
    async def status(request: Request) -> Response:
        inbound = Inbound(
            _public_url(runtime, request),
            {name.lower(): value for name, value in request.headers.items()},
            await request.body(),
        )
        if not _authentic(runtime.verifier, inbound):
            log.warning("%s webhook with a bad signature refused", provider)
            return problem(403, "Forbidden", "the request signature does not match")
        try:
            event = webhook.parse(inbound)
            if event is None:
                return webhook.reply()
            result = await apply_event(runtime.services, _attempt_id(request), event)
        except InvalidInput as exc:
            return problem(400, "Bad Request", str(exc), exc.problems)
        except NotFound as exc:
            return problem(404, "Not Found", str(exc))
        except (DBAPIError, PoolTimeout, OSError, Unavailable) as exc:
            log.error("webhook not stored, asking the provider to retry: %s", exc)
            return problem(
                503,
                "Service Unavailable",
                "the event could not be stored",
                headers={"Retry-After": STORE_RETRY_AFTER},
            )
        log.debug("attempt %s: %s", result.attempt_id, result.effect)
        return webhook.reply()

    return router
