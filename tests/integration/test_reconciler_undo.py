"""Undoing a run from its journal, through the reconciler's handlers on a real database: the team comes back
row for row as it was before the run, and what stands in the way refuses the undo."""

from __future__ import annotations

from typing import Any

from shared import runs, undo
from shared.messages import PhotosStored, RunUndoRequested, WebhookEvent
from tests.fixtures.reconciler import GROUP, OTHER_GROUP, user

TWO_GROUPS = {
    "groups": [{"id": GROUP, "display_name": "Sales"}, {"id": OTHER_GROUP, "display_name": "Sales"}],
    "delete_on_removal": False,
}


async def team_rows(team) -> dict[str, Any]:
    """Everything of the team an undo puts back, as sorted rows (a member's ``updated_at`` moves on)."""
    queries = {
        "members": "SELECT * FROM members WHERE team_id = $1 ORDER BY id",
        "accounts": "SELECT a.* FROM accounts a"
        " WHERE a.id IN (SELECT account_id FROM members WHERE team_id = $1) OR a.created_by_team = $1"
        " ORDER BY a.id",
        "links": "SELECT l.* FROM links l JOIN members m ON m.id = l.member_id WHERE m.team_id = $1"
        " ORDER BY l.id",
        "places": "SELECT p.* FROM subteam_members p JOIN subteams s ON s.id = p.subteam_id"
        " WHERE s.team_id = $1 ORDER BY p.subteam_id, p.member_id",
        "invites": "SELECT i.* FROM invites i JOIN members m ON m.id = i.member_id WHERE m.team_id = $1"
        " ORDER BY i.member_id",
        "photos": "SELECT f.* FROM member_photos f JOIN members m ON m.id = f.member_id WHERE m.team_id = $1"
        " ORDER BY f.member_id",
    }
    rows = {}
    for name, query in queries.items():
        rows[name] = [
            {k: v for k, v in r.items() if k != "updated_at"}
            for r in await team.pool.fetch(query, team.team_id)
        ]
    return rows


async def undo_run(team, run_id) -> dict[str, Any]:
    """Queue the undo as the API does and deliver its message twice (a redelivery changes nothing)."""
    async with team.pool.acquire() as conn, conn.transaction():
        row = await runs.queue(
            conn, team.team_id, "manual", "it@contoso.com", False, team.config, "id", run_id
        )
    message = RunUndoRequested(team_id=team.team_id, run_id=str(row["id"]), undoes=str(run_id))
    await team.deliver(message)
    await team.deliver(message)
    return dict(await team.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", row["id"]))


def churned(users: list) -> dict[str, list]:
    """The directory after a churn: user 1 gone, user 2 with a new title and login, user 3 moved to the other
    group, users 7 and 8 new."""
    staying = [u for u in users if u.id.endswith(("04", "05", "06"))]
    changed = user(2, jobTitle="Director", userPrincipalName="renamed@contoso.onmicrosoft.com")
    return {GROUP: [*staying, changed, user(7), user(8)], OTHER_GROUP: [user(3), user(6)]}


async def test_undoing_a_churn_run_restores_the_team_row_for_row(team):
    team.config = TWO_GROUPS
    users = [user(n) for n in range(1, 7)]
    await team.sync({GROUP: users, OTHER_GROUP: [user(6)]})
    await team.pool.execute("UPDATE members SET role = 'admin' WHERE directory_id = $1", users[0].id)
    await team.pool.execute(
        "INSERT INTO member_photos (member_id, content_type, etag, data)"
        " SELECT id, 'image/jpeg', 'e1', '\\xffd8ff'::bytea FROM members WHERE team_id = $1",
        team.team_id,
    )
    before = await team_rows(team)
    await team.pool.execute(
        "INSERT INTO webhooks (team_id, url, events, secret_encrypted) VALUES ($1, 'https://hooks.example/in',"
        " '{member.created,member.updated,member.removed}', 'x')",
        team.team_id,
    )
    churn = await team.sync(churned(users))
    assert churn["counts"] | {"unchanged": 0} == {
        "created": 2,
        "invited": 2,
        "updated": 2,
        "unchanged": 0,
        "removed": 1,
        "deleted": 0,
        "skipped": 0,
    }
    assert await team_rows(team) != before
    journal = await team.pool.fetch(
        "SELECT op, sum(coalesce(cardinality(created), 1)) FROM run_journal WHERE run_id = $1 GROUP BY op",
        churn["id"],
    )
    assert dict(journal) == {"create": 2, "update": 2, "remove": 1}

    undone = await undo_run(team, churn["id"])
    assert undone["error"] is None
    assert (
        undone["status"] == "succeeded" and undone["undoes"] == churn["id"] and undone["trigger"] == "manual"
    )
    assert undone["counts"] == {
        "created": 0,
        "invited": 0,
        "updated": 3,
        "unchanged": 3,
        "removed": 0,
        "deleted": 2,
        "skipped": 0,
    }
    assert await team_rows(team) == before
    # the team's webhooks hear of it: the members the churn made went, the others were changed back
    events = await team.pool.fetch(
        "SELECT convert_from(body, 'UTF8')::jsonb AS e FROM outbox WHERE routing_key = $1 ORDER BY id",
        WebhookEvent.routing_key,
    )
    undo_events = {
        e["e"]["event"]: len(e["e"]["member_ids"]) for e in events if e["e"]["run_id"] == str(undone["id"])
    }
    assert undo_events == {"member.removed": 2, "member.updated": 3}
    # the fetcher forgets the photos of the members the undo took away (users 7 and 8)
    forgets = await team.pool.fetch(
        "SELECT body FROM outbox WHERE routing_key = $1", PhotosStored.routing_key
    )
    forgot = [PhotosStored.from_bytes(r["body"]) for r in forgets]
    forgot = [m for m in forgot if m.run_id == str(undone["id"])]
    assert len(forgot) == 1 and forgot[0].etags == {}
    assert sorted(forgot[0].forget) == sorted([user(7).id, user(8).id])
    # its digest lists who came back and who went
    assert undone["summary"]["totals"] == {"added": 1, "removed": 2, "held": 0}
    # once is enough
    refused = await undo.refusal(team.pool, team.team_id, churn["id"])
    assert refused is not None and "undone already" in refused.reason


async def test_undoing_a_run_that_deleted_members_brings_them_back_from_their_tombstones(team):
    team.config = {"groups": [{"id": GROUP, "display_name": "Sales"}], "delete_on_removal": True}
    users = [user(n) for n in range(1, 7)]
    await team.sync(users)
    await team.pool.execute(
        "INSERT INTO member_photos (member_id, content_type, etag, data)"
        " SELECT id, 'image/png', 'e2', '\\x89504e47'::bytea FROM members WHERE team_id = $1",
        team.team_id,
    )
    await team.pool.execute("UPDATE invites SET status = 'sent', token_hash = 'h-' || member_id")
    before = await team_rows(team)
    run = await team.sync(users[2:])
    assert run["counts"]["deleted"] == 2 and len(await team.members()) == 4
    undone = await undo_run(team, run["id"])
    assert undone["status"] == "succeeded" and undone["counts"]["created"] == 2
    assert await team_rows(team) == before


async def test_a_later_run_that_touched_the_members_refuses_the_undo(team):
    users = [user(n) for n in range(1, 5)]
    await team.sync(users)
    first = await team.sync(users[1:])  # user 1 removed
    await team.sync([user(2, jobTitle="Boss"), *users[2:]])  # user 2 changed: not first's
    assert await undo.refusal(team.pool, team.team_id, first["id"]) is None
    await team.sync(users)  # user 1 back: a later run touched first's member
    refused = await undo.refusal(team.pool, team.team_id, first["id"])
    assert refused is not None and "a later run" in refused.reason and "User 00001" in refused.reason
    assert [m["name"] for m in refused.members] == ["User 00001"]
    undone = await undo_run(team, first["id"])  # the reconciler asks again, and fails the undo run
    assert undone["status"] == "failed" and "a later run" in undone["error"]


async def test_a_member_made_by_the_run_that_claimed_its_card_refuses_the_undo(team):
    await team.sync([user(1)])
    run = await team.sync([user(1), user(2)])
    await team.pool.execute("UPDATE members SET status = 'active' WHERE directory_id = $1", user(2).id)
    refused = await undo.refusal(team.pool, team.team_id, run["id"])
    assert refused is not None and "claimed its card" in refused.reason


async def test_runs_that_cannot_be_undone_say_why(team):
    first = await team.sync([user(1)])
    unchanged = await team.sync([user(1)])
    dry = await team.sync([user(1), user(2)], dry_run=True)
    assert (
        await team.pool.fetchval("SELECT count(*) FROM run_journal WHERE run_id = $1", unchanged["id"]) == 0
    )
    reasons = {
        "unchanged": unchanged["id"],
        "dry": dry["id"],
    }
    assert "changed no member" in (await undo.refusal(team.pool, team.team_id, reasons["unchanged"])).reason
    assert "dry run" in (await undo.refusal(team.pool, team.team_id, reasons["dry"])).reason
    await team.pool.execute(
        "UPDATE sync_runs SET finished_at = now() - interval '31 days' WHERE id = $1", first["id"]
    )
    assert "more than 30 days" in (await undo.refusal(team.pool, team.team_id, first["id"])).reason
    assert await undo.purge(team.pool) == 1
    other = await team.pool.fetchval("SELECT gen_random_uuid()")
    assert not (await undo.refusal(team.pool, other, first["id"])).found
