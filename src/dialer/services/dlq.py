"""The dead-letter queue: jobs that still failed after their retries, kept with their cause,
payload and number of tries, until an operator replays or discards them.

A dead letter never holds anything up: the attempt it names is settled by the automatic
paths meanwhile (an unsent attempt is withdrawn by housekeeping, a sent one is resolved by
callbacks, a provider lookup or the reaper). Replaying a letter finishes what its job could
not, and only what is still to do:

* the attempt was never sent: it is withdrawn — void, lease released, the lead due again
  with its attempts unspent — and the dispatcher dials it under a fresh admission. A replay
  never sends a call itself, so it can never send one twice or above a cap;
* the attempt was sent and is still live: nothing to do; its call is settled as usual;
* the attempt has ended: its lease is released again (idempotent), in case that release was
  what failed.

A webhook delivery given up on (kind ``webhook``) is made due again: one more try, and the
letter is reopened if that fails too.

Every function takes the caller's tenant (``None``: an operator acting for every tenant); a
letter of another tenant is NotFound, as if it did not exist.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from dialer.errors import Conflict, InvalidInput, NotFound, Problem
from dialer.ports import DeadLetter, Store
from dialer.ports.jobs import ORIGINATE, job_from_payload
from dialer.services.calls import lease_of, withdraw
from dialer.services.context import Services
from dialer.services.message_sending import MESSAGE_JOB, resend
from dialer.services.webhook_delivery import WEBHOOK_JOB
from dialer.services.webhook_delivery import replay as redeliver

__all__ = ["ORIGINATE", "DeadLetter", "discard", "list_dead_letters", "replay"]

log = logging.getLogger(__name__)

MAX_PAGE = 1000


async def list_dead_letters(
    store: Store,
    tenant_id: int | None,
    *,
    after_id: int = 0,
    limit: int = 100,
    include_closed: bool = False,
) -> list[DeadLetter]:
    """Letters by id after ``after_id`` (a page cursor); open ones unless ``include_closed``."""
    problems = []
    if not 1 <= limit <= MAX_PAGE:
        problems.append(Problem("limit", f"must be between 1 and {MAX_PAGE}, not {limit}"))
    if after_id < 0:
        problems.append(Problem("after_id", f"must not be negative, not {after_id}"))
    if problems:
        raise InvalidInput(problems)
    async with store.unit() as uow:
        return await uow.cluster.dead_letters(tenant_id, after_id, limit, include_closed)


async def replay(services: Services, letter_id: int, tenant_id: int | None) -> DeadLetter:
    """Finish what the letter's job could not (see the module's notes); the letter is then
    closed as replayed. Conflict when it was closed already, or cannot be replayed."""
    letter = await _open_letter(services.store, letter_id, tenant_id)
    if letter.kind == MESSAGE_JOB:
        done = await resend(services, int(letter.payload.get("message_id", 0)))
        log.info("dead letter %s replayed: %s", letter_id, done)
        return await _close(services.store, letter_id, "replayed", services.clock.now())
    if letter.kind == WEBHOOK_JOB:
        now = services.clock.now()
        done = await redeliver(services.store, int(letter.payload.get("delivery_id", 0)), now)
        log.info("dead letter %s replayed: %s", letter_id, done)
        return await _close(services.store, letter_id, "replayed", now)
    if letter.kind != ORIGINATE:
        raise Conflict(f"dead letter {letter_id} ({letter.kind}) cannot be replayed; discard it")
    try:
        job = job_from_payload(letter.payload)
    except InvalidInput as exc:
        raise Conflict(
            f"dead letter {letter_id} holds no job to replay ({exc}); discard it"
        ) from exc
    async with services.store.unit() as uow:
        attempt = await uow.attempts.get(job.attempt_id)
    if attempt is None:
        raise Conflict(
            f"dead letter {letter_id}: attempt {job.attempt_id} does not exist; discard it"
        )
    if attempt.is_terminal:
        await services.admission.release(lease_of(attempt))
        done = "its attempt had ended; lease released"
    elif await withdraw(services, job, "not sent: replayed from the dead-letter queue"):
        done = "its lead is due again"
    else:
        done = "its attempt was sent; callbacks or the reaper settle it"
    log.info("dead letter %s replayed: %s", letter_id, done)
    return await _close(services.store, letter_id, "replayed", services.clock.now())


async def discard(store: Store, letter_id: int, tenant_id: int | None) -> DeadLetter:
    """Close the letter without doing anything; Conflict when it was closed already."""
    await _open_letter(store, letter_id, tenant_id)
    return await _close(store, letter_id, "discarded", datetime.now(UTC))


async def _open_letter(store: Store, letter_id: int, tenant_id: int | None) -> DeadLetter:
    async with store.unit() as uow:
        letter = await uow.cluster.get_dead_letter(letter_id)
    if letter is None or (tenant_id is not None and letter.tenant_id != tenant_id):
        raise NotFound(f"dead letter {letter_id} does not exist")
    if not letter.is_open:
        raise Conflict(f"dead letter {letter_id} was already {_closed_as(letter)}")
    return letter


async def _close(store: Store, letter_id: int, how: str, now: datetime) -> DeadLetter:
    async with store.unit() as uow:
        if not await uow.cluster.close_dead_letter(letter_id, how, now):
            raise Conflict(f"dead letter {letter_id} was closed by someone else meanwhile")
        letter = await uow.cluster.get_dead_letter(letter_id)
        await uow.commit()
    assert letter is not None
    return letter


def _closed_as(letter: DeadLetter) -> str:
    return "replayed" if letter.replayed_at is not None else "discarded"
