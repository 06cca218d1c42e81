"""Sending a team's pending invites on an admin's request (POST /api/v1/teams/{team_id}/invites/send)."""

from __future__ import annotations

import asyncpg

from shared import db
from shared.messages import InviteRequested


async def send_pending_invites(database: asyncpg.Pool | asyncpg.Connection, team_id: str) -> int:
    """Queue every pending invite of the team for sending; return how many. One transaction: the invites are
    marked queued and their InviteRequested messages written to the outbox together."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as conn:
            return await send_pending_invites(conn, team_id)
    async with database.transaction():
        rows = await database.fetch(
            """
            UPDATE invites i SET status = 'queued', error = NULL, updated_at = now()
              FROM members m
             WHERE m.id = i.member_id AND m.team_id = $1 AND m.status <> 'removed' AND i.status = 'pending'
            RETURNING i.member_id::text
            """,
            team_id,
        )
        await db.enqueue(database, *(InviteRequested(team_id=str(team_id), member_id=r[0]) for r in rows))
    return len(rows)
