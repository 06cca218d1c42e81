"""Near-real-time sync's records: each team's subscriptions, when it is looked at next, and what was found."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.scheduler.realtime.subscription_plan import Held

LEASE = timedelta(minutes=5)  # a team claimed by a scheduler that died is looked at again after this


def client_state_hash(client_state: str) -> bytes:
    return hashlib.sha256(client_state.encode()).digest()


@dataclass(frozen=True)
class TeamState:
    config: dict[str, Any] | None
    connection: asyncpg.Record | None
    held: list[Held]
    retired: dict[str, asyncpg.Record]  # graph id -> what deleting it takes


async def claim_due(pool: asyncpg.Pool, now: datetime, batch: int) -> list[tuple[UUID, datetime]]:
    """Teams due for a look, each leased to this scheduler (SKIP LOCKED: every team goes to one of several),
    with the lease it holds."""
    lease = now + LEASE
    rows = await pool.fetch(
        "UPDATE realtime_teams t SET check_at = $2 FROM (SELECT team_id FROM realtime_teams"
        " WHERE check_at <= $1 ORDER BY check_at LIMIT $3 FOR UPDATE SKIP LOCKED) due"
        " WHERE t.team_id = due.team_id RETURNING t.team_id",
        now,
        lease,
        batch,
    )
    return [(r["team_id"], lease) for r in rows]


async def team_state(pool: asyncpg.Pool, team_id: UUID) -> TeamState:
    async with pool.acquire() as conn:
        config = await conn.fetchval("SELECT config FROM sync_configs WHERE team_id = $1", team_id)
        connection = await conn.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", team_id)
        rows = await conn.fetch("SELECT * FROM graph_subscriptions WHERE team_id = $1", team_id)
    held = [
        Held(
            r["graph_id"],
            r["resource"],
            r["tenant_id"],
            r["client_id"],
            r["expires_at"],
            r["reauthorize"],
            r["retired_kind"] is not None,
        )
        for r in rows
    ]
    retired = {r["graph_id"]: r for r in rows if r["retired_kind"] is not None}
    return TeamState(config, connection, held, retired)


async def add(
    pool: asyncpg.Pool,
    team_id: UUID,
    resource: str,
    graph_id: str,
    app: tuple[str, str],
    client_state: str,
    expires_at: datetime,
) -> None:
    await pool.execute(
        "INSERT INTO graph_subscriptions (graph_id, team_id, resource, tenant_id, client_id,"
        " client_state_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        graph_id,
        team_id,
        resource,
        *app,
        client_state_hash(client_state),
        expires_at,
    )


async def renewed(pool: asyncpg.Pool, graph_id: str, expires_at: datetime) -> None:
    await pool.execute(
        "UPDATE graph_subscriptions SET expires_at = $2, reauthorize = false WHERE graph_id = $1",
        graph_id,
        expires_at,
    )


async def forget(pool: asyncpg.Pool, graph_id: str) -> None:
    await pool.execute("DELETE FROM graph_subscriptions WHERE graph_id = $1", graph_id)


async def checked(
    pool: asyncpg.Pool,
    team_id: UUID,
    lease: datetime,
    state: str,
    reason: str | None,
    next_at: datetime,
    now: datetime,
) -> None:
    """Record what the look found. A look asked for while this one ran (the check time is no longer this
    scheduler's lease) still happens."""
    await pool.execute(
        "UPDATE realtime_teams SET state = $3, reason = $4, checked_at = $6,"
        " check_at = CASE WHEN check_at = $2 THEN $5 ELSE least(check_at, $5) END WHERE team_id = $1",
        team_id,
        lease,
        state,
        reason,
        next_at,
        now,
    )


async def status(pool: asyncpg.Pool, team_id: UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT state, reason, checked_at FROM realtime_teams WHERE team_id = $1", team_id
    )
