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

Retries fit the cause (R14, the causes in ``shared.failures``): a scheduled run that failed for a passing
cause (Graph, the database or the broker out, throttling, a run that stalled) makes the team due again 5
minutes after it, then 30 minutes, then 2 hours after the next failures, then at its cadence, whichever comes
first; the sweep (``plan_retries``) marks the failed run it planned for (``retry_of``), so each is planned
once. A team whose latest run failed for a cause that needs a person (a wrong or expired secret, a missing
permission, an unknown tenant, revoked consent, a configuration that cannot sync) is not run again until its
configuration or its directory connection is saved after that failure: its schedule moves on meanwhile.
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
from shared import failures
from shared.run_notices import reads_directory
from shared.settings import Settings

log = logging.getLogger(__name__)
Batch = Callable[[asyncpg.Connection, datetime], Awaitable[tuple[int, int]]]
BATCH = 200
PREVIEW_RETRY = timedelta(minutes=1)
SCHEDULER = "scheduler"


# R14: the team's latest run failed for a cause that needs a person, and nobody saved the configuration or
# connected the directory since.
_WAITS_FOR_A_PERSON = f"""
SELECT r.status = 'failed' AND r.failure_cause = ANY($3::text[])
       AND r.finished_at > greatest(c.updated_at,
           (SELECT d.connected_at FROM directory_connections d WHERE d.team_id = c.team_id))
  FROM sync_runs r
 WHERE r.team_id = c.team_id AND NOT r.dry_run AND r.status IN ('succeeded', 'failed', 'held')
   AND {reads_directory("r")}
 ORDER BY r.created_at DESC LIMIT 1
"""

# Failed scheduled runs of the last day that are their team's latest run and that no retry was planned for.
_UNPLANNED = f"""
SELECT r.id, r.team_id, r.failure_cause, r.finished_at,
       (SELECT count(*) FROM sync_runs f
         WHERE f.team_id = r.team_id AND NOT f.dry_run AND f.status = 'failed' AND f.trigger = 'schedule'
           AND f.created_at > coalesce((SELECT max(o.created_at) FROM sync_runs o WHERE o.team_id = r.team_id
               AND NOT o.dry_run AND o.status IN ('succeeded', 'held') AND {reads_directory("o")}),
               '-infinity')) AS failures
  FROM sync_runs r JOIN sync_configs c ON c.team_id = r.team_id
 WHERE r.status = 'failed' AND r.finished_at > $1::timestamptz - interval '1 day' AND r.trigger = 'schedule'
   AND NOT r.dry_run AND c.cadence <> 'off' AND c.retry_of IS DISTINCT FROM r.id
   AND NOT EXISTS (SELECT 1 FROM sync_runs l WHERE l.team_id = r.team_id AND NOT l.dry_run
                      AND l.created_at > r.created_at AND {reads_directory("l")})
 ORDER BY r.finished_at LIMIT $2
   FOR UPDATE OF c SKIP LOCKED
"""


async def _plan_batch(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """(failed runs planned for, retries planned) for one batch, in the caller's transaction."""
    failed = await conn.fetch(_UNPLANNED, now, BATCH)
    planned = 0
    for run in failed:
        wait = failures.retry_after(run["failure_cause"], run["failures"])
        retry_at = None if wait is None else run["finished_at"] + wait
        planned += retry_at is not None
        await conn.execute(
            "UPDATE sync_configs SET retry_of = $2,"
            " next_run_at = CASE WHEN $3::timestamptz IS NULL THEN next_run_at"
            "  ELSE least(next_run_at, $3::timestamptz) END WHERE team_id = $1",
            run["team_id"],
            run["id"],
            retry_at,
        )
        log.info(
            "team %s: scheduled run %s failed (%s, %d in a row); %s",
            run["team_id"],
            run["id"],
            run["failure_cause"],
            run["failures"],
            f"retried at {retry_at:%H:%M:%S} UTC" if retry_at else "no retry before its next period",
        )
    return len(failed), planned


async def plan_retries(pool: asyncpg.Pool, now: datetime) -> int:
    """R14: make teams whose scheduled run failed for a passing cause due again soon; how many retries this
    call planned."""
    return await in_batches(pool, now, _plan_batch)


async def _publish_batch(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """(teams claimed, runs queued) for one batch, in the caller's transaction."""
    due = await conn.fetch(
        "SELECT c.team_id, c.cadence, (c.config ->> 'at')::time AS at,"
        " coalesce(c.config ->> 'timezone', 'UTC') AS timezone,"
        " EXISTS (SELECT 1 FROM directory_connections d WHERE d.team_id = c.team_id) AS connected,"
        " coalesce(jsonb_typeof(c.config -> 'groups') = 'array' AND c.config -> 'groups' <> '[]', false)"
        " AS has_groups,"
        f" coalesce(({_WAITS_FOR_A_PERSON}), false) AS waits"
        " FROM sync_configs c WHERE c.next_run_at <= $1 ORDER BY c.next_run_at LIMIT $2"
        " FOR UPDATE OF c SKIP LOCKED",
        now,
        BATCH,
        sorted(failures.NEEDS_A_PERSON),
    )
    queued = 0
    for team in due:
        next_at = next_run_at(team["cadence"], now, team["team_id"], team["at"], team["timezone"])
        if team["connected"] and team["has_groups"] and not team["waits"]:
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
            await plan_retries(pool, datetime.now(UTC))
            queued = await publish_due_runs(pool, datetime.now(UTC))
            if queued:
                log.info("queued %d scheduled runs", queued)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("due-run scan failed, retrying in %.0f s: %s", settings.scheduler_interval, exc)
        await asyncio.sleep(settings.scheduler_interval)
