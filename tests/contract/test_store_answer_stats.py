"""The store contract for answer-time counts, the same on SQLite, PostgreSQL and in memory:
increments add up per key, and a read returns the tenant's, the campaign's and each asked
contact's counts (the levels only when asked for)."""

from __future__ import annotations

from dialer.ports import Store
from dialer.ports.answer_store import EVERY, AnswerKey


async def test_counts_add_up_and_read_back_by_level(store: Store) -> None:
    tenant, campaign, other_campaign, ada, bob = 1, 10, 11, 100, 101
    async with store.unit() as uow:
        await uow.answers.add(
            {
                AnswerKey(tenant, EVERY, EVERY, 9): (3, 1),
                AnswerKey(tenant, campaign, EVERY, 9): (2, 1),
                AnswerKey(tenant, other_campaign, EVERY, 9): (1, 0),
                AnswerKey(tenant, EVERY, ada, 9): (2, 1),
                AnswerKey(tenant, EVERY, bob, 18): (1, 1),
                AnswerKey(2, EVERY, EVERY, 9): (50, 50),
            }
        )
        await uow.answers.add(
            {AnswerKey(tenant, EVERY, EVERY, 9): (1, 1), AnswerKey(tenant, EVERY, ada, 9): (1, 0)}
        )
        await uow.commit()
    async with store.unit() as uow:
        counts = await uow.answers.counts(tenant, campaign, [ada])
        contacts_only = await uow.answers.counts(tenant, campaign, [ada, bob], levels=False)
        nothing = await uow.answers.counts(tenant, campaign, [], levels=False)
    assert counts.tenant == {9: (4, 2)}
    assert counts.campaign == {9: (2, 1)}
    assert counts.contacts == {ada: {9: (3, 1)}}
    assert (contacts_only.tenant, contacts_only.campaign) == ({}, {})
    assert contacts_only.contacts == {ada: {9: (3, 1)}, bob: {18: (1, 1)}}
    assert (nothing.tenant, nothing.campaign, nothing.contacts) == ({}, {}, {})
