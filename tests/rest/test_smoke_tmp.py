import httpx
from tests.rest.conftest import Keys, bearer, new_campaign

async def test_smoke(client: httpx.AsyncClient, keys: Keys) -> None:
    c = await new_campaign(client, keys.operator)
    print(c)
    r = await client.get(f"/v1/campaigns/{c['id']}/progress", headers=bearer(keys.viewer))
    print(r.status_code, r.text)
    r = await client.post("/v1/calls", json={"to": "+12125550100", "from": "+14155550100"}, headers=bearer(keys.operator))
    print(r.status_code, r.text)
    r = await client.get("/v1/leads/2", headers=bearer(keys.viewer))
    print(r.status_code, r.text)
    r = await client.get("/openapi.json")
    print(r.status_code, len(r.text))
    r = await client.get("/metrics")
    print(r.status_code, r.text[:3000])
    r = await client.get("/readyz")
    print(r.status_code, r.text)
    assert False
