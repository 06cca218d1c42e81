"""The scheduler's near-real-time loops: runs for the notifications that came, and the subscriptions kept."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from services.scheduler.realtime.keeper import keep_due_teams
from services.scheduler.realtime.notified_runs import queue_requested_runs
from shared.graph.client import GraphClient
from shared.graph.errors import GraphError
from shared.settings import Settings

log = logging.getLogger(__name__)
REQUEST_POLL = 0.5  # seconds: a notification's run waits for its window, then at most this long


async def run_requested_runs(pool: asyncpg.Pool) -> None:
    """Until cancelled: queue the runs change notifications asked for, once their window has passed."""
    while True:
        try:
            if queued := await queue_requested_runs(pool, datetime.now(UTC)):
                log.info("queued %d runs for change notifications", queued)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("queueing the runs notifications asked for failed, retrying: %s", exc)
        await asyncio.sleep(REQUEST_POLL)


async def run_keeper(pool: asyncpg.Pool, settings: Settings) -> None:
    """Until cancelled, every ``scheduler_interval`` seconds: keep the subscriptions of the teams due."""
    graph = GraphClient.from_settings(settings)
    try:
        while True:
            try:
                await keep_due_teams(pool, graph, settings, datetime.now(UTC))
            except (asyncpg.PostgresError, OSError, GraphError) as exc:
                log.warning("keeping the Graph subscriptions failed, retrying: %s", exc)
            await asyncio.sleep(settings.scheduler_interval)
    finally:
        await graph.close()
