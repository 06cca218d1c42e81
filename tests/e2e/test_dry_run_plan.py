"""R18 through the API: a dry run's plan has exactly the shape api.md gives it, subteam moves included."""

from __future__ import annotations

from tests.e2e.helpers import connect_team, group_id, small_tenant, user_ids

PLAN_LISTS = {"create", "update", "remove", "invite", "roles"}


async def test_dry_run_plan_keeps_changes_to_old_and_new(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 6, groups=("Staff", "Sales"))
    team = await connect_team(stack_api, tenant, groups=("Staff", "Sales"))
    await team.sync()
    ids, staff, sales = user_ids(tenant), group_id(tenant, "Staff"), group_id(tenant, "Sales")
    before = await team.by_directory_once_invited()
    tenant.add_member(sales, ids[2])  # joins a subteam, nothing else
    tenant.remove_member(sales, ids[1])  # leaves one, and its title changes too
    tenant.update_user(ids[1], jobTitle="New Title")

    plan = (await team.sync(dry_run=True))["plan"]
    assert set(plan) == PLAN_LISTS
    updates = {u["member_id"]: u for u in plan["update"]}
    assert updates == {
        before[ids[1]]["id"]: {
            "member_id": before[ids[1]]["id"],
            "changes": {"job_title": {"old": "Title 1", "new": "New Title"}},
            "subteams": {"join": [], "leave": [sales]},
        },
        before[ids[2]]["id"]: {
            "member_id": before[ids[2]]["id"],
            "changes": {},
            "subteams": {"join": [sales], "leave": []},
        },
    }
    assert plan["create"] == plan["remove"] == plan["invite"] == []
    assert staff not in str(plan)
    assert await team.by_directory() == before  # a dry run changes nothing
