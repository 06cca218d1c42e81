"""The run as the fetcher sees it: claimed for fetching, or applied, with its team's directory connection."""

from __future__ import annotations

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
        return run, await _connection(conn, run.team_id)


async def applied(pool: asyncpg.Pool, run_id: str) -> tuple[runs.Run, dict[str, Any] | None] | None:
    """The applied run and its team's directory connection; None when the run is unknown."""
    async with pool.acquire() as conn:
        run = await runs.load(conn, run_id)
        if run is None:
            return None
        return run, await _connection(conn, run.team_id)


async def _connection(conn: asyncpg.Connection, team_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT kind, tenant_id, client_id, secret_encrypted FROM directory_connections WHERE team_id = $1",
        team_id,
    )
    return dict(row) if row else None
