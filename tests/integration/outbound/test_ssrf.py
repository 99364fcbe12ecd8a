"""Addresses are judged again when a delivery is made, after the host name is resolved: a
name that resolves to a loopback, private or link-local address is refused, nothing is sent,
and the refusal is recorded as the attempt's error."""

from __future__ import annotations

import httpx

from dialer.adapters.webhooks.http import HttpWebhookSender, resolve
from dialer.bootstrap import Runtime
from dialer.services.webhook_delivery import WebhookDeliverer
from tests.integration.outbound.conftest import subscribe
from tests.integration.outbound.test_delivery import attempts, lead_events, tenant_of
from tests.support.api import Keys, bearer
from tests.support.webhook_receiver import Receiver


def strict(runtime: Runtime, addresses: dict[str, list[str]] | None = None) -> WebhookDeliverer:
    """A deliverer whose sender allows http (the receiver's) but no private address; the
    system's resolver, unless ``addresses`` says what names resolve to."""

    async def resolver(host: str, port: int) -> list[str]:
        return addresses[host] if addresses else await resolve(host, port)

    sender = HttpWebhookSender(1.0, allow_http=True, allow_private=False, resolver=resolver)
    services = runtime.services
    return WebhookDeliverer(services.store, sender, services.clock)


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    client: httpx.AsyncClient, keys: Keys, receiver: Receiver, runtime: Runtime
) -> None:
    # accepted when created (this API allows private hosts), refused once resolved
    receiver.url = receiver.url.replace("127.0.0.1", "localhost")
    endpoint = await subscribe(client, keys.admin, receiver, ["lead.finished"])
    await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
    deliverer = strict(runtime)
    try:
        assert await deliverer.run_once() == 1
    finally:
        await deliverer.aclose()
    assert receiver.received == []
    [attempt] = await attempts(client, keys, endpoint["id"])
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: localhost resolves to")
    assert "this machine's own address" in attempt["error"]


async def test_a_public_name_resolving_to_a_private_address_is_refused(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime
) -> None:
    answer = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://hooks.crm.example/in", "events": ["lead.finished"]},
        headers=bearer(keys.admin),
    )
    await lead_events(runtime, await tenant_of(runtime), 1, "lead.finished")
    deliverer = strict(runtime, {"hooks.crm.example": ["93.184.216.34", "10.0.0.7"]})
    try:
        assert await deliverer.run_once() == 1
    finally:
        await deliverer.aclose()
    [attempt] = await attempts(client, keys, answer.json()["id"])
    assert "10.0.0.7 is a private or reserved address" in attempt["error"]
