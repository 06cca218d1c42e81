"""Keeping the run records few: a team on a 15-minute cadence or on change notifications runs a hundred
times a day, mostly to find nothing. The newest of those runs stay whole; older ones become counts by day."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared import runs, undo
from shared.settings import Settings

log = logging.getLogger(__name__)
EVERY = 600.0  # seconds


async def run_day_counts(pool: asyncpg.Pool, settings: Settings) -> None:
    """Until cancelled, every EVERY seconds: count by day the runs that changed nothing, past those kept, and
    drop the journals runs keep for their undo once those are past their days."""
    while True:
        try:
            if gone := await runs.count_unchanged_by_day(pool, settings.unchanged_runs_kept):
                log.info("counted %d runs that changed nothing by day", gone)
            if dropped := await undo.purge(pool):
                log.info("dropped %d journal rows of runs past their %d days", dropped, undo.KEEP_DAYS)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("counting the runs that changed nothing failed, retrying: %s", exc)
        await asyncio.sleep(EVERY)
