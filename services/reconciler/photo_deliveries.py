"""R17: a run whose photos follow its apply is succeeded once they are in. Which messages of photos of a run
waiting for them (``photos``) are stored, and the fetcher's word on how many it sent: whichever of the last
message and the completion commits second finds the run's photos whole (each asks under the run's lock), as a
snapshot's pages and completion do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.messages import PhotosCompleted, PhotosFetched
from shared.runs import RunStatus


@dataclass(frozen=True)
class Completion:
    error: str | None
    graph_requests: int
    cause: str | None = None


async def record(conn: asyncpg.Connection, batch: Sequence[PhotosFetched]) -> None:
    """In the transaction that stores their photos: the messages, of runs still waiting for their photos."""
    await conn.execute(
        "INSERT INTO photo_deliveries (run_id, attempt, seq, photos)"
        " SELECT d.run_id, d.attempt, d.seq, d.photos"
        "   FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[]) AS d(run_id, attempt, seq, photos)"
        f"  JOIN sync_runs r ON r.id = d.run_id AND r.status = '{RunStatus.PHOTOS}'"
        " ON CONFLICT DO NOTHING",
        [m.run_id for m in batch],
        [m.attempt for m in batch],
        [m.seq for m in batch],
        [len(m.photos) for m in batch],
    )


async def record_completion(conn: asyncpg.Connection, msg: PhotosCompleted) -> None:
    await conn.execute(
        "INSERT INTO photo_completions (run_id, attempt, messages, graph_requests, error, cause)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        msg.run_id,
        msg.attempt,
        msg.messages,
        msg.graph_requests,
        msg.error,
        msg.cause,
    )


async def complete(conn: asyncpg.Connection, run_id: str) -> Completion | None:
    """A recorded completion whose attempt has every message it announced stored; else None."""
    row = await conn.fetchrow(
        "SELECT c.error, c.graph_requests, c.cause FROM photo_completions c"
        " WHERE c.run_id = $1 AND c.messages <= (SELECT count(*) FROM photo_deliveries d"
        "  WHERE d.run_id = c.run_id AND d.attempt = c.attempt AND d.seq < c.messages)"
        " ORDER BY c.received_at LIMIT 1",
        run_id,
    )
    return None if row is None else Completion(row["error"], row["graph_requests"], row["cause"])


async def stored(conn: asyncpg.Connection, run_id: str) -> int:
    """Photos of the run stored so far (its progress)."""
    return await conn.fetchval(
        "SELECT coalesce(sum(photos), 0) FROM photo_deliveries WHERE run_id = $1", run_id
    )
