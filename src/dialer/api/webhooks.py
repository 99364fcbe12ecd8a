"""Provider webhooks: signature checked, recorded once, one transaction and one release.

A forged request gets 403 and changes nothing. When the event cannot be stored (database
down) the answer is 503, so the provider delivers it again: never a 2xx for an event not kept.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dialer.adapters.telephony.twilio import parse_status_callback
from dialer.api.problems import problem
from dialer.bootstrap import Runtime
from dialer.errors import InvalidInput, NotFound, Problem
from dialer.services.calls import apply_event

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def _attempt_id(request: Request) -> int | None:
    raw = request.query_params.get("attempt")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput(Problem("attempt", f"expected an attempt id, got {raw!r}"))
    return int(raw)


def _public_url(runtime: Runtime, request: Request) -> str:
    """The URL the provider signed: our public base plus the path and query it called."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{runtime.services.webhook_base}{request.url.path}{query}"


def webhook_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/webhooks")

    @router.post("/twilio/status", status_code=204, response_model=None)
    async def twilio_status(request: Request) -> Response:
        form = await request.form()
        params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not runtime.verifier.verify(_public_url(runtime, request), params, signature):
            log.warning("webhook with a bad signature refused")
            return problem(403, "Forbidden", "the request signature does not match")
        try:
            event = parse_status_callback(params)
            result = await apply_event(runtime.services, _attempt_id(request), event)
        except InvalidInput as exc:
            return problem(400, "Bad Request", str(exc), exc.problems)
        except NotFound as exc:
            return problem(404, "Not Found", str(exc))
        except (DBAPIError, PoolTimeout, OSError) as exc:
            log.error("webhook not stored, asking the provider to retry: %s", exc)
            return problem(503, "Service Unavailable", "the event could not be stored")
        log.debug("attempt %s: %s", result.attempt_id, result.effect)
        return Response(status_code=204)

    return router
