"""Gauges read from the database and the broker: runs by status, outbox backlog, queue depths."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared import metrics
from shared.bus import Bus

log = logging.getLogger(__name__)
STATUSES = ("queued", "fetching", "reconciling", "succeeded", "failed", "held")
CONSUMERS = ("fetcher", "reconciler", "notifier")


async def refresh(pool: asyncpg.Pool, bus: Bus) -> None:
    counts = dict(await pool.fetch("SELECT status, count(*) FROM sync_runs GROUP BY status"))
    for status in STATUSES:
        metrics.RUNS.labels(status).set(counts.get(status, 0))
    metrics.OUTBOX_LAG.set(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    for consumer in CONSUMERS:
        depth = await bus.queue_depth(consumer)
        if depth is not None:
            metrics.QUEUE_DEPTH.labels(consumer).set(depth)


async def run_stats(pool: asyncpg.Pool, bus: Bus, interval: float = 15.0) -> None:
    while True:
        try:
            await refresh(pool, bus)
        except Exception as exc:  # noqa: BLE001 - metrics must never take the scheduler down
            log.warning("metrics refresh failed: %r", exc)
        await asyncio.sleep(interval)
