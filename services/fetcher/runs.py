"""The run as the fetcher sees it: claiming it for fetching, and its configuration and connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.config import SyncConfig

# Statuses a SyncRequested may (re)start a fetch from; anything later means the fetch already ended.
STARTABLE = ("queued", "fetching")
# Statuses of a run that is not yet applied.
UNAPPLIED = ("queued", "fetching", "reconciling")


@dataclass(frozen=True)
class Run:
    id: str
    team_id: str
    config: SyncConfig
    connection: dict[str, Any] | None


async def claim(pool: asyncpg.Pool, run_id: str) -> Run | None:
    """Mark the run 'fetching' (a redelivered request for a run still fetching starts it over); None when the
    run is unknown or already past fetching."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE sync_runs SET status = 'fetching', started_at = coalesce(started_at, now())"
            " WHERE id = $1 AND status = ANY($2::text[])"
            " RETURNING team_id, config",
            run_id,
            list(STARTABLE),
        )
        if row is None:
            return None
        config = row["config"]
        if config is None:
            config = await conn.fetchval("SELECT config FROM sync_configs WHERE team_id = $1", row["team_id"])
        connection = await conn.fetchrow(
            "SELECT kind, tenant_id, client_id, secret_encrypted FROM directory_connections"
            " WHERE team_id = $1",
            row["team_id"],
        )
    return Run(
        id=run_id,
        team_id=str(row["team_id"]),
        config=SyncConfig.model_validate(config or {}),
        connection=dict(connection) if connection else None,
    )


async def add_member_errors(pool: asyncpg.Pool, run_id: str, errors: list[dict[str, str]]) -> None:
    """Errors found after the run was applied (its photos), added to the ones it has."""
    if errors:
        await pool.execute(
            "UPDATE sync_runs SET member_errors = member_errors || $2::jsonb WHERE id = $1", run_id, errors
        )


async def wait_applied(pool: asyncpg.Pool, run_id: str, limit: float, every: float = 0.5) -> bool:
    """Wait, at most ``limit`` seconds, until the reconciler has ended the run (whichever way); True if it has."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        status = await pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id)
        if status not in UNAPPLIED:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)
