"""Runs through the reconciler's handlers on a real database: redelivery, later runs, removals, the guard."""

from __future__ import annotations

import asyncio
import base64

from services.reconciler.apply import SUMMARY_PEOPLE
from shared import runs
from shared.messages import (
    AdminDigestRequested,
    FetchedPhoto,
    MembersFetched,
    PhotosFetched,
    RunApplied,
    RunApproved,
    SnapshotFailed,
)
from tests.fixtures.reconciler import GROUP, OTHER_GROUP, user

USERS = [user(n) for n in range(1, 6)]


async def _member_xmins(team) -> dict:
    return {
        r[0]: r[1]
        for r in await team.pool.fetch("SELECT id, xmin::text FROM members WHERE team_id = $1", team.team_id)
    }


async def test_every_message_redelivered_stages_and_applies_once(team):
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: USERS}, page_size=2)
    for page in pages + pages[:1]:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done)
    await team.reconciler.on_snapshot_completed(done)
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    run = await team.pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded"
    assert run["counts"]["created"] == 5
    assert len(await team.members()) == 5
    assert len(await team.invited()) == 5
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_pages") == 0
    assert await _applied(team) == [run_id]


async def _applied(team) -> list[str]:
    """The runs a RunApplied in the outbox announces, in order."""
    rows = await team.pool.fetch("SELECT body FROM outbox WHERE routing_key = 'run.applied' ORDER BY id")
    return [RunApplied.from_bytes(r["body"]).run_id for r in rows]


async def test_only_an_apply_announces_itself_not_a_preview_or_a_failure(team):
    await team.sync(USERS[:2], dry_run=True)
    failed = await team.new_run()
    await team.reconciler.on_snapshot_failed(SnapshotFailed(team_id=team.team_id, run_id=failed, reason="x"))
    assert await _applied(team) == []
    applied = await team.sync(USERS[:2])
    assert await _applied(team) == [str(applied["id"])]


async def test_pages_and_completion_arriving_at_once_apply_the_run_every_time(team):
    for _ in range(8):
        run_id = await team.new_run()
        pages, done = team.messages(run_id, {GROUP: USERS}, page_size=1)
        arriving = [*pages[:2], done, *pages[2:]]
        await asyncio.gather(*(team.deliver(m) for m in arriving))
        assert await team.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == "succeeded"
    assert len(await team.members()) == len(USERS)


async def test_completion_before_pages_applies_on_the_last_page(team):
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: USERS}, page_size=2)
    await team.reconciler.on_snapshot_completed(done)
    for page in reversed(pages):
        assert await team.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == "fetching"
        await team.reconciler.on_members_fetched(page)
    assert await team.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == "succeeded"


async def test_r8_a_second_run_without_changes_writes_no_member_row(team):
    await team.sync(USERS)
    before = await _member_xmins(team)
    run = await team.sync(USERS)
    assert run["counts"]["unchanged"] == 5 and run["counts"]["updated"] == 0
    assert await _member_xmins(team) == before
    assert await team.pool.fetchval("SELECT count(*) FROM outbox WHERE routing_key = 'notify.digest'") == 1


async def test_r8_overwrite_on_replaces_a_platform_edit_and_off_keeps_it(team):
    await team.sync(USERS)
    await team.pool.execute("UPDATE members SET card_job_title = 'Chief', card_company = 'Mine'")
    config = {**team.config, "fields": {"job_title": {"sync": True, "overwrite": False}}}
    run = await team.sync(USERS, config=config)
    assert run["counts"]["updated"] == 5
    members = await team.members()
    assert {(m["card_job_title"], m["card_company"]) for m in members.values()} == {("Chief", "Contoso")}


async def test_r4_changed_mail_updates_in_place_without_new_invite(team):
    await team.sync(USERS)
    run = await team.sync([user(1, mail="renamed@contoso.com"), *USERS[1:]])
    assert run["counts"]["updated"] == 1 and run["counts"]["created"] == 0 and run["counts"]["invited"] == 0
    one = (await team.members())["00000000-0000-4000-8000-000000000001"]
    assert one["card_email"] == "renamed@contoso.com"
    assert (await team.links(one["id"]))["email"] == "mailto:renamed@contoso.com"


async def test_r4_an_outside_account_is_claimed_and_invited(team):
    account = await team.pool.fetchval(
        "INSERT INTO accounts (email, name) VALUES (' User00001@Contoso.com ', 'Own') RETURNING id"
    )
    run = await team.sync(USERS)
    assert run["counts"]["created"] == 5 and run["counts"]["invited"] == 5
    assert (await team.members())["00000000-0000-4000-8000-000000000001"]["account_id"] == account
    assert await team.pool.fetchval("SELECT count(*) FROM accounts") == 5


async def test_r4_duplicate_email_lowest_object_id_wins(team):
    run = await team.sync([user(2, mail="same@contoso.com"), user(1, mail="Same@contoso.com")])
    assert run["counts"]["created"] == 1 and run["counts"]["skipped"] == 1
    assert run["member_errors"][0]["directory_id"] == "00000000-0000-4000-8000-000000000002"
    assert list(await team.members()) == ["00000000-0000-4000-8000-000000000001"]


async def test_r9_soft_removal_then_return_reactivates_the_same_member(team):
    await team.sync(USERS)
    run = await team.sync(USERS[:4])
    assert run["counts"]["removed"] == 1 and run["summary"]["removed"][0]["name"] == "User 00005"
    gone = (await team.members())["00000000-0000-4000-8000-000000000005"]
    assert (gone["status"], gone["subscription_active"]) == ("removed", False)
    assert (
        await team.pool.fetchval("SELECT count(*) FROM subteam_members WHERE member_id = $1", gone["id"]) == 0
    )
    assert await team.links(gone["id"])
    run = await team.sync(USERS)
    back = (await team.members())["00000000-0000-4000-8000-000000000005"]
    assert back["id"] == gone["id"] and back["status"] == "invited" and back["subscription_active"]
    assert run["counts"]["created"] == 0 and run["counts"]["invited"] == 0
    assert run["summary"]["added"] == [{"name": "User 00005", "email": "user00005@contoso.com"}]


async def test_r9_hard_removal_deletes_member_and_its_own_account(team):
    config = {**team.config, "delete_on_removal": True}
    await team.sync(USERS, config=config)
    run = await team.sync(USERS[:4], config=config)
    assert run["counts"]["deleted"] == 1
    assert "00000000-0000-4000-8000-000000000005" not in await team.members()
    assert await team.pool.fetchval("SELECT count(*) FROM accounts") == 4


async def test_r9_failed_snapshot_removes_nobody(team):
    await team.sync(USERS)
    run_id = await team.new_run()
    pages, _ = team.messages(run_id, {GROUP: USERS[:1]})
    await team.reconciler.on_members_fetched(pages[0])
    await team.reconciler.on_snapshot_failed(
        SnapshotFailed(team_id=team.team_id, run_id=run_id, reason="the tenant is unreachable", cause="graph")
    )
    run = await team.pool.fetchrow("SELECT status, error, failure_cause FROM sync_runs WHERE id = $1", run_id)
    assert (run["status"], run["error"], run["failure_cause"]) == (
        "failed",
        "the tenant is unreachable",
        "graph",
    )
    assert {m["status"] for m in (await team.members()).values()} == {"invited"}


async def test_r10_guard_holds_removals_and_approve_applies_them(team):
    users = [user(n) for n in range(1, 31)]
    await team.sync(users)
    await team.pool.execute("DELETE FROM outbox")
    run = await team.sync(users[:10])
    assert run["status"] == "held" and run["counts"]["removed"] == 0 and len(run["summary"]["held"]) == 20
    assert {m["status"] for m in (await team.members()).values()} == {"invited"}
    # R10: the admins are emailed the held removals (the held digest), and that is all they are sent.
    asked = [
        (r["routing_key"], r["body"])
        for r in await team.pool.fetch(
            "SELECT routing_key, body FROM outbox WHERE routing_key LIKE 'notify.%'"
        )
    ]
    assert [(key, AdminDigestRequested.from_bytes(body).kind) for key, body in asked] == [
        (AdminDigestRequested.routing_key, "held")
    ]
    places = (
        "SELECT count(*) FROM subteam_members sm JOIN members m ON m.id = sm.member_id WHERE m.team_id = $1"
    )
    assert await team.pool.fetchval(places, team.team_id) == 30  # a held removal keeps its subteam place too
    after = await _approved(team, run["id"])
    assert after["status"] == "succeeded" and after["counts"]["removed"] == 20
    assert len(after["summary"]["removed"]) == 20 and after["summary"]["totals"]["removed"] == 20
    assert await _removed(team) == 20
    assert await team.pool.fetchval(places, team.team_id) == 10


async def test_r16_the_summary_keeps_the_first_people_by_name_and_counts_them_all(team):
    users = [user(n) for n in range(SUMMARY_PEOPLE + 20, 0, -1)]
    run = await team.sync(users)
    added = run["summary"]["added"]
    assert added == sorted(added, key=lambda p: p["name"]) and len(added) == SUMMARY_PEOPLE
    assert added[0] == {"name": "User 00001", "email": "user00001@contoso.com"}
    assert run["summary"]["totals"] == {"added": SUMMARY_PEOPLE + 20, "removed": 0, "held": 0}
    run = await team.sync(users[1:])
    assert run["summary"]["removed"] == [
        {"name": f"User {SUMMARY_PEOPLE + 20:05d}", "email": f"user{SUMMARY_PEOPLE + 20:05d}@contoso.com"}
    ]
    assert run["summary"]["added"] == [] and run["summary"]["totals"]["removed"] == 1


async def test_r10_a_later_run_supersedes_the_removals_an_earlier_run_held(team):
    users = [user(n) for n in range(1, 31)]
    await team.sync(users)
    held = await team.sync(users[:10])
    later = await team.sync(users[:25])
    assert later["status"] == "succeeded" and later["counts"]["removed"] == 5
    after = await _approved(team, held["id"])
    assert after["status"] == "succeeded" and after["counts"]["removed"] == 0
    assert await _removed(team) == 5


async def _approved(team, run_id) -> dict:
    """The held run approved as the API approves it, its RunApproved handled twice (a redelivery changes
    nothing), then read back."""
    async with team.pool.acquire() as conn, conn.transaction():
        await runs.approve(conn, run_id)
    approved = RunApproved(team_id=team.team_id, run_id=str(run_id))
    await team.reconciler.on_run_approved(approved)
    await team.reconciler.on_run_approved(approved)
    return dict(
        await team.pool.fetchrow("SELECT status, counts, summary FROM sync_runs WHERE id = $1", run_id)
    )


async def test_r10_an_approved_run_whose_configuration_is_no_longer_valid_fails_and_removes_nobody(team):
    users = [user(n) for n in range(1, 31)]
    await team.sync(users)
    held = await team.sync(users[:10])
    await team.pool.execute(
        'UPDATE sync_runs SET config = \'{"cadence": "sometimes"}\' WHERE id = $1', held["id"]
    )
    after = await _approved(team, held["id"])
    assert after["status"] == "failed" and await _removed(team) == 0
    error = await team.pool.fetchval("SELECT error FROM sync_runs WHERE id = $1", held["id"])
    assert error.startswith("the run's sync configuration is invalid")


async def _removed(team) -> int:
    return [m["status"] for m in (await team.members()).values()].count("removed")


async def test_r18_dry_run_records_the_plan_and_changes_nothing(team):
    await team.sync(USERS[:3])
    await team.pool.execute("UPDATE members SET card_job_title = 'Chief' WHERE directory_id LIKE '%1'")
    run = await team.sync([*USERS[1:], user(1)], dry_run=True)
    plan = run["plan"]
    assert run["status"] == "succeeded"
    assert sorted(e["email"] for e in plan["create"]) == ["user00004@contoso.com", "user00005@contoso.com"]
    assert plan["update"][0]["changes"] == {"job_title": {"old": "Chief", "new": "Engineer"}}
    assert len(plan["invite"]) == 2 and plan["remove"] == []
    assert len(await team.members()) == 3


async def test_r18_a_dry_run_invites_nobody_while_invites_are_off_and_marks_removals_the_guard_would_hold(
    team,
):
    users = [user(n) for n in range(1, 31)]
    config = {**team.config, "send_invites": False}
    await team.sync(users, config=config)
    run = await team.sync([*users[:10], user(40)], dry_run=True, config=config)
    plan = run["plan"]
    assert run["counts"]["invited"] == 0 and plan["invite"] == [] and len(plan["create"]) == 1
    assert run["counts"]["removed"] == 0 and len(plan["remove"]) == 20
    assert {e["held"] for e in plan["remove"]} == {True}
    run = await team.sync(users[:25], dry_run=True, config=config)
    assert run["counts"]["removed"] == 5 and {e["held"] for e in run["plan"]["remove"]} == {False}


async def test_r3_renamed_group_renames_its_subteam(team):
    await team.sync(USERS)
    await team.sync(USERS, names={GROUP: "Sales EMEA"})
    assert [r[0] for r in await team.pool.fetch("SELECT name FROM subteams")] == ["Sales EMEA"]


async def test_photo_is_stored_then_removed(team):
    run = await team.sync(USERS[:1])

    def photos(*items: FetchedPhoto) -> PhotosFetched:
        return PhotosFetched(
            team_id=team.team_id, run_id=str(run["id"]), attempt="a", seq=0, photos=list(items)
        )

    photo = FetchedPhoto(
        directory_id=USERS[0].id,
        etag="e1",
        content_type="image/jpeg",
        data_b64=base64.b64encode(b"jpeg").decode(),
    )
    await team.reconciler.on_photos_fetched(photos(photo))
    await team.reconciler.on_photos_fetched(photos(photo))
    assert bytes(await team.pool.fetchval("SELECT data FROM member_photos")) == b"jpeg"
    gone = photo.model_copy(update={"content_type": None, "data_b64": None})
    await team.reconciler.on_photos_fetched(photos(gone))
    assert await team.pool.fetchval("SELECT count(*) FROM member_photos") == 0


async def test_r4_a_changed_upn_moves_the_login_unless_another_account_has_it(team):
    await team.sync(USERS)
    await team.pool.execute("INSERT INTO accounts (email, name) VALUES ('taken@contoso.com', 'Someone else')")
    run = await team.sync(
        [
            user(1, userPrincipalName="Renamed@contoso.com"),
            user(2, userPrincipalName="taken@contoso.com"),
            *USERS[2:],
        ]
    )
    assert run["counts"]["updated"] == 1 and run["counts"]["created"] == 0
    members = await team.members()
    assert members["00000000-0000-4000-8000-000000000001"]["login_email"] == "Renamed@contoso.com"
    assert members["00000000-0000-4000-8000-000000000002"]["login_email"] == "u00002@contoso.onmicrosoft.com"
    assert [e["directory_id"] for e in run["member_errors"]] == ["00000000-0000-4000-8000-000000000002"]
    assert "belongs to another account" in run["member_errors"][0]["message"]
    again = await team.sync([user(1, userPrincipalName="Renamed@contoso.com"), *USERS[1:]])
    assert again["counts"]["unchanged"] == 5


async def test_r3_a_user_two_groups_list_is_one_member_in_both_subteams(team):
    parent = "0c6d5e4f-0000-4000-8000-000000000002"
    config = {"groups": [{"id": GROUP, "display_name": "Sales"}, {"id": parent, "display_name": "Everyone"}]}
    bad = user(9, mail="not an email", userPrincipalName=None)
    run = await team.sync({GROUP: [*USERS, bad], parent: [*USERS[:3], bad]}, config=config, page_size=2)
    assert run["counts"]["created"] == 5 and run["counts"]["skipped"] == 1
    assert [e["directory_id"] for e in run["member_errors"]] == [bad.id]
    places = await team.pool.fetch(
        "SELECT m.directory_id, array_agg(s.directory_group_id ORDER BY s.directory_group_id) AS groups"
        " FROM subteam_members sm JOIN members m ON m.id = sm.member_id JOIN subteams s ON s.id = "
        "sm.subteam_id"
        " WHERE m.team_id = $1 GROUP BY m.directory_id",
        team.team_id,
    )
    assert {r["directory_id"]: r["groups"] for r in places} == {
        u.id: sorted([GROUP, parent]) if n < 3 else [GROUP] for n, u in enumerate(USERS)
    }
    members = await team.members()
    assert {m["card_email"] for m in members.values()} == {f"user{n:05d}@contoso.com" for n in range(1, 6)}
    again = await team.sync({GROUP: USERS, parent: USERS[:3]}, config=config, page_size=2)
    assert again["counts"]["unchanged"] == 5


REHIRED = "00000000-0000-4000-8000-000000000099"


async def test_r4_a_rehire_under_a_new_object_id_takes_over_the_member_of_its_email(team):
    # The old object id is gone from the full snapshot: the new one with the same email is matched by email to
    # the member, which is bound to it in place (no new member, no skip, no removal).
    await team.sync(USERS)
    old = (await team.members())[USERS[4].id]
    run = await team.sync([*USERS[:4], user(5, id=REHIRED, jobTitle="Returning")])
    assert run["member_errors"] == []
    assert (run["counts"]["created"], run["counts"]["updated"], run["counts"]["removed"]) == (0, 1, 0)
    members = await team.members()
    assert USERS[4].id not in members and members[REHIRED]["id"] == old["id"]
    assert members[REHIRED]["card_job_title"] == "Returning"


async def test_r4_a_rehire_on_a_delta_run_is_proposed_as_a_merge_with_the_removed_member_of_its_email(team):
    # The admin decides whether it is the same person (test_reconciler_merges.py).
    await team.sync(USERS)
    old = (await team.members())[USERS[4].id]
    await team.sync(USERS[:4])
    run = await team.sync([user(5, id=REHIRED)], mode="delta")
    assert run["counts"]["created"] == 0 and run["counts"]["skipped"] == 1
    assert [e["directory_id"] for e in run["member_errors"]] == [REHIRED]
    assert "proposed to the admin as a merge" in run["member_errors"][0]["message"]
    assert REHIRED not in await team.members()
    merge = await team.pool.fetchrow(
        "SELECT member_id, status FROM member_merges WHERE run_id = $1", run["id"]
    )
    assert (merge["member_id"], merge["status"]) == (old["id"], "proposed")


async def test_r4_a_taken_login_is_reported_on_the_user_whose_login_it_is(team):
    # A rehire takes over the member of its email, disabled, and so removes it; the login it cannot move to is
    # its own, and the error names it, not the member's old user.
    await team.sync(USERS)
    await team.pool.execute("INSERT INTO accounts (email, name) VALUES ('taken@contoso.com', 'Someone else')")
    login = USERS[4].properties["userPrincipalName"]
    rehired = user(5, id=REHIRED, mail=login, userPrincipalName="taken@contoso.com", accountEnabled=False)
    run = await team.sync([*USERS[:4], rehired])
    assert run["counts"]["removed"] == 1
    assert [e["directory_id"] for e in run["member_errors"]] == [REHIRED]


async def test_r4_a_new_object_id_with_the_email_of_a_listed_member_is_skipped(team):
    # The old object id is still in the directory (listed, with another login now): the member stays its own.
    await team.sync(USERS)
    moved = "moved@contoso.onmicrosoft.com"
    run = await team.sync(
        [
            *USERS[:4],
            user(5, userPrincipalName=moved),
            user(6, id=REHIRED, userPrincipalName="u00005@contoso.onmicrosoft.com"),
        ]
    )
    assert run["counts"]["created"] == 0 and run["counts"]["skipped"] == 1
    assert run["member_errors"][0]["directory_id"] == REHIRED
    assert (await team.members())[USERS[4].id]["login_email"] == moved


async def _digests(team, run_id) -> list[str]:
    rows = await team.pool.fetch("SELECT body FROM outbox WHERE routing_key = 'notify.digest' ORDER BY id")
    return [
        m.kind + (" approved" if m.approved else "")
        for m in (AdminDigestRequested.from_bytes(r[0]) for r in rows)
        if m.run_id == str(run_id)
    ]


async def test_r16_a_held_run_that_also_added_members_asks_for_one_email_and_its_approval_for_another(team):
    users = [user(n) for n in range(1, 31)]
    await team.sync(users)
    run = await team.sync([*users[:10], user(40)])
    assert run["status"] == "held" and run["counts"]["created"] == 1
    assert await _digests(team, run["id"]) == ["held"]  # it lists who joined as well as the held removals
    await _approved(team, run["id"])
    assert await _digests(team, run["id"]) == ["held", "summary approved"]


async def test_r4_a_team_member_with_the_users_login_comes_before_an_outside_account_with_its_mail(team):
    # The mail matches an account outside the team, the login a hand-made member's account: the user binds the
    # team's member (no second member for one person), as the plain-value model decides.
    await team.pool.execute("INSERT INTO accounts (email, name) VALUES ('user00001@contoso.com', 'Outside')")
    own = await team.pool.fetchval(
        "INSERT INTO accounts (email, name) VALUES ('u00001@contoso.onmicrosoft.com', 'Own') RETURNING id"
    )
    hand = await team.pool.fetchval(
        "INSERT INTO members (team_id, account_id, status) VALUES ($1, $2, 'active') RETURNING id",
        team.team_id,
        own,
    )
    run = await team.sync(USERS[:1])
    assert run["counts"]["created"] == 0 and run["counts"]["updated"] == 1
    members = await team.members()
    assert len(members) == 1 and members[USERS[0].id]["id"] == hand


async def test_r9_a_listed_user_the_fetch_could_not_read_is_reported_and_keeps_its_member(team):
    await team.sync(USERS)
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: USERS[:4]})
    why = "the directory returned no properties"
    done = done.model_copy(
        update={"skipped": [{"id": USERS[4].id, "reason": why}, {"id": "", "reason": "no id"}]}
    )
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done)
    run = await team.pool.fetchrow(
        "SELECT status, counts, member_errors FROM sync_runs WHERE id = $1", run_id
    )
    assert run["status"] == "succeeded"
    assert (run["counts"]["removed"], run["counts"]["skipped"], run["counts"]["unchanged"]) == (0, 2, 4)
    assert sorted((e["directory_id"], e["message"]) for e in run["member_errors"]) == [
        ("", "no id"),
        (USERS[4].id, why),
    ]
    assert (await team.members())[USERS[4].id]["status"] == "invited"


async def test_r4_a_user_deleted_and_made_again_in_one_delta_round_keeps_the_member(team):
    # One delta names the old object id gone and brings the new one with the same login: the new one takes the
    # member over in this run (no removal of it, no skip), as the plain-value model decides.
    await team.sync(USERS)
    old = (await team.members())[USERS[4].id]
    run_id = await team.new_run()
    pages, done = team.messages(run_id, {GROUP: [user(5, id=REHIRED)]}, mode="delta")
    gone = MembersFetched(
        team_id=team.team_id,
        run_id=run_id,
        seq=len(pages),
        group_id=None,
        users=[],
        removed_ids=[USERS[4].id],
    )
    done = done.model_copy(update={"pages": len(pages) + 1})
    for page in [*pages, gone]:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done)
    run = await team.pool.fetchrow(
        "SELECT status, counts, member_errors FROM sync_runs WHERE id = $1", run_id
    )
    assert run["status"] == "succeeded" and run["member_errors"] == []
    assert (run["counts"]["created"], run["counts"]["removed"], run["counts"]["updated"]) == (0, 0, 1)
    back = (await team.members())[REHIRED]
    assert back["id"] == old["id"] and back["status"] == "invited"


async def test_r4_a_user_made_again_in_one_delta_round_takes_the_member_with_its_own_groups(team):
    config = {"groups": [{"id": GROUP, "display_name": "Sales"}, {"id": OTHER_GROUP, "display_name": "EMEA"}]}
    await team.sync({GROUP: USERS, OTHER_GROUP: USERS[4:]}, config=config, names={OTHER_GROUP: "EMEA"})
    old = (await team.members())[USERS[4].id]
    run_id = await team.new_run(config=config)
    pages, done = team.messages(run_id, {GROUP: [user(5, id=REHIRED)]}, mode="delta")
    gone = MembersFetched(
        team_id=team.team_id,
        run_id=run_id,
        seq=len(pages),
        group_id=None,
        users=[],
        removed_ids=[USERS[4].id],
    )
    for page in [*pages, gone]:
        await team.reconciler.on_members_fetched(page)
    await team.reconciler.on_snapshot_completed(done.model_copy(update={"pages": len(pages) + 1}))
    places = await team.pool.fetch(
        "SELECT s.directory_group_id FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id"
        " WHERE sm.member_id = $1",
        old["id"],
    )
    assert [p[0] for p in places] == [GROUP]  # the new user is in Sales only; the old one's EMEA place goes
