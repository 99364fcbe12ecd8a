"""What only the in-memory store needs proving beyond the store contract: units of work run
one at a time, a unit nested in its own task is refused, and the composition root picks it
for ``memory://``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.adapters.store.memory import MemoryStore
from dialer.adapters.store.sql import SqlStore
from dialer.bootstrap import MEMORY_URL, build_store, prepare_store, refuse_shared_memory
from dialer.domain.model import CampaignSettings
from dialer.errors import DialerError, InvalidInput
from dialer.settings import load_settings

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


async def test_a_unit_waits_for_the_open_one_and_then_sees_its_commit() -> None:
    store = MemoryStore()
    seen: list[list[str]] = []

    async def reader() -> None:
        async with store.unit() as uow:
            found = await uow.campaigns.of_tenant(1, 0, 10)
            seen.append([c.name for c in found])

    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        await uow.campaigns.add(tenant, CampaignSettings("first", "+14155550100"), NOW)
        waiting = asyncio.create_task(reader())
        await asyncio.sleep(0)  # let the reader run up to the store's lock
        assert not seen  # it waits: this unit has not ended
        await uow.commit()
    await waiting
    assert seen == [["first"]]


async def test_leaving_a_unit_undoes_what_it_changed_after_its_last_commit() -> None:
    store = MemoryStore()
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        campaign = await uow.campaigns.add(tenant, CampaignSettings("kept", "+14155550100"), NOW)
        await uow.commit()
        await uow.campaigns.save_settings(campaign, CampaignSettings("lost", "+14155550100"), NOW)
        await uow.do_not_call.add(tenant, [("+12125550001", None)], NOW)
    async with store.unit() as uow:
        loaded = await uow.campaigns.get(campaign.id)
        listed = await uow.do_not_call.listed(tenant, ["+12125550001"])
    assert (loaded.name, loaded.version, listed) == ("kept", 1, set())


async def test_a_unit_inside_a_unit_of_the_same_task_is_refused() -> None:
    store = MemoryStore()
    async with store.unit():
        with pytest.raises(DialerError, match="already open"):
            async with store.unit():
                pass


async def test_the_composition_root_keeps_memory_urls_in_memory() -> None:
    store = build_store(MEMORY_URL)
    await prepare_store(store)  # no schema to migrate
    assert isinstance(store, MemoryStore)
    assert isinstance(build_store("sqlite:///unused.db"), SqlStore)
    await store.ping()


def test_memory_cannot_be_shared_with_workers() -> None:
    refuse_shared_memory(load_settings(database_url=MEMORY_URL))
    with pytest.raises(InvalidInput, match="DIALER_DATABASE_URL"):
        refuse_shared_memory(load_settings(database_url=MEMORY_URL, broker_url="amqp://x//"))
