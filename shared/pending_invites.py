"""Which of a team's invites are pending (R11): the ones an admin's request (POST
/api/v1/teams/{team_id}/invites/send) sends. The API counts them; the notifier queues and sends them.

Pending is every invite of a member still to join that has no usable link on its way or in a mailbox: never
sent (``send_invites`` was off, or an outage outlasted the retries), failed (the admin may have fixed the
address), or sent with a link that expired. Sent ones with a live link are left alone, and so are queued ones,
unless nothing has touched them for an hour (STALE_QUEUED): then their message was lost (dead-lettered, say)
and they are queued again.

One member's invite may also be sent again on an admin's request (POST
/api/v1/teams/{team_id}/members/{member_id}/invite), whatever its state, unless the card is claimed or the
member removed: a sent one goes as a new round with a new link, the old link ending.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

# Longer than a message's deliveries take, each a retry window of the notifier's (10 minutes) and a backoff.
STALE_QUEUED = timedelta(hours=1)

# The team's pending invites ``i`` with their members ``m``: $1 is the team's id, $2 STALE_QUEUED.
PENDING = """
  FROM invites i JOIN members m ON m.id = i.member_id
 WHERE m.team_id = $1 AND m.status <> 'removed'
   AND (i.status IN ('pending', 'failed') OR (i.status = 'sent' AND i.expires_at <= now())
        OR (i.status = 'queued' AND i.updated_at < now() - $2::interval))
"""


async def count_pending(conn: asyncpg.Connection | asyncpg.Pool, team_id: str) -> int:
    return await conn.fetchval(f"SELECT count(*) {PENDING}", team_id, STALE_QUEUED)


# One member's invite ``i`` that may be sent again, with its member ``m``: $1 the team's id, $2 the member's.
RESENDABLE = """
  FROM invites i JOIN members m ON m.id = i.member_id
 WHERE m.team_id = $1 AND m.id = $2 AND m.status = 'invited' AND i.status <> 'claimed'
"""


async def can_resend(conn: asyncpg.Connection | asyncpg.Pool, team_id: str, member_id: str) -> bool:
    return bool(await conn.fetchval(f"SELECT count(*) {RESENDABLE}", team_id, member_id))
