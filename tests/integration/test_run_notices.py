"""Failure notices on a real database and SMTP server: the run's end decides who hears of it (the outbox),
and the notifier sends each admin at most one failure notice per team and day, and the word that it works
again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifier.bootstrap import handler_map
from shared import runs
from shared.failures import Cause
from shared.messages import RunNoticeRequested
from shared.worker import dispatch


@pytest.fixture
async def team(pool) -> str:
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Contoso', $1) RETURNING id::text", uuid.uuid4().hex
    )
    for email, role in [
        ("boss@contoso.com", "admin"),
        ("deputy@contoso.com", "admin"),
        ("x@contoso.com", "member"),
    ]:
        account = await pool.fetchval(
            "INSERT INTO accounts (email, name) VALUES ($1, $1) RETURNING id", email
        )
        await pool.execute(
            "INSERT INTO members (team_id, account_id, status, role) VALUES ($1, $2, 'active', $3)",
            team,
            account,
            role,
        )
    return team


async def new_run(pool, team: str, dry_run: bool = False, trigger: str = "schedule") -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, dry_run, status) VALUES ($1, $2, $3, 'fetching')"
            " RETURNING id",
            team,
            trigger,
            dry_run,
        )
    )


async def failed(pool, team: str, cause: Cause, reason: str, **kw) -> str:
    run = await new_run(pool, team, **kw)
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, run, reason, cause=cause)
    return run


async def succeeded(pool, team: str, **kw) -> str:
    run = await new_run(pool, team, **kw)
    async with pool.acquire() as conn, conn.transaction():
        await runs.start_reconciling(conn, run)
        await runs.finish(conn, run, runs.RunStatus.SUCCEEDED, {}, [])
    return run


async def notices(pool) -> list[RunNoticeRequested]:
    rows = await pool.fetch(
        "UPDATE outbox SET published_at = now() WHERE routing_key = $1 AND published_at IS NULL"
        " RETURNING body",
        RunNoticeRequested.routing_key,
    )
    return [RunNoticeRequested.from_bytes(r["body"]) for r in rows]


async def test_the_first_failure_of_a_streak_and_the_first_success_after_it_are_told(pool, team):
    first = await failed(pool, team, Cause.SECRET, "the client secret is wrong or expired")
    assert [(n.kind, n.run_id) for n in await notices(pool)] == [("failed", first)]
    await failed(pool, team, Cause.SECRET, "the client secret is wrong or expired")
    await failed(
        pool, team, Cause.GRAPH, "Graph is unavailable", dry_run=True
    )  # a preview counts for nothing
    assert await notices(pool) == []
    fixed = await succeeded(pool, team)
    assert [(n.kind, n.run_id) for n in await notices(pool)] == [("fixed", fixed)]
    await succeeded(pool, team)
    assert await notices(pool) == []
    assert await pool.fetchval("SELECT failure_cause FROM sync_runs WHERE id = $1", first) == "secret"


async def test_an_undo_neither_starts_nor_ends_a_streak(pool, team):
    """An undo refused (a later run touched its members) says nothing about the connection."""
    synced = await succeeded(pool, team)
    undo = await new_run(pool, team, trigger="manual")
    await pool.execute("UPDATE sync_runs SET undoes = $2 WHERE id = $1", undo, synced)
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, undo, f"run {synced} cannot be undone: a later run changed its members")
    assert await notices(pool) == []
    broken = await failed(pool, team, Cause.SECRET, "the client secret is wrong or expired")
    assert [(n.kind, n.run_id) for n in await notices(pool)] == [("failed", broken)]
    again = await new_run(pool, team, trigger="manual")
    await pool.execute("UPDATE sync_runs SET undoes = $2 WHERE id = $1", again, synced)
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, again, "refused")
    await succeeded(pool, team)  # the streak of real failures ends here, not at the undo
    assert [n.kind for n in await notices(pool)] == ["fixed"]


async def test_each_admin_gets_one_failure_notice_a_team_and_day_saying_what_to_do(
    pool, team, notifier, smtp_server
):
    run = await failed(pool, team, Cause.SECRET, "the client secret is wrong or expired (AADSTS7000222)")
    [notice] = await notices(pool)
    handlers = handler_map(notifier)
    await dispatch(handlers, notice)
    await dispatch(handlers, notice)  # redelivered
    # Fixed and failing again the same day: the second streak's notice is not sent that day.
    await succeeded(pool, team)
    await failed(pool, team, Cause.GRAPH, "Microsoft Graph is unavailable")
    fixed, again = await notices(pool)
    await dispatch(handlers, fixed)
    await dispatch(handlers, again)
    assert again.kind == "failed" and again.day == notice.day
    subjects = sorted((r.to, r.message["Subject"]) for r in smtp_server.received)
    assert subjects == [
        ("boss@contoso.com", "Contoso: the directory sync failed"),
        ("boss@contoso.com", "Contoso: the directory sync works again"),
        ("deputy@contoso.com", "Contoso: the directory sync failed"),
        ("deputy@contoso.com", "Contoso: the directory sync works again"),
    ]
    failure = next(r.message for r in smtp_server.received if "failed" in r.message["Subject"])
    text = failure.get_body(("plain",)).get_content()
    assert "Make a new client secret in the Entra admin center" in text
    assert "save its Value under Directory" in text
    assert "AADSTS7000222" in text
    assert "wait until the sync configuration or the directory connection is saved again" in text
    assert f"https://cards.example/teams/{team}/runs/{run}" in text
    # The next day, a new streak is told again.
    await dispatch(handlers, again.model_copy(update={"day": again.day.replace(year=again.day.year + 1)}))
    assert len(smtp_server.received) == 6


async def test_a_passing_failure_says_when_it_is_tried_again(pool, team, notifier, smtp_server):
    await failed(pool, team, Cause.THROTTLED, "Graph kept throttling")
    [notice] = await notices(pool)
    await dispatch(handler_map(notifier), notice)
    text = smtp_server.received[0].message.get_body(("plain",)).get_content()
    assert "throttled" in text and "It is tried again in 5 minutes." in text


async def test_a_permission_missing_names_the_permission_and_admin_consent(pool, team, notifier, smtp_server):
    reason = "the app is missing the application permission User.Read.All (with admin consent) to read /users"
    await failed(pool, team, Cause.PERMISSION, reason, trigger="manual")
    [notice] = await notices(pool)
    await dispatch(handler_map(notifier), notice)
    text = smtp_server.received[0].message.get_body(("plain",)).get_content()
    assert "User.Read.All" in text and "grant admin consent" in text


async def test_a_gone_group_is_told_once_a_day_saying_what_to_do(pool, team, notifier, smtp_server):
    run = await succeeded(pool, team)
    await notices(pool)
    notice = RunNoticeRequested(
        team_id=team, run_id=run, kind="group_gone", day=datetime.now(UTC).date(), groups=["Marketing"]
    )
    await dispatch(handler_map(notifier), notice)
    await dispatch(handler_map(notifier), notice.model_copy(update={"message_id": "another run, same day"}))
    assert sorted(r.to for r in smtp_server.received) == ["boss@contoso.com", "deputy@contoso.com"]
    message = smtp_server.received[0].message
    assert message["Subject"] == "Contoso: a synced group no longer exists in the directory"
    text = message.get_body(("plain",)).get_content()
    assert "  - Marketing" in text and "kept, not removed" in text and "take these groups off" in text
    assert f"https://cards.example/teams/{team}/runs/{run}" in text
