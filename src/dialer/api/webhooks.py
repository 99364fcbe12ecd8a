"""Provider webhooks: signature checked, recorded once, written many to a transaction.

One route, ``POST /webhooks/{provider}/status``, for the configured provider (Twilio, Plivo or
Telnyx); a table says how each one's requests are read and answered. A forged request gets 403
and changes nothing. When the event cannot be stored (database down) the answer is 503, so the
provider delivers it again: never a 2xx for an event not kept. The events of concurrent
requests are written together (``services.provider_events.EventWriter``): each request is
answered once the transaction holding its event has committed. Every refusal is logged at
WARNING with its reason, at most one line per reason every 10 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request, Response

from dialer.adapters.telephony import plivo, telnyx
from dialer.adapters.telephony.inbound import Inbound, RequestVerifier
from dialer.adapters.telephony.twilio import parse_status_callback
from dialer.adapters.telephony.twilio_signature import SIGNATURE_HEADER
from dialer.api.models import MAX_ID
from dialer.api.problems import problem
from dialer.bootstrap import Runtime
from dialer.errors import InvalidInput, NotFound, Problem, Unavailable
from dialer.observability.throttle import ThrottledWarnings
from dialer.ports import ProviderEvent, WebhookVerifier
from dialer.services.provider_events import EventWriter

log = logging.getLogger(__name__)

STORE_RETRY_AFTER = "5"  # seconds: a store that failed is given a moment before the next try
REFUSAL_LOG_PERIOD = 10.0  # seconds: at most one log line per refusal reason in this period


@dataclass(frozen=True)
class ProviderWebhook:
    """How one provider's status webhooks are read, and what it expects back."""

    parse: Callable[[Inbound], ProviderEvent | None]  # None: no status change, not stored
    reply: Callable[[Inbound], Response]


def _no_content(_: Inbound) -> Response:
    return Response(status_code=204)


def _plivo_xml(inbound: Inbound) -> Response:
    # The same URL serves ring, answer and hangup: Plivo reads XML from the answer request
    # and ignores the body of the others. With machine detection, our answer URL asks for the
    # call to be held (``hold``) while detection listens.
    hold = parse_qs(urlsplit(inbound.url).query).get("hold")
    return Response(plivo.answer_xml(hold[0] if hold else None), media_type="application/xml")


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


class _Refusals:
    """Every refused callback is logged at WARNING with its reason, at most one line per
    reason every few seconds: a provider retrying a refused request must not flood the log."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.warnings = ThrottledWarnings(log, REFUSAL_LOG_PERIOD)

    def refuse(self, reason: str, response: Response, detail: str) -> Response:
        self.warnings.warn(
            reason,
            "%s status webhook answered %s (%s): %s",
            self.provider,
            response.status_code,
            reason,
            detail,
        )
        return response


def webhook_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/webhooks")
    provider = runtime.services.telephony.name
    webhook = WEBHOOKS[provider]
    refusals = _Refusals(provider)
    writer = EventWriter(runtime.services)

    @router.post(f"/{provider}/status", status_code=204, response_model=None)
    async def status(request: Request) -> Response:
        inbound = Inbound(
            _public_url(runtime, request),
            {name.lower(): value for name, value in request.headers.items()},
            await request.body(),
        )
        if not _authentic(runtime.verifier, inbound):
            detail = "the request signature does not match"
            return refusals.refuse("bad signature", problem(403, "Forbidden", detail), detail)
        try:
            event = webhook.parse(inbound)
            if event is None:
                runtime.callbacks.heard(runtime.services.clock.now())
                return webhook.reply(inbound)
            result = await writer.write(_attempt_id(request), event)
        except InvalidInput as exc:
            answer = problem(400, "Bad Request", str(exc), exc.problems)
            return refusals.refuse("malformed", answer, str(exc))
        except NotFound as exc:
            answer = problem(404, "Not Found", str(exc))
            return refusals.refuse("unknown attempt", answer, str(exc))
        except (OSError, Unavailable) as exc:
            answer = problem(
                503,
                "Service Unavailable",
                "the event could not be stored",
                headers={"Retry-After": STORE_RETRY_AFTER},
            )
            detail = f"not stored, the provider is asked to retry: {exc}"
            return refusals.refuse("store unavailable", answer, detail)
        log.debug("attempt %s: %s", result.attempt_id, result.effect)
        runtime.callbacks.heard(runtime.services.clock.now())  # the provider reaches us
        return webhook.reply(inbound)

    return router
