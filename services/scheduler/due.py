"""The cadence loop: queue a run for every team whose next run time has come (R14).

Several scheduler processes may run this at once: each claims due teams with ``FOR UPDATE SKIP LOCKED``
and moves their next run time past ``now`` in the same transaction as the run and its message, so a due run
is started once. The next time is computed from ``now``, so a scheduler back from downtime starts one
catch-up run per team, not one per missed period.

A team is on the schedule once it has saved a configuration whose cadence is not ``off``: until then the API
shows no next run time, and this loop never sees the team. When its time comes, a run is queued only if there
is something to sync (a connected directory and at least one group); otherwise the schedule just moves on,
instead of collecting a failed run each period. A team whose active run is a preview (a dry run) is due again
a minute later: the period's run starts once the preview has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.scheduler.cadence import next_run_at
from services.scheduler.run_queue import queue_run
from services.scheduler.stalled import fail_stalled_runs
from shared.settings import Settings

log = logging.getLogger(__name__)
Batch = Callable[[asyncpg.Connection, datetime], Awaitable[tuple[int, int]]]
BATCH = 200
PREVIEW_RETRY = timedelta(minutes=1)
SCHEDULER = "scheduler"


async def _publish_batch(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """(teams claimed, runs queued) for one batch, in the caller's transaction."""
    due = await conn.fetch(
        "SELECT c.team_id, c.cadence, (c.config ->> 'at')::time AS at,"
        " coalesce(c.config ->> 'timezone', 'UTC') AS timezone,"
        " EXISTS (SELECT 1 FROM directory_connections d WHERE d.team_id = c.team_id) AS connected,"
        " coalesce(jsonb_typeof(c.config -> 'groups') = 'array' AND c.config -> 'groups' <> '[]', false)"
        " AS has_groups"
        " FROM sync_configs c WHERE c.next_run_at <= $1 ORDER BY c.next_run_at LIMIT $2"
        " FOR UPDATE OF c SKIP LOCKED",
        now,
        BATCH,
    )
    queued = 0
    for team in due:
        next_at = next_run_at(team["cadence"], now, team["team_id"], team["at"], team["timezone"])
        if team["connected"] and team["has_groups"]:
            run, new = await queue_run(conn, team["team_id"], trigger="schedule", requested_by=SCHEDULER)
            queued += new
            if not new and run["dry_run"]:
                # A preview changes nothing: the period's run is tried again shortly, once the preview has
                # ended.
                next_at = now + PREVIEW_RETRY
        await conn.execute(
            "UPDATE sync_configs SET next_run_at = $2 WHERE team_id = $1", team["team_id"], next_at
        )
    return len(due), queued


async def in_batches(pool: asyncpg.Pool, now: datetime, batch: Batch) -> int:
    """Run ``batch`` (teams claimed, runs queued) in a transaction each until one claims fewer than BATCH
    teams; how many new runs they queued."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            claimed, queued = await batch(conn, now)
        total += queued
        if claimed < BATCH:
            return total


async def publish_due_runs(pool: asyncpg.Pool, now: datetime) -> int:
    """Queue the runs due at ``now``; returns how many new runs this call queued."""
    return await in_batches(pool, now, _publish_batch)


async def run_scheduler(pool: asyncpg.Pool, settings: Settings) -> None:
    """Every ``settings.scheduler_interval`` seconds until cancelled: fail the runs that stalled, so that
    their teams can run again, then queue the due runs."""
    while True:
        try:
            await fail_stalled_runs(pool, settings.run_timeout)
            queued = await publish_due_runs(pool, datetime.now(UTC))
            if queued:
                log.info("queued %d scheduled runs", queued)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("due-run scan failed, retrying in %.0f s: %s", settings.scheduler_interval, exc)
        await asyncio.sleep(settings.scheduler_interval)
