"""Many concurrent callers, one database round trip: group commit for a service's small reads and writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

T = TypeVar("T")
R = TypeVar("R")

Work = Callable[[asyncpg.Connection, Sequence[T]], Awaitable[Sequence[R]]]


class Batcher(Generic[T, R]):
    """Runs ``work`` on everything submitted while the previous batch was running, one batch at a time.

    Without ``linger`` an idle batcher starts at once, so a lone caller waits for no timer; under load the
    batches grow by themselves to what arrives during one round trip (at most ``max_size``). With ``linger``,
    a batch that is not full waits that long for more callers first: fewer, larger statements, for work whose
    callers do not mind the wait. ``work`` answers one result per item, in order; if it raises, every caller
    of that batch gets the exception. One pooled connection serves batch after batch while callers keep
    coming: a pool's release costs a round trip of its own (the reset).
    """

    def __init__(self, pool: asyncpg.Pool, work: Work[T, R], *, max_size: int = 500, linger: float = 0.0):
        self._pool = pool
        self._linger = linger
        self._work = work
        self._max_size = max_size
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                try:
                    async with self._pool.acquire() as conn:
                        while self._waiting and await self._run(conn):
                            pass
                except Exception as exc:  # noqa: BLE001 - no connection: the callers waiting get the error
                    waiting, self._waiting = self._waiting, []
                    _fail(waiting, exc)
        except asyncio.CancelledError:
            _fail(self._waiting, None)
            self._waiting = []
            raise

    async def _run(self, conn: asyncpg.Connection) -> bool:
        """One batch; False when it failed, so that the connection goes back to the pool (or is dropped)."""
        if self._linger and len(self._waiting) < self._max_size:
            await asyncio.sleep(self._linger)
        batch, self._waiting = self._waiting[: self._max_size], self._waiting[self._max_size :]
        try:
            results = await self._work(conn, [item for item, _ in batch])
        except asyncio.CancelledError:
            _fail(batch, None)
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            _fail(batch, exc)
            return False
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True


def _fail(waiting: list[tuple[T, asyncio.Future[R]]], exc: Exception | None) -> None:
    """Hand ``exc`` to every caller still waiting, or cancel them when it is None."""
    for _, future in waiting:
        if future.done():
            continue
        if exc is None:
            future.cancel()
        else:
            future.set_exception(exc)
