"""Credential expiry notices: the scheduler's daily check queues a 30-day and a 7-day notice, each once across
checks and replicas, and the notifier emails each admin once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.scheduler.credential_expiry import notice_expiring
from shared.messages import CredentialExpiring


async def _team(pool, expires_at: datetime | None, credential: str = "certificate") -> str:
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Contoso', $1) RETURNING id", uuid.uuid4().hex
    )
    for email, role in [("boss@contoso.com", "admin"), ("staff@contoso.com", "member")]:
        account = await pool.fetchval(
            "INSERT INTO accounts (email, name) VALUES ($1, $1) ON CONFLICT (email_key) DO UPDATE"
            " SET name = EXCLUDED.name RETURNING id",
            email,
        )
        await pool.execute(
            "INSERT INTO members (team_id, account_id, status, role) VALUES ($1, $2, 'active', $3)",
            team,
            account,
            role,
        )
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id, secret_encrypted,"
        " credential_type, credential_expires_at, certificate_thumbprint)"
        " VALUES ($1, 'own_app', 't', 'c', '\\x00', $2, $3, $4)",
        team,
        credential,
        expires_at,
        "AB" * 20 if credential == "certificate" else None,
    )
    return str(team)


async def _queued(pool) -> list[CredentialExpiring]:
    rows = await pool.fetch(
        "DELETE FROM outbox WHERE routing_key = $1 RETURNING body", CredentialExpiring.routing_key
    )
    return [CredentialExpiring.from_bytes(bytes(r["body"])) for r in rows]


async def test_notices_30_and_7_days_before_each_once(pool):
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(days=40)
    team = await _team(pool, expires)
    assert await notice_expiring(pool, now) == 0
    # Two replicas check at once, then again the next day: one 30-day notice.
    counts = await asyncio.gather(*(notice_expiring(pool, now + timedelta(days=11)) for _ in range(2)))
    assert sorted(counts) == [0, 1]
    assert await notice_expiring(pool, now + timedelta(days=12)) == 0
    (notice,) = await _queued(pool)
    assert (notice.team_id, notice.days, notice.expires_at, notice.credential_type) == (
        team,
        30,
        expires,
        "certificate",
    )
    assert await notice_expiring(pool, now + timedelta(days=34)) == 1
    assert [n.days for n in await _queued(pool)] == [7]
    assert await notice_expiring(pool, now + timedelta(days=35)) == 0
    # Past the expiry no notice is sent (the run fails saying so instead).
    assert await notice_expiring(pool, now + timedelta(days=41)) == 0

    # A new credential (another expiry) is noticed afresh; one first seen 5 days out gets the 7-day one alone.
    await pool.execute(
        "UPDATE directory_connections SET credential_expires_at = $2 WHERE team_id = $1",
        uuid.UUID(team),
        now + timedelta(days=5),
    )
    assert await notice_expiring(pool, now) == 1
    assert [n.days for n in await _queued(pool)] == [7]
    assert await notice_expiring(pool, now) == 0


async def test_the_notifier_emails_each_admin_once(pool, notifier, smtp_server):
    expires = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    team = await _team(pool, expires, "secret")
    msg = CredentialExpiring(team_id=team, expires_at=expires, days=7, credential_type="secret")
    await notifier.on_credential_expiring(msg)
    await notifier.on_credential_expiring(msg)  # a redelivery
    (email,) = smtp_server.received
    assert email.to == "boss@contoso.com"
    assert email.message["Subject"] == "Contoso: the directory's client secret expires in 7 days"
    text = email.message.get_body(("plain",)).get_content()
    assert "2027-03-01 12:00 UTC" in text and f"https://cards.example/teams/{team}/directory" in text
