"""The apply's new-member rows: written without row-by-row foreign key checks where the role may, with them
where it may not, the same rows either way; and accounts another transaction makes meanwhile are used, not
duplicated."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.reconciler import apply
from services.reconciler.handlers import Reconciler
from shared import db
from tests.fixtures.reconciler import OTHER_GROUP, TeamRuns, user

TWO_GROUPS = {
    "groups": [
        {"id": "0c6d5e4f-0000-4000-8000-000000000001", "display_name": "Sales"},
        {"id": OTHER_GROUP, "display_name": "EMEA"},
    ]
}


async def _rows(team: TeamRuns) -> dict[str, int]:
    return dict(
        await team.pool.fetchrow(
            "SELECT (SELECT count(*) FROM members WHERE team_id = $1) AS members,"
            " (SELECT count(*) FROM links l JOIN members m ON m.id = l.member_id WHERE m.team_id = $1) AS "
            "links,"
            " (SELECT count(*) FROM subteam_members sm JOIN members m ON m.id = sm.member_id WHERE m.team_id "
            "= $1)"
            "   AS places,"
            " (SELECT count(*) FROM invites i JOIN members m ON m.id = i.member_id WHERE m.team_id = $1) AS "
            "invites",
            team.team_id,
        )
    )


@pytest.fixture
async def plain_team(team: TeamRuns, db_url: str, settings):
    """The same team, reconciled through a role that is no superuser and may not set
    session_replication_role."""
    role = f"cardsync_plain_{uuid.uuid4().hex[:8]}"
    await team.pool.execute(f'CREATE ROLE "{role}" LOGIN')
    for grant in ("ALL ON ALL TABLES", "ALL ON ALL SEQUENCES", "EXECUTE ON ALL FUNCTIONS"):
        await team.pool.execute(f'GRANT {grant} IN SCHEMA public TO "{role}"')
    url = urlunsplit(
        urlsplit(db_url)._replace(netloc=f"{role}@{urlsplit(db_url).hostname}:{urlsplit(db_url).port}")
    )
    pool = await db.create_pool(url, size=2)
    try:
        yield TeamRuns(pool, Reconciler(pool, settings), team.team_id)
    finally:
        await pool.close()
        await team.pool.execute(f'DROP OWNED BY "{role}"')
        await team.pool.execute(f'DROP ROLE "{role}"')


async def test_a_superuser_may_write_new_rows_unchecked_and_a_plain_role_may_not(team, plain_team):
    async with team.pool.acquire() as conn, conn.transaction():
        assert await apply.may_trust_new_rows(conn, team.team_id)
    async with plain_team.pool.acquire() as conn, conn.transaction():
        assert not await apply.may_trust_new_rows(conn, team.team_id)


async def test_a_role_that_may_not_skip_the_checks_applies_the_same_rows_with_them(team, plain_team):
    users = [user(n) for n in range(1, 41)]
    run = await plain_team.sync(
        {TWO_GROUPS["groups"][0]["id"]: users, OTHER_GROUP: users[:10]}, config=TWO_GROUPS
    )
    assert run["status"] == "succeeded", run["error"]
    assert await _rows(team) == {"members": 40, "links": 80, "places": 50, "invites": 40}
    # And a later run through the superuser, which writes new rows unchecked, adds to them the same way.
    more = [user(n) for n in range(41, 61)]
    run = await team.sync(
        {TWO_GROUPS["groups"][0]["id"]: users + more, OTHER_GROUP: users[:10] + more}, config=TWO_GROUPS
    )
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"]["created"] == 20 and run["counts"]["unchanged"] == 40
    assert await _rows(team) == {"members": 60, "links": 120, "places": 90, "invites": 60}
    orphans = await team.pool.fetchval(
        "SELECT (SELECT count(*) FROM links l WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = "
        "l.member_id))"
        " + (SELECT count(*) FROM subteam_members sm"
        "     WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = sm.member_id)"
        "        OR NOT EXISTS (SELECT 1 FROM subteams s WHERE s.id = sm.subteam_id))"
        " + (SELECT count(*) FROM invites i WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = "
        "i.member_id))"
    )
    assert orphans == 0


async def test_r4_accounts_another_transaction_makes_during_the_apply_are_used_not_made_twice(team, db_url):
    """Another team's sync commits the accounts of the same people after this run looked for them: the run's
    inserts wait for it, then take its accounts instead of failing or making others."""
    users = [user(n) for n in range(1, 6)]
    other_team = await team.pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('Fabrikam', $1) RETURNING id", uuid.uuid4().hex
    )
    other = await asyncpg.connect(db_url)
    try:
        async with other.transaction():
            made = {
                r["email"]: r["id"]
                for r in await other.fetch(
                    "INSERT INTO accounts (email, created_by_team) SELECT u, $1 FROM unnest($2::text[]) u"
                    " RETURNING id, email",
                    other_team,
                    [u.properties["userPrincipalName"] for u in users[:3]],
                )
            }
            syncing = asyncio.ensure_future(team.sync(users))
            await _waiting_on_a_transaction(team.pool)
        run = await syncing
    finally:
        await other.close()
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"]["created"] == 5
    members = await team.members()
    for u in users[:3]:
        assert members[u.id]["account_id"] == made[u.properties["userPrincipalName"]]
    assert await team.pool.fetchval("SELECT count(*) FROM accounts") == 5


async def _waiting_on_a_transaction(pool: asyncpg.Pool) -> None:
    for _ in range(500):
        if await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event = 'transactionid'"
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the run never waited for the other transaction")
