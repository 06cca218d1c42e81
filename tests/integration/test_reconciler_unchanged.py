"""The gathering counts unchanged members without the rules; whatever it lets through, the rules decide. These
runs check that it lets through every member that needs a change (custom fields, mapped links, roles, platform
edits) and nothing else is written."""

from __future__ import annotations

from services.reconciler.model import GLOBAL_ADMIN, GROUPS_ADMIN
from shared.messages import MembersFetched
from tests.fixtures.reconciler import GROUP, user

CONFIG = {
    "groups": [{"id": GROUP, "display_name": "Sales"}],
    "custom_mappings": [
        {"source": "department", "target": {"kind": "field", "name": "Department"}},
        {"source": "officeLocation", "target": {"kind": "link", "type": "text", "label": "Desk"}},
    ],
}
USERS = [user(n, department=f"Dept {n}", officeLocation=None if n == 5 else f"B{n}") for n in range(1, 6)]


async def _xmins(team) -> dict:
    return dict(await team.pool.fetch("SELECT id, xmin::text FROM members WHERE team_id = $1", team.team_id))


async def test_custom_fields_and_mapped_links_unchanged_then_platform_edits_restored(team):
    await team.sync(USERS, config=CONFIG)
    before = await _xmins(team)
    run = await team.sync(USERS, config=CONFIG)
    assert (run["counts"]["unchanged"], run["counts"]["updated"]) == (5, 0)
    assert await _xmins(team) == before
    members = await team.members()
    ids = [members[u.id]["id"] for u in USERS]
    await team.pool.execute("UPDATE members SET card_fields = '{\"Department\": 42}' WHERE id = $1", ids[0])
    await team.pool.execute("DELETE FROM links WHERE member_id = $1 AND source = 'email'", ids[1])
    await team.pool.execute(
        "UPDATE links SET value = 'B9' WHERE member_id = $1 AND source = 'mapping:Desk'", ids[2]
    )
    await team.pool.execute("UPDATE members SET card_fields = '{}' WHERE id = $1", ids[3])
    run = await team.sync(USERS, config=CONFIG)
    assert (run["counts"]["unchanged"], run["counts"]["updated"]) == (1, 4)
    members = await team.members()
    assert [members[u.id]["card_fields"]["Department"] for u in USERS[:4]] == [
        f"Dept {n}" for n in range(1, 5)
    ]
    assert (await team.links(ids[1]))["email"] == "mailto:user00002@contoso.com"
    assert (await team.links(ids[2]))["mapping:Desk"] == "B3"


async def test_r12_roles_given_once_and_taken_back(team):
    config = {**CONFIG, "use_admin_roles": True}
    await team.sync(USERS, config=config)
    run = await team.sync(USERS, config=config, roles={GLOBAL_ADMIN: [USERS[0].id]})
    assert (run["counts"]["unchanged"], run["counts"]["updated"]) == (4, 1)
    run = await team.sync(USERS, config=config, roles={GLOBAL_ADMIN: [USERS[0].id]})
    assert run["counts"]["unchanged"] == 5
    run = await team.sync(USERS, config=config)
    assert (run["counts"]["unchanged"], run["counts"]["updated"]) == (4, 1)
    assert {m["role"] for m in (await team.members()).values()} == {"member"}


async def test_r12_a_delta_run_changes_the_roles_of_members_it_does_not_list(team):
    # The directory roles are read whole every run, the users only when their records change: a role given or
    # taken in the directory reaches the member on the next delta run, and no other member is written.
    config = {**CONFIG, "use_admin_roles": True}
    ids = [u.id for u in USERS]
    await team.sync(USERS, config=config, roles={GLOBAL_ADMIN: [ids[0]], GROUPS_ADMIN: [ids[1]]})
    before = await _xmins(team)
    place = (
        "SELECT sm.role FROM subteam_members sm JOIN members m ON m.id = sm.member_id"
        " WHERE m.directory_id = $1"
    )
    assert await team.pool.fetchval(place, ids[1]) == "admin"

    run = await team.sync({}, config=config, mode="delta", roles={GLOBAL_ADMIN: [ids[2]], GROUPS_ADMIN: []})
    assert run["status"] == "succeeded" and run["counts"]["updated"] == 3
    members = await team.members()
    assert {d: members[d]["role"] for d in ids[:3]} == {ids[0]: "member", ids[1]: "member", ids[2]: "admin"}
    places = dict(
        await team.pool.fetch(
            "SELECT m.directory_id, sm.role FROM subteam_members sm JOIN members m ON m.id = sm.member_id"
        )
    )
    assert set(places.values()) == {"member"}
    after = await _xmins(team)
    assert {d for d, m in members.items() if after[m["id"]] != before[m["id"]]} == set(ids[:3]) - {ids[1]}

    run = await team.sync({}, config=config, mode="delta", roles={GLOBAL_ADMIN: [ids[2]], GROUPS_ADMIN: []})
    assert run["counts"]["updated"] == 0 and await _xmins(team) == after


async def test_disabled_user_and_group_change_are_not_unchanged(team):
    second = "0c6d5e4f-0000-4000-8000-000000000002"
    config = {**CONFIG, "groups": [*CONFIG["groups"], {"id": second, "display_name": "Ops"}]}
    await team.sync({GROUP: USERS, second: USERS[:1]}, config=config)
    run = await team.sync(
        {
            GROUP: [*USERS[:4], user(5, department="Dept 5", officeLocation=None, accountEnabled=False)],
            second: [],
        },
        config=config,
        names={second: "Ops"},
    )
    assert (run["counts"]["unchanged"], run["counts"]["updated"], run["counts"]["removed"]) == (3, 1, 1)


async def test_r17_a_delta_run_counts_every_member_it_left_as_it_was_as_a_full_read_does(team):
    await team.sync(USERS, config=CONFIG)
    changed = user(1, department="Dept 1", officeLocation="B1", jobTitle="Lead")
    joiner = user(6, department="Dept 6", officeLocation="B6")

    async def delta(listed, left: list[str], dry_run: bool = False) -> dict:
        run_id = await team.new_run(dry_run, CONFIG)
        pages, done = team.messages(run_id, {GROUP: listed}, mode="delta")
        pages.append(
            MembersFetched(
                team_id=team.team_id,
                run_id=run_id,
                seq=len(pages),
                group_id=GROUP,
                users=[],
                removed_ids=left,
            )
        )
        for page in pages:
            await team.reconciler.on_members_fetched(page)
        await team.reconciler.on_snapshot_completed(done.model_copy(update={"pages": len(pages)}))
        return dict(await team.pool.fetchrow("SELECT counts FROM sync_runs WHERE id = $1", run_id))["counts"]

    keys = ("created", "updated", "removed", "unchanged")
    preview = await delta([changed, joiner], [USERS[4].id], dry_run=True)
    counts = await delta([changed, joiner], [USERS[4].id])
    assert tuple(counts[k] for k in keys) == tuple(preview[k] for k in keys) == (1, 1, 1, 3)
    # A member a run brings back was not in the team it found: it is updated, and the rest unchanged.
    back = await delta([USERS[4]], [], dry_run=True)
    assert tuple(back[k] for k in keys) == (0, 1, 0, 5)
    # With nothing changed, a delta run and a full read of the same team count it alike.
    quiet = await delta([], [])
    full = (await team.sync([changed, *USERS[1:4], joiner], config=CONFIG))["counts"]
    assert tuple(quiet[k] for k in keys) == tuple(full[k] for k in keys) == (0, 0, 0, 5)
