"""Sending a team's pending invites on an admin's request (POST /api/v1/teams/{team_id}/invites/send).

Pending is every invite of a member still to join that has no usable link on its way or in a mailbox: never sent
(``send_invites`` was off, or an outage outlasted the retries), failed (the admin may have fixed the address), or
sent with a link that expired. A failed or expired invite is sent as a new round, with a sent-log key of its own,
and gets a fresh link and expiry when it is sent. Sent ones with a live link are left alone, and so are queued
ones, unless nothing has touched them for an hour (STALE_QUEUED): then their message was lost (dead-lettered, say)
and they are queued again, in the same round, so that were the first message to turn up after all, the sent-log
would still let one email go.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from shared import db
from shared.messages import InviteRequested

# Longer than a message's deliveries take, each a retry window of the notifier's (10 minutes) and a backoff.
STALE_QUEUED = timedelta(hours=1)

# Locked in member order, as the notifier's batched writes lock them.
_QUEUE = """
    WITH due AS (
        SELECT i.member_id FROM invites i JOIN members m ON m.id = i.member_id
         WHERE m.team_id = $1 AND m.status <> 'removed'
           AND (i.status IN ('pending', 'failed') OR (i.status = 'sent' AND i.expires_at <= now())
                OR (i.status = 'queued' AND i.updated_at < now() - $2::interval))
         ORDER BY i.member_id FOR UPDATE OF i)
    UPDATE invites i SET status = 'queued', error = NULL, updated_at = now(),
           round = i.round + CASE WHEN i.status IN ('pending', 'queued') THEN 0 ELSE 1 END
      FROM due d
     WHERE i.member_id = d.member_id
    RETURNING i.member_id::text
"""


async def send_pending_invites(database: asyncpg.Pool | asyncpg.Connection, team_id: str) -> int:
    """Queue every pending invite of the team for sending; return how many. One transaction: the invites are
    marked queued and their InviteRequested messages written to the outbox together."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as conn:
            return await send_pending_invites(conn, team_id)
    async with database.transaction():
        rows = await database.fetch(_QUEUE, team_id, STALE_QUEUED)
        await db.enqueue(database, *(InviteRequested(team_id=str(team_id), member_id=r[0]) for r in rows))
    return len(rows)
