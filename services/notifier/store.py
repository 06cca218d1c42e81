"""The notifier's reads and writes: invites, the sent-log, runs and team admins."""

from __future__ import annotations

from datetime import datetime

import asyncpg


def invite_key(member_id: str) -> str:
    return f"invite:{member_id}"


def digest_key(run_id: str, kind: str, member_id: str) -> str:
    # A held run may later be summarised too: the held notice has a key of its own.
    return f"digest:{run_id}:{member_id}" if kind == "summary" else f"digest:{run_id}:{kind}:{member_id}"


async def reserve_invite(
    pool: asyncpg.Pool, team_id: str, member_id: str, token_hash: str, expires_at: datetime
) -> asyncpg.Record | None:
    """Give a still unsent invite its claim token (making the invite if there is none yet) and return what the
    email needs; None when there is nothing to send: sent, claimed, failed, or the member is gone."""
    return await pool.fetchrow(
        """
        WITH reserved AS (
            INSERT INTO invites AS i (member_id, status, token_hash, expires_at)
            SELECT m.id, 'queued', $3, $4 FROM members m
             WHERE m.id = $2 AND m.team_id = $1 AND m.status <> 'removed'
               AND NOT EXISTS (SELECT 1 FROM sent_emails s WHERE s.key = $5)
            ON CONFLICT (member_id) DO UPDATE
               SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at, error = NULL,
                   updated_at = now()
             WHERE i.status IN ('pending', 'queued')
            RETURNING i.member_id)
        SELECT m.directory_id, a.email AS login_email, t.name AS team_name,
               coalesce(nullif(m.card_name, ''), a.name) AS name, m.card_job_title, m.card_company,
               coalesce(nullif(m.card_email, ''), a.email) AS card_email, m.card_phone
          FROM reserved r JOIN members m ON m.id = r.member_id JOIN accounts a ON a.id = m.account_id
          JOIN teams t ON t.id = m.team_id
        """,
        team_id, member_id, token_hash, expires_at, invite_key(member_id),
    )


async def invite_sent(pool: asyncpg.Pool, member_id: str, recipient: str) -> None:
    await pool.execute(
        """
        WITH logged AS (INSERT INTO sent_emails (key, recipient) VALUES ($2, $3) ON CONFLICT DO NOTHING)
        UPDATE invites SET status = 'sent', sent_at = now(), error = NULL, updated_at = now()
         WHERE member_id = $1 AND status IN ('pending', 'queued')
        """,
        member_id, invite_key(member_id), recipient,
    )


async def invite_failed(
    pool: asyncpg.Pool, member_id: str, run_id: str | None, directory_id: str | None, error: str
) -> None:
    """Mark the invite failed and add the error to the run's member errors, once."""
    await pool.execute(
        """
        WITH failed AS (
            UPDATE invites SET status = 'failed', error = $4, updated_at = now()
             WHERE member_id = $1 AND status IN ('pending', 'queued') RETURNING member_id)
        UPDATE sync_runs
           SET member_errors = member_errors || jsonb_build_array(
                   jsonb_build_object('directory_id', $3::text, 'message', $4::text))
         WHERE id = $2 AND EXISTS (SELECT 1 FROM failed)
        """,
        member_id, run_id, directory_id, error,
    )


async def invite_back_to_pending(pool: asyncpg.Pool, member_id: str, error: str) -> None:
    """After an outage outlasted the retries: an admin can send it again with the pending invites."""
    await pool.execute(
        "UPDATE invites SET status = 'pending', error = $2, updated_at = now()"
        " WHERE member_id = $1 AND status IN ('pending', 'queued')",
        member_id, error,
    )


async def load_run(pool: asyncpg.Pool, team_id: str, run_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT t.name AS team_name, r.summary, r.counts FROM sync_runs r JOIN teams t ON t.id = r.team_id"
        " WHERE r.id = $1 AND r.team_id = $2",
        run_id, team_id,
    )


async def team_admins(pool: asyncpg.Pool, team_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT m.id::text AS member_id, a.email, coalesce(nullif(m.card_name, ''), a.name) AS name"
        "  FROM members m JOIN accounts a ON a.id = m.account_id"
        " WHERE m.team_id = $1 AND m.role = 'admin' AND m.status <> 'removed' ORDER BY a.email_key",
        team_id,
    )


async def already_sent(pool: asyncpg.Pool, key: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM sent_emails WHERE key = $1)", key))


async def log_sent(pool: asyncpg.Pool, key: str, recipient: str) -> None:
    await pool.execute(
        "INSERT INTO sent_emails (key, recipient) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, recipient
    )
