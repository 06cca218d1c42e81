"""The notifier's reads and writes of invites, runs and team admins (the sent-log is in ``sentlog``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# For each asked (member, team, token hash): the invite's sent-log key, and, where this replica could claim
# that key, the invite given the new token and what its email needs. Keys, then invites, are locked in order,
# as the other writers of the sent-log and the invites lock them, so that none waits for another in a circle.
# A member without an invite row comes back `missing`; one that is gone, in another team, or whose invite is
# sent, failed or claimed does not come back.
_CLAIM_INVITES = """
WITH ask AS (
    SELECT a.member_id, a.token_hash, m.account_id, nullif(m.card_email, '') AS card_email,
           i.member_id IS NULL AS missing,
           'invite:' || a.member_id || CASE WHEN i.round > 0 THEN ':' || i.round ELSE '' END AS key
      FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS a(member_id, team_id, token_hash)
      JOIN members m ON m.id = a.member_id AND m.team_id = a.team_id AND m.status <> 'removed'
      LEFT JOIN invites i ON i.member_id = a.member_id
     WHERE i.member_id IS NULL OR i.status IN ('pending', 'queued')),
claimed AS (
    INSERT INTO sent_emails AS s (key, recipient, state, holder, lease_until)
    SELECT k.key, coalesce(k.card_email, acc.email), 'sending', $4, now() + make_interval(secs => $5)
      FROM ask k JOIN accounts acc ON acc.id = k.account_id
     WHERE NOT k.missing ORDER BY k.key
    ON CONFLICT (key) DO UPDATE
       SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, recipient = EXCLUDED.recipient
     WHERE s.state = 'sending' AND s.lease_until < now()
    RETURNING s.key),
locked AS (
    SELECT i.member_id FROM invites i JOIN ask k ON k.member_id = i.member_id JOIN claimed c ON c.key = k.key
     ORDER BY i.member_id FOR UPDATE OF i),
reserved AS (
    UPDATE invites i SET token_hash = k.token_hash, expires_at = $6, error = NULL, updated_at = now()
      FROM locked l JOIN ask k ON k.member_id = l.member_id
     WHERE i.member_id = l.member_id
    RETURNING i.member_id)
SELECT k.member_id::text, m.team_id::text, k.key, k.missing, r.member_id IS NOT NULL AS claimed, s.state AS
    logged,
       m.directory_id, t.name AS team_name,
       coalesce(nullif(m.card_name, ''), acc.name) AS name, m.card_job_title, m.card_company,
       coalesce(nullif(m.card_email, ''), acc.email) AS card_email, m.card_phone
  FROM ask k JOIN members m ON m.id = k.member_id JOIN accounts acc ON acc.id = m.account_id
  JOIN teams t ON t.id = m.team_id
  LEFT JOIN reserved r ON r.member_id = k.member_id
  LEFT JOIN sent_emails s ON s.key = k.key
"""


async def claim_invites(
    conn: asyncpg.Connection,
    asks: list[tuple[str, str, str]],
    holder: str,
    lease: float,
    expires_at: datetime,
) -> list[asyncpg.Record]:
    """Claim the invites of ``asks`` (member id, team id, token hash), in one statement (see
    ``_CLAIM_INVITES``)."""
    members, teams, hashes = (list(column) for column in zip(*asks, strict=True))
    return await conn.fetch(_CLAIM_INVITES, members, teams, hashes, holder, lease, expires_at)


async def make_invites(conn: asyncpg.Connection, asks: list[tuple[str, str, str]]) -> None:
    """An invite row for members that have none yet (the reconciler makes them; a message may come first)."""
    await conn.execute(
        "INSERT INTO invites (member_id, status)"
        " SELECT m.id, 'queued' FROM unnest($1::uuid[], $2::uuid[]) AS a(member_id, team_id)"
        " JOIN members m ON m.id = a.member_id AND m.team_id = a.team_id AND m.status <> 'removed'"
        " ON CONFLICT DO NOTHING",
        [a[0] for a in asks],
        [a[1] for a in asks],
    )


async def unqueue_removed(conn: asyncpg.Connection, member_ids: list[str]) -> None:
    """The queued invites of members removed before their email went: pending again, so that an admin's
    "send pending invites" sends them should the member come back (it is never sent to a removed member)."""
    await conn.execute(
        "UPDATE invites i SET status = 'pending', updated_at = now() FROM members m"
        " WHERE m.id = i.member_id AND i.member_id = ANY($1::uuid[]) AND m.status = 'removed'"
        "   AND i.status = 'queued'",
        member_ids,
    )


async def load_run(pool: asyncpg.Pool, team_id: str, run_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT t.name AS team_name, r.summary, r.counts FROM sync_runs r JOIN teams t ON t.id = r.team_id"
        " WHERE r.id = $1 AND r.team_id = $2",
        run_id,
        team_id,
    )


async def load_ended_run(pool: asyncpg.Pool, team_id: str, run_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT t.name AS team_name, r.error, r.failure_cause, r.trigger, r.finished_at"
        " FROM sync_runs r JOIN teams t ON t.id = r.team_id WHERE r.id = $1 AND r.team_id = $2",
        run_id,
        team_id,
    )


async def team_admins(pool: asyncpg.Pool, team_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        # To the card's email, as an invite: a guest admin's login has no mailbox behind it.
        "SELECT m.id::text AS member_id, coalesce(nullif(m.card_email, ''), a.email) AS email,"
        "       coalesce(nullif(m.card_name, ''), a.name) AS name"
        "  FROM members m JOIN accounts a ON a.id = m.account_id"
        " WHERE m.team_id = $1 AND m.role = 'admin' AND m.status <> 'removed' ORDER BY a.email_key",
        team_id,
    )


async def team_name(pool: asyncpg.Pool, team_id: str) -> str | None:
    return await pool.fetchval("SELECT name FROM teams WHERE id = $1", team_id)
