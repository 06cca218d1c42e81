"""The basic sync: a full snapshot creates members with their cards, links, subteams and invites."""

from __future__ import annotations

from services.reconciler.handlers import Reconciler
from tests.fixtures.reconciler import GROUP, OTHER_GROUP, user


async def test_full_snapshot_creates_members_links_subteams_invites(team):
    run = await team.sync([user(1), user(2, displayName=None, mobilePhone=None, businessPhones=["+1 1"])])
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"] == {
        "created": 2,
        "invited": 2,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "deleted": 0,
        "skipped": 0,
    }
    members = await team.members()
    one = members["00000000-0000-4000-8000-000000000001"]
    assert (one["card_name"], one["card_email"], one["login_email"]) == (
        "User 00001",
        "user00001@contoso.com",
        "u00001@contoso.onmicrosoft.com",
    )
    assert one["card_location"] == "1 Main St, Redmond, WA, 98052, US"
    assert (one["status"], one["managed"]) == ("invited", True)
    assert await team.links(one["id"]) == {
        "email": "mailto:user00001@contoso.com",
        "phone": "tel:+14255550001",
    }
    two = members["00000000-0000-4000-8000-000000000002"]
    assert (two["card_name"], two["card_phone"]) == ("User 00002", "+1 1")
    subteam = await team.pool.fetchrow("SELECT id, name FROM subteams WHERE directory_group_id = $1", GROUP)
    assert subteam["name"] == "Sales"
    assert (
        await team.pool.fetchval("SELECT count(*) FROM subteam_members WHERE subteam_id = $1", subteam["id"])
        == 2
    )
    assert await team.pool.fetchval("SELECT count(*) FROM invites WHERE status = 'queued'") == 2
    keys = [r[0] for r in await team.pool.fetch("SELECT routing_key FROM outbox ORDER BY id")]
    assert keys == ["notify.invites", "run.applied", "notify.digest"]
    assert sorted(await team.invited()) == sorted(str(m["id"]) for m in members.values())
    assert run["summary"] == {
        "added": [
            {"name": "User 00001", "email": "user00001@contoso.com"},
            {"name": "User 00002", "email": "user00002@contoso.com"},
        ],
        "removed": [],
        "held": [],
        "totals": {"added": 2, "removed": 0, "held": 0},
    }
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_users") == 0
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_listings") == 0


async def test_users_listed_again_stage_by_id_in_one_row_per_page_and_join_every_group(team):
    config = {"groups": [{"id": GROUP, "display_name": "Sales"}, {"id": OTHER_GROUP, "display_name": "EMEA"}]}
    users = [user(n) for n in range(1, 6)]
    run_id = await team.new_run(config=config)
    pages, done = team.messages(run_id, {GROUP: users, OTHER_GROUP: users[1:4]}, page_size=3)
    for page in pages:
        await team.reconciler.on_members_fetched(page)
    staged = await team.pool.fetch(
        "SELECT seq, ids FROM snapshot_listings WHERE run_id = $1 ORDER BY seq", run_id
    )
    assert [(r["seq"], sorted(r["ids"])) for r in staged] == [(2, [u.id for u in users[1:4]])]
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_users WHERE run_id = $1", run_id) == 5
    await team.reconciler.on_snapshot_completed(done)
    run = await team.pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert (run["status"], run["counts"]["created"]) == ("succeeded", 5)
    places = await team.pool.fetch(
        "SELECT m.directory_id, count(*) FROM subteam_members sm JOIN members m ON m.id = sm.member_id"
        " WHERE m.team_id = $1 GROUP BY 1",
        team.team_id,
    )
    assert {r[0]: r[1] for r in places} == {u.id: 2 if u in users[1:4] else 1 for u in users}
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_listings") == 0


async def test_a_user_two_replicas_mapped_is_gathered_once(team):
    other = Reconciler(team.pool, team.reconciler.settings)  # a second replica: its own hint of mapped users
    config = {"groups": [{"id": GROUP, "display_name": "Sales"}, {"id": OTHER_GROUP, "display_name": "EMEA"}]}
    users = [user(n) for n in range(1, 5)]
    run_id = await team.new_run(config=config)
    pages, done = team.messages(run_id, {GROUP: users, OTHER_GROUP: users})
    await team.reconciler.on_members_fetched(pages[0])
    await other.on_members_fetched(pages[1])
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_users WHERE run_id = $1", run_id) == 8
    await team.reconciler.on_snapshot_completed(done)
    run = await team.pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert (run["status"], run["counts"]["created"]) == ("succeeded", 4)
    assert await team.pool.fetchval("SELECT count(*) FROM subteam_members") == 8


async def test_r4_a_user_two_replicas_read_differently_keeps_the_keys_of_the_card_it_takes(team):
    # The user's mail changed between the two groups' pages: each replica staged the read it had. Whichever
    # card the run takes, the email it matches accounts by is that card's: the outside account of the other
    # read's email is claimed only with the card that carries that email.
    outside = await team.pool.fetchval(
        "INSERT INTO accounts (email, name) VALUES ('amy@contoso.com', 'Amy') RETURNING id"
    )
    other = Reconciler(team.pool, team.reconciler.settings)
    config = {"groups": [{"id": GROUP, "display_name": "Sales"}, {"id": OTHER_GROUP, "display_name": "EMEA"}]}
    run_id = await team.new_run(config=config)
    first = user(1, mail="zed@contoso.com", userPrincipalName="zed@contoso.com", jobTitle="Engineer")
    second = user(1, mail="amy@contoso.com", userPrincipalName="amy@contoso.com", jobTitle="Manager")
    pages, done = team.messages(run_id, {GROUP: [first], OTHER_GROUP: [second]})
    await team.reconciler.on_members_fetched(pages[0])
    await other.on_members_fetched(pages[1])
    await team.reconciler.on_snapshot_completed(done)
    run = await team.pool.fetchrow("SELECT status, counts FROM sync_runs WHERE id = $1", run_id)
    assert (run["status"], run["counts"]["created"]) == ("succeeded", 1)
    member = (await team.members())["00000000-0000-4000-8000-000000000001"]
    took_second = member["card_email"] == "amy@contoso.com"
    assert member["card_job_title"] == ("Manager" if took_second else "Engineer")
    assert (member["account_id"] == outside) is took_second
    assert member["login_email"] == member["card_email"]
