"""Queuing a team's pending invites (R11; ``shared.pending_invites`` says which) for sending, on an admin's
request.

A failed or expired invite is sent as a new round, with a sent-log key of its own, and gets a fresh link and
expiry when it is sent. A stale queued one is queued again in the same round, so that were its first message
to turn up after all, the sent-log would still let one email go.
"""

from __future__ import annotations

import asyncpg

from shared import db
from shared.messages import INVITE_BATCH, InvitesRequested
from shared.pending_invites import PENDING, RESENDABLE, STALE_QUEUED

# Locked in member order, as the notifier's batched writes lock them.
_QUEUE = f"""
    WITH due AS (SELECT i.member_id {PENDING} ORDER BY i.member_id FOR UPDATE OF i)
    UPDATE invites i SET status = 'queued', error = NULL, updated_at = now(),
           round = i.round + CASE WHEN i.status IN ('pending', 'queued') THEN 0 ELSE 1 END
      FROM due d
     WHERE i.member_id = d.member_id
    RETURNING i.member_id::text
"""

# One member's invite, on request: a new round unless it is still waiting to go.
_QUEUE_ONE = f"""
    WITH due AS (SELECT i.member_id {RESENDABLE} FOR UPDATE OF i)
    UPDATE invites i SET status = 'queued', error = NULL, updated_at = now(),
           round = i.round + CASE WHEN i.status = 'pending' THEN 0 ELSE 1 END
      FROM due d
     WHERE i.member_id = d.member_id
    RETURNING i.member_id::text
"""


async def send_pending_invites(
    database: asyncpg.Pool | asyncpg.Connection, team_id: str, member_id: str | None = None
) -> int:
    """Queue every pending invite of the team for sending (with ``member_id``, that member's invite only,
    ``shared.pending_invites.RESENDABLE``); return how many. One transaction: the invites are marked queued
    and their InvitesRequested messages written to the outbox together."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as conn:
            return await send_pending_invites(conn, team_id, member_id)
    async with database.transaction():
        if member_id is None:
            rows = await database.fetch(_QUEUE, team_id, STALE_QUEUED)
        else:
            rows = await database.fetch(_QUEUE_ONE, team_id, member_id)
        members = [r[0] for r in rows]
        await db.enqueue(
            database,
            *(
                InvitesRequested(team_id=str(team_id), member_ids=members[i : i + INVITE_BATCH])
                for i in range(0, len(members), INVITE_BATCH)
            ),
        )
    return len(rows)
