"""Twilio status callbacks, signed as the provider signs them, posted to the app."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from dialer.adapters.store.tables import call_events
from dialer.adapters.telephony.twilio_signature import sign
from dialer.bootstrap import Runtime
from tests.support.api import BASE

TOKEN = "webhook-token"


def callback(status: str, sequence: int, **extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "f" * 32,
        "AccountSid": "AC" + "1" * 32,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "From": "+14155550100",
        "To": "+12125550100",
        **extra,
    }


async def post(
    client: httpx.AsyncClient, attempt: int | str, params: dict[str, str], token: str = TOKEN
) -> httpx.Response:
    path = f"/webhooks/twilio/status?attempt={attempt}"
    signature = sign(token, BASE + path, params)
    return await client.post(path, data=params, headers={"X-Twilio-Signature": signature})


async def event_count(runtime: Runtime) -> int:
    async with runtime.store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(call_events)) or 0)
