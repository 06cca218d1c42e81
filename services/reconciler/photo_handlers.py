"""The reconciler's photo handlers: each message of photos is stored with the ones that arrive meanwhile, in
one transaction, and a run waiting for its photos ends once the fetcher's completion and every message it
counts are stored (``photo_deliveries``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import asyncpg

from services.reconciler import member_photos, photo_deliveries
from shared import db, run_locks, runs
from shared.batching import Batcher
from shared.errors import Permanent
from shared.messages import PhotosCompleted, PhotosFetched, PhotosStored

log = logging.getLogger(__name__)


class PhotoHandlers:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self._batcher: Batcher[PhotosFetched, Exception | None] = Batcher(pool, self._store)
        self._shown: dict[str, float] = {}  # run id -> when its photos stored were last written

    async def on_photos_fetched(self, msg: PhotosFetched) -> None:
        """Acknowledged once its photos are committed."""
        error = await self._batcher.submit(msg)
        if error is not None:
            raise error

    async def on_photos_completed(self, msg: PhotosCompleted) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await self._waiting(conn, msg.run_id):
                await photo_deliveries.record_completion(conn, msg)
                await self._end_if_complete(conn, msg.run_id)

    async def _store(
        self, conn: asyncpg.Connection, batch: Sequence[PhotosFetched]
    ) -> list[Exception | None]:
        outcomes = await _store_messages(conn, batch)
        stored = {m.run_id for m, outcome in zip(batch, outcomes, strict=True) if outcome is None}
        for run_id in sorted(stored):
            async with conn.transaction():
                if await self._waiting(conn, run_id) and not await self._end_if_complete(conn, run_id):
                    await self._show(conn, run_id)
        return outcomes

    @staticmethod
    async def _waiting(conn: asyncpg.Connection, run_id: str) -> bool:
        """Whether the run waits for its photos, under the run's lock (to the end of the caller's
        transaction)."""
        await run_locks.lock(conn, "run", run_id)
        run = await runs.load(conn, run_id)
        return run is not None and run.status == runs.RunStatus.PHOTOS

    async def _end_if_complete(self, conn: asyncpg.Connection, run_id: str) -> bool:
        done = await photo_deliveries.complete(conn, run_id)
        if done is None:
            return False
        await runs.end_photos(conn, run_id, done.error, done.graph_requests, done.cause)
        self._shown.pop(run_id, None)
        log.info(
            "run %s: its photos are in; %s", run_id, "failed: " + done.error if done.error else "succeeded"
        )
        return True

    async def _show(self, conn: asyncpg.Connection, run_id: str) -> None:
        """The photos stored so far on the run's progress, at most every half PROGRESS_EVERY."""
        now = time.monotonic()
        if now - self._shown.get(run_id, 0.0) < runs.PROGRESS_EVERY / 2:
            return
        self._shown[run_id] = now
        counters = {"photos_stored": await photo_deliveries.stored(conn, run_id)}
        await runs.record_progress(conn, run_id, runs.RunStatus.PHOTOS, counters)


async def _store_messages(conn: asyncpg.Connection, batch: Sequence[PhotosFetched]) -> list[Exception | None]:
    """One transaction for the batch; should it fail, one for each message, so that a photo the database
    refuses fails its own message and no other."""
    outcomes: list[Exception | None] = []
    decoded: list[list[member_photos.Photo]] = []
    for msg in batch:
        try:
            decoded.append(member_photos.decode(msg))
            outcomes.append(None)
        except Permanent as exc:
            decoded.append([])
            outcomes.append(exc)
    good = [n for n, outcome in enumerate(outcomes) if outcome is None]
    try:
        async with conn.transaction():
            await _store_some(conn, [batch[n] for n in good], [p for n in good for p in decoded[n]])
        return outcomes
    except asyncpg.PostgresError as exc:
        if len(good) == 1:
            outcomes[good[0]] = exc
            return outcomes
    for n in good:
        try:
            async with conn.transaction():
                await _store_some(conn, [batch[n]], decoded[n])
        except asyncpg.PostgresError as exc:
            outcomes[n] = exc
    return outcomes


async def _store_some(
    conn: asyncpg.Connection, messages: list[PhotosFetched], photos: list[member_photos.Photo]
) -> None:
    await member_photos.store_many(conn, photos)
    await photo_deliveries.record(conn, messages)
    # The fetcher records a photo's etag once its bytes are stored, in this transaction's outbox: a photo
    # whose message never got here has no etag recorded, and the next run fetches it again.
    await db.enqueue(
        conn,
        *(
            PhotosStored(
                team_id=m.team_id,
                run_id=m.run_id,
                etags={p.directory_id: p.etag if p.content_type else None for p in m.photos},
            )
            for m in messages
        ),
    )
