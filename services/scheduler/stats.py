"""Gauges read from the database and the broker: runs by status, each team's last success, outbox backlog,
queue depths and dead letters. Every scheduler replica reads the same: queries take the max
(shared/metrics)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared import metrics, runs
from shared.bus import Bus
from shared.topology import CONSUMERS

log = logging.getLogger(__name__)
# Per scheduled team, the end of its last applied successful run, or else when its configuration last changed:
# an alert compares it with the team's cadence (the index on sync_runs (team_id, created_at) serves each
# team).
LAST_SUCCESS = """
SELECT c.team_id::text AS team, c.cadence, extract(epoch FROM coalesce(last.finished_at, c.updated_at)) AS at
  FROM sync_configs c
  LEFT JOIN LATERAL (
        SELECT r.finished_at FROM sync_runs r
         WHERE r.team_id = c.team_id AND r.status = 'succeeded' AND NOT r.dry_run
         ORDER BY r.created_at DESC LIMIT 1) last ON true
 WHERE c.cadence <> 'off'
"""


async def refresh(pool: asyncpg.Pool, bus: Bus) -> None:
    # By the statuses the API answers, which the alerts and dashboards name.
    counts = dict(await pool.fetch(f"SELECT {runs.PUBLIC_STATUS_SQL}, count(*) FROM sync_runs GROUP BY 1"))
    for status in runs.PUBLIC:
        metrics.RUNS.labels(status).set(counts.get(status, 0))
    teams = await pool.fetch(LAST_SUCCESS)
    metrics.TEAM_LAST_SUCCESS.clear()  # a deleted team, or one whose cadence changed, leaves no series behind
    for row in teams:
        metrics.TEAM_LAST_SUCCESS.labels(row["team"], row["cadence"]).set(float(row["at"]))
    metrics.OUTBOX_LAG.set(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    for consumer in CONSUMERS:
        depth = await bus.queue_depth(consumer)
        if depth is not None:
            metrics.QUEUE_DEPTH.labels(consumer).set(depth)
        dead = await bus.queue_depth(f"{consumer}.dead")
        if dead is not None:
            metrics.DEAD_LETTERS.labels(consumer).set(dead)


async def run_stats(pool: asyncpg.Pool, bus: Bus, interval: float = 15.0) -> None:
    while True:
        try:
            await refresh(pool, bus)
        except Exception as exc:  # noqa: BLE001 - metrics must never take the scheduler down
            log.warning("metrics refresh failed: %r", exc)
        await asyncio.sleep(interval)
