"""Admin digests against a real SMTP server and Postgres: every full team admin once, per run and kind."""

from __future__ import annotations

import uuid

import pytest

from services.notifier.handlers import DigestWaiting, Notifier
from services.notifier.smtp import SmtpTransport
from shared.messages import AdminDigestRequested

SUMMARY = {
    "added": [{"name": f"New {i}", "email": f"new{i}@contoso.com"} for i in range(60)],
    "removed": [{"name": "Left\r\nBcc: x@evil.example", "email": "left@contoso.com"}],
    "held": [{"name": f"Held {i}", "email": f"held{i}@contoso.com"} for i in range(25)],
}


@pytest.fixture
async def team(pool) -> str:
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Contoso', $1) RETURNING id", uuid.uuid4().hex
    )
    for email, role, status in [
        ("boss@contoso.com", "admin", "active"),
        ("deputy@contoso.com", "admin", "invited"),
        ("former@contoso.com", "admin", "removed"),
        ("staff@contoso.com", "member", "active"),
    ]:
        account = await pool.fetchval(
            "INSERT INTO accounts (email, name) VALUES ($1, $1) RETURNING id", email
        )
        await pool.execute(
            "INSERT INTO members (team_id, account_id, status, role) VALUES ($1, $2, $3, $4)",
            team,
            account,
            status,
            role,
        )
    return str(team)


async def make_run(pool, team: str, status: str = "succeeded") -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, status, summary, counts) VALUES ($1, 'schedule', $2, "
            "$3, $4)"
            " RETURNING id",
            team,
            status,
            SUMMARY,
            {"created": 60, "invited": 60, "removed": 1, "unchanged": 900},
        )
    )


async def sent_twice(notifier, smtp_server, msg: AdminDigestRequested):
    """The digest asked for twice: each full admin gets it once; the first email."""
    await notifier.on_digest_requested(msg)
    await notifier.on_digest_requested(msg)
    assert sorted(r.to for r in smtp_server.received) == ["boss@contoso.com", "deputy@contoso.com"]
    return smtp_server.received[0].message


async def test_every_full_admin_gets_the_summary_once(pool, notifier, smtp_server, team):
    run = await make_run(pool, team)
    message = await sent_twice(notifier, smtp_server, AdminDigestRequested(team_id=team, run_id=run))
    assert message["Subject"] == "60 people joined and 1 left Contoso on CardSync"
    text = message.get_body(("plain",)).get_content()
    assert "and 10 more" in text and "Left Bcc: x@evil.example <left@contoso.com>" in text
    assert f"https://cards.example/teams/{team}/runs/{run}" in text
    assert "Bcc" not in str(message.keys())


async def test_a_held_run_asks_for_approval_and_is_sent_apart_from_the_summary(
    pool, notifier, smtp_server, team
):
    run = await make_run(pool, team, status="held")
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=run, kind="held"))
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=run, kind="held"))
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=run, kind="summary"))
    subjects = sorted(r.message["Subject"] for r in smtp_server.received)
    assert (
        subjects
        == ["60 people joined and 1 left Contoso on CardSync"] * 2
        + ["Contoso: 25 removals are waiting for your approval"] * 2
    )
    held = next(r for r in smtp_server.received if "approval" in r.message["Subject"])
    html = held.message.get_body(("html",)).get_content()
    assert f'press Approve: <a href="https://cards.example/teams/{team}/runs/{run}">' in html


async def test_a_refused_admin_does_not_stop_the_others(pool, notifier, smtp_server, team):
    smtp_server.reject("boss@contoso.com")
    run = await make_run(pool, team)
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=run))
    assert [r.to for r in smtp_server.received] == ["deputy@contoso.com"]


async def test_a_digest_for_an_unknown_run_sends_nothing(pool, notifier, smtp_server, team):
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=str(uuid.uuid4())))
    assert smtp_server.received == []


async def test_an_approval_summary_lists_who_left_once(pool, notifier, smtp_server, team):
    run = await make_run(pool, team)
    message = await sent_twice(
        notifier, smtp_server, AdminDigestRequested(team_id=team, run_id=run, approved=True)
    )
    assert message["Subject"] == "1 person left Contoso on CardSync"
    text = message.get_body(("plain",)).get_content()
    assert "were approved and are applied" in text and "left@contoso.com" in text and "new0" not in text


async def test_r16_a_digest_goes_to_the_admins_card_email_not_a_guest_login(
    pool, notifier, smtp_server, team
):
    account = await pool.fetchval(
        "INSERT INTO accounts (email, name) VALUES ('jane_fabrikam.com#EXT#@contoso.onmicrosoft.com', 'Jane')"
        " RETURNING id"
    )
    await pool.execute(
        "INSERT INTO members (team_id, account_id, status, role, card_email)"
        " VALUES ($1, $2, 'active', 'admin', 'jane@fabrikam.com')",
        team,
        account,
    )
    run = await make_run(pool, team)
    await notifier.on_digest_requested(AdminDigestRequested(team_id=team, run_id=run))
    assert sorted(r.to for r in smtp_server.received) == [
        "boss@contoso.com",
        "deputy@contoso.com",
        "jane@fabrikam.com",
    ]


async def test_r16_a_digest_the_server_would_not_take_is_delivered_again_and_reaches_every_admin_once(
    pool, settings, smtp_server, team
):
    mail_settings = settings.model_copy(update={"smtp_port": smtp_server.port})
    transport = SmtpTransport(mail_settings)
    notifier = Notifier(pool, mail_settings, transport, retry_for=0.5, max_backoff=0.1)
    try:
        run = await make_run(pool, team)
        message = AdminDigestRequested(team_id=team, run_id=run)
        smtp_server.refuse(60)
        with pytest.raises(DigestWaiting, match="waits for admin .+; admin ") as waiting:
            await notifier.on_digest_requested(message)  # not a PermanentError: the bus delivers it again
        assert "@" not in str(waiting.value)  # the bus logs it: admins are named by id, not address
        assert smtp_server.received == []
        assert await pool.fetchval("SELECT count(*) FROM sent_emails") == 0
        smtp_server.refuse(0)
        smtp_server.reject("deputy@contoso.com")
        await notifier.on_digest_requested(message)
        await notifier.on_digest_requested(message)
        assert [r.to for r in smtp_server.received] == ["boss@contoso.com"]
    finally:
        await transport.close()
