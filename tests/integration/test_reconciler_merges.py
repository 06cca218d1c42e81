"""R4's continuity on re-hire, through the reconciler's handlers on a real database: a user with a removed
member's email under another object id is proposed as a merge, and the admin's decision is applied."""

from __future__ import annotations

from shared import runs
from shared.messages import MergeDecided
from tests.fixtures.reconciler import user

REHIRED = "11111111-0000-4000-8000-000000000001"


async def rehire(team) -> dict:
    """User 1 leaves (removed), then comes back under a new object id: the run proposes a merge."""
    await team.sync([user(1), user(2), user(3)])
    await team.sync([user(2), user(3)])
    run = await team.sync([user(1, id=REHIRED), user(2), user(3)])
    assert run["counts"]["created"] == 0 and run["counts"]["skipped"] == 1
    assert "proposed to the admin as a merge" in run["member_errors"][0]["message"]
    return run


async def decide(team, merge_id, decision: str) -> dict:
    """Decide as the API does; the run's message handled twice (a redelivery changes nothing)."""
    async with team.pool.acquire() as conn, conn.transaction():
        run = await runs.queue(conn, team.team_id, "manual", "it", False, team.config, "id")
        await conn.execute(
            "UPDATE member_merges SET status = $2, decision_run_id = $3 WHERE id = $1",
            merge_id,
            decision,
            run["id"],
        )
    message = MergeDecided(team_id=team.team_id, run_id=str(run["id"]), merge_id=str(merge_id))
    await team.deliver(message)
    await team.deliver(message)
    return dict(await team.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run["id"]))


async def test_a_rehire_is_proposed_as_a_merge_not_made_or_bound_silently(team):
    run = await rehire(team)
    merge = await team.pool.fetchrow("SELECT * FROM member_merges WHERE run_id = $1", run["id"])
    old = (await team.members())[user(1).id]
    assert old["status"] == "removed"
    assert merge["status"] == "proposed" and merge["member_id"] == old["id"]
    assert (merge["directory_id"], merge["old_directory_id"]) == (REHIRED, user(1).id)
    assert merge["email"] == "user00001@contoso.com" and merge["seen"]["card"]["f"]["name"] == "User 00001"
    assert len(await team.members()) == 3
    # the next run proposes it still, once
    again = await team.sync([user(1, id=REHIRED, jobTitle="Rehired"), user(2), user(3)])
    assert again["counts"]["skipped"] == 1
    merges = await team.pool.fetch("SELECT * FROM member_merges WHERE team_id = $1", team.team_id)
    assert len(merges) == 1 and merges[0]["seen"]["card"]["f"]["job_title"] == "Rehired"
    # a dry run proposes nothing
    await team.pool.execute("DELETE FROM member_merges")
    await team.sync([user(1, id=REHIRED), user(2), user(3)], dry_run=True)
    assert await team.pool.fetchval("SELECT count(*) FROM member_merges") == 0


async def test_an_accepted_merge_brings_the_same_member_back_with_the_new_object_id(team):
    run = await rehire(team)
    old = (await team.members())[user(1).id]
    merge_id = await team.pool.fetchval("SELECT id FROM member_merges WHERE run_id = $1", run["id"])
    applied = await decide(team, merge_id, "accepted")
    assert applied["status"] == "succeeded", applied["error"]
    assert applied["counts"]["updated"] == 1 and applied["counts"]["created"] == 0
    members = await team.members()
    back = members[REHIRED]
    assert back["id"] == old["id"] and back["account_id"] == old["account_id"]
    assert back["status"] == "invited" and back["subscription_active"] and user(1).id not in members
    assert (
        await team.pool.fetchval("SELECT count(*) FROM subteam_members WHERE member_id = $1", back["id"]) == 1
    )
    # a later run finds it bound: nothing to propose, nothing to change
    later = await team.sync([user(1, id=REHIRED), user(2), user(3)])
    assert later["counts"]["skipped"] == 0 and later["counts"]["unchanged"] == 3


async def test_a_rejected_merge_makes_a_new_member_and_the_removed_one_goes(team):
    run = await rehire(team)
    old = (await team.members())[user(1).id]
    merge_id = await team.pool.fetchval("SELECT id FROM member_merges WHERE run_id = $1", run["id"])
    before = await team.invited()
    applied = await decide(team, merge_id, "rejected")
    assert applied["status"] == "succeeded", applied["error"]
    assert applied["counts"]["created"] == 1 and applied["counts"]["deleted"] == 1
    members = await team.members()
    new = members[REHIRED]
    assert new["id"] != old["id"] and new["status"] == "invited" and user(1).id not in members
    assert await team.invited() == [*before, str(new["id"])]
    later = await team.sync([user(1, id=REHIRED), user(2), user(3)])
    assert later["counts"]["skipped"] == 0 and later["counts"]["unchanged"] == 3


async def test_a_decision_that_no_longer_fits_fails_its_run_and_the_merge_is_proposed_again(team):
    run = await rehire(team)
    merge_id = await team.pool.fetchval("SELECT id FROM member_merges WHERE run_id = $1", run["id"])
    await team.pool.execute("UPDATE members SET status = 'invited' WHERE directory_id = $1", user(1).id)
    applied = await decide(team, merge_id, "accepted")
    assert applied["status"] == "failed" and "no longer there" in applied["error"]
    status = await team.pool.fetchval("SELECT status FROM member_merges WHERE id = $1", merge_id)
    assert status == "proposed"
