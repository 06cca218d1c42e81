"""The run as the fetcher sees it: claimed for fetching, with its team's directory connection."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from shared import runs


async def claim(pool: asyncpg.Pool, run_id: str) -> tuple[runs.Run, dict[str, Any] | None] | None:
    """The run, marked ``fetching``, and its team's directory connection; None when the run is unknown or
    already past fetching (the request is stale)."""
    async with pool.acquire() as conn, conn.transaction():
        run = await runs.start_fetching(conn, run_id)
        if run is None:
            return None
        connection = await conn.fetchrow(
            "SELECT kind, tenant_id, client_id, secret_encrypted FROM directory_connections"
            " WHERE team_id = $1",
            run.team_id,
        )
    return run, dict(connection) if connection else None


async def wait_applied(pool: asyncpg.Pool, run_id: str, limit: float, every: float = 0.5) -> bool:
    """Wait, at most ``limit`` seconds, until the reconciler has ended the run (whichever way); True if it has."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        status = await pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id)
        if status not in runs.ACTIVE:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)
