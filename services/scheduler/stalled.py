"""Failing runs that stopped moving (R17). A run whose message was dead-lettered, or whose worker died for
good, would otherwise stay queued, fetching or reconciling forever, and Sync Now would keep handing it back
(R15).

A run shows progress when it is made, when a fetch starts, each time a page or the completion of its snapshot
is staged, and each time a service working on it records its progress (every few seconds while it works), so a
long fetch or photo check that keeps going is never cut short. A run the reconciler is working on holds the
reconciler's advisory lock on it and is left alone, however long its apply takes.
Several schedulers may sweep at once: each claims stalled runs with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging

import asyncpg

from shared import run_locks, runs
from shared.failures import Cause

log = logging.getLogger(__name__)
BATCH = 100

# The literal status list lets PostgreSQL answer from the partial index of active runs.
_STALLED = f"""
SELECT r.id, r.team_id, r.status FROM sync_runs r
 WHERE r.status IN {runs.ACTIVE_SQL}
   AND r.created_at < now() - make_interval(secs => $1)
   AND (r.started_at IS NULL OR r.started_at < now() - make_interval(secs => $1))
   AND (r.progress_at IS NULL OR r.progress_at < now() - make_interval(secs => $1))
   AND NOT EXISTS (SELECT 1 FROM snapshot_pages p
                    WHERE p.run_id = r.id AND p.received_at >= now() - make_interval(secs => $1))
   AND NOT EXISTS (SELECT 1 FROM snapshot_completions c
                    WHERE c.run_id = r.id AND c.received_at >= now() - make_interval(secs => $1))
 ORDER BY r.created_at
 LIMIT $2
 FOR UPDATE OF r SKIP LOCKED
"""


def stalled_reason(timeout: float, status: str = runs.RunStatus.FETCHING) -> str:
    """The run's error, for the admin: what happened, what was kept, and what to do."""
    why = "(a service stopped, or one of its messages could not be processed), so it was stopped"
    if status == runs.RunStatus.PHOTOS:
        return (
            "the run's members were applied, but its profile photos made no progress for "
            f"{_duration(timeout)}"
            f" {why}. Press Sync Now to check the photos again"
        )
    return (
        f"the run made no progress for {_duration(timeout)} {why}; nobody was removed. Press Sync Now to run "
        "it"
        " again"
    )


def _duration(seconds: float) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


async def _fail_batch(conn: asyncpg.Connection, timeout: float) -> list[asyncpg.Record]:
    """The runs failed in one batch, in the caller's transaction."""
    failed = []
    for run in await conn.fetch(_STALLED, timeout, BATCH):
        if not await run_locks.try_lock(conn, "run", str(run["id"])):
            continue  # a reconciler is working on it
        await runs.fail(conn, str(run["id"]), stalled_reason(timeout, run["status"]), cause=Cause.TIMEOUT)
        failed.append(run)
    return failed


async def fail_stalled_runs(pool: asyncpg.Pool, timeout: float) -> int:
    """Fail every active run with no progress for ``timeout`` seconds; returns how many this call failed."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            failed = await _fail_batch(conn, timeout)
        for run in failed:
            log.warning(
                "run %s of team %s made no progress for %s while %s: marked failed",
                run["id"],
                run["team_id"],
                _duration(timeout),
                run["status"],
            )
        total += len(failed)
        # A short batch ends the sweep: runs skipped while reconciling would otherwise be claimed again at
        # once.
        if len(failed) < BATCH:
            return total
