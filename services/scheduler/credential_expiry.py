"""Notices of a directory credential about to expire: the team's admins are emailed 30 and 7 days before its
client secret or certificate expires, each notice once.

A daily check, run by every scheduler replica: the notices are rows keyed by team, expiry and days, written
with the message that sends them in one transaction, so two replicas (or two checks) never send one twice,
and a new credential (another expiry) is noticed afresh. A credential first seen within 7 days of its expiry
gets the 7-day notice alone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg

from shared import db
from shared.messages import CredentialExpiring

log = logging.getLogger(__name__)
NOTICE_DAYS = (30, 7)
EVERY = 86400.0  # seconds: once a day
RETRY = 300.0

_DUE = """
WITH due AS (
    SELECT d.team_id, d.credential_expires_at AS expires_at, d.credential_type, d.certificate_thumbprint,
           n.days, min(n.days) OVER (PARTITION BY d.team_id) AS nearest
      FROM directory_connections d
      CROSS JOIN unnest($1::int[]) AS n(days)
     WHERE d.kind = 'own_app' AND d.credential_expires_at > $2
       AND d.credential_expires_at <= $2 + make_interval(days => n.days)),
noted AS (
    INSERT INTO credential_expiry_notices (team_id, expires_at, days)
    SELECT team_id, expires_at, days FROM due
    ON CONFLICT DO NOTHING
    RETURNING team_id, expires_at, days)
SELECT d.team_id::text, d.expires_at, d.days, d.credential_type, d.certificate_thumbprint
  FROM due d JOIN noted USING (team_id, expires_at, days)
 WHERE d.days = d.nearest
"""


async def notice_expiring(pool: asyncpg.Pool, now: datetime) -> int:
    """Queue the notices due at ``now`` that were not sent yet; how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DUE, list(NOTICE_DAYS), now)
        await db.enqueue(
            conn,
            *(
                CredentialExpiring(
                    team_id=r["team_id"],
                    expires_at=r["expires_at"],
                    days=r["days"],
                    credential_type=r["credential_type"] or "secret",
                    thumbprint=r["certificate_thumbprint"],
                )
                for r in rows
            ),
        )
    return len(rows)


async def run_credential_expiry(pool: asyncpg.Pool) -> None:
    """Until cancelled: check once a day (sooner again after a database error)."""
    while True:
        try:
            if sent := await notice_expiring(pool, datetime.now().astimezone()):
                log.info("queued %d credential expiry notices", sent)
            wait = EVERY
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("checking credential expiries failed, retrying: %s", exc)
            wait = RETRY
        await asyncio.sleep(wait)
