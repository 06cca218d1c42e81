"""Delta links per team. A run's new links wait as 'pending' until that run succeeded: a run that failed or
was held re-reads its changes next time (they are applied idempotently), so no change is ever skipped."""

from __future__ import annotations

import asyncpg


async def usable_links(pool: asyncpg.Pool, team_id: str, scope: str) -> dict[str, str | None]:
    """kind -> the link the next delta round starts from (None: none usable), for links of this scope."""
    rows = await pool.fetch(
        "SELECT l.kind, CASE WHEN r.status = 'succeeded' THEN l.pending_link ELSE l.delta_link END AS link"
        " FROM fetcher_delta_links l LEFT JOIN sync_runs r ON r.id = l.pending_run"
        " WHERE l.team_id = $1 AND l.scope = $2",
        team_id,
        scope,
    )
    return {r["kind"]: r["link"] for r in rows}


async def save(
    pool: asyncpg.Pool,
    team_id: str,
    run_id: str,
    scope: str,
    started_from: dict[str, str | None],
    new_links: dict[str, str],
) -> None:
    """Record the links a run reached (pending on it) and the ones it started from (now confirmed)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM fetcher_delta_links WHERE team_id = $1 AND NOT (kind = ANY($2::text[]))",
            team_id,
            list(new_links),
        )
        await conn.executemany(
            "INSERT INTO fetcher_delta_links (team_id, kind, scope, delta_link, pending_link, pending_run)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (team_id, kind) DO UPDATE SET scope = excluded.scope,"
            " delta_link = excluded.delta_link, pending_link = excluded.pending_link,"
            " pending_run = excluded.pending_run, updated_at = now()",
            [
                (team_id, kind, scope, started_from.get(kind), link, run_id)
                for kind, link in new_links.items()
            ],
        )


async def clear(pool: asyncpg.Pool, team_id: str) -> None:
    await pool.execute("DELETE FROM fetcher_delta_links WHERE team_id = $1", team_id)
