"""Requests of concurrent tasks written together, each caller answered on its own.

Group commit without a timer: a request that finds no write in progress starts one at the
next turn of the event loop (taking whatever else arrived in that turn); requests that arrive
while a write is in progress wait for it and go together in the next. Under light load a
request is written alone and at once; under heavy load batches grow by themselves to what
one write per round trip can carry, up to ``max_batch``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[list[T]], Awaitable[Sequence[R]]]


class Coalescer(Generic[T, R]):
    def __init__(self, write: Write[T, R], max_batch: int = 500) -> None:
        self._write = write
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """The answer ``write`` gave for ``item``; its error when the whole write failed."""
        loop = asyncio.get_running_loop()
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            # A writer of another loop (an earlier asyncio.run) left nothing that can be
            # answered here.
            self._pending = [p for p in self._pending if p[1].get_loop() is loop]
            self._writer = loop.create_task(self._drain())
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # the requests of this turn of the loop go in the first batch
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            await self._answer(batch)

    async def _answer(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except BaseException as exc:  # every caller hears it, even of a cancelled write
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()  # a cancelled write cancels its callers
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its caller may have given up (cancelled)
                future.set_result(result)
