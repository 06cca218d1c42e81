"""R2 scope rules end to end: the configuration takes them (and names a bad one), a dry run lists whom they
leave out, a run syncs only the users in scope (Graph answering the filter), and a user who leaves the scope
is removed as one who left the groups, on a full and on a delta run, under the removal guard (R9, R10)."""

from __future__ import annotations

from tests.e2e.helpers import connect_team, small_tenant, user_ids

MEMBERS_ONLY = {"include": [{"attribute": "userType", "op": "eq", "value": "Member"}], "exclude": []}


async def test_a_bad_scope_rule_is_a_422_naming_it(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 2)
    team = await connect_team(stack_api, tenant)
    bad = {
        "include": [
            {"attribute": "userType", "op": "eq", "value": "Member"},
            {"attribute": "userType", "op": "startswith", "value": "Gu"},
        ],
        "exclude": [
            {"attribute": "jobTitle", "op": "eq", "value": "x"},
            {"attribute": "department", "op": "in", "value": "Sales"},
            {"attribute": "accountEnabled", "op": "eq", "value": "yes"},
            {"attribute": "companyName", "op": "eq", "value": "a", "extra": 1},
            {"attribute": "department", "op": "in", "values": []},
            {"attribute": "department", "op": "like", "value": "S%"},
        ],
    }
    body = await team.configure(scope=bad, expect=422)
    where = {tuple(e["loc"]) for e in body["errors"]}
    assert ("scope", "include", 1) in where
    assert {("scope", "exclude", i) for i in (0, 1, 2)} <= where
    assert any(loc[:3] == ("scope", "exclude", 3) for loc in where)  # extra field
    assert any(loc[:3] == ("scope", "exclude", 4) for loc in where)  # empty list
    assert any(loc[:3] == ("scope", "exclude", 5) for loc in where)  # unknown operator
    assert ("scope", "include", 0) not in where
    messages = " ".join(e["msg"] for e in body["errors"])
    assert "startswith is not one of them" in messages and "unknown attribute 'jobTitle'" in messages
    assert (await team.call("GET", "/sync/config"))["scope"] == {"include": [], "exclude": []}


async def test_rules_leave_users_out_and_a_dry_run_lists_them(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 12)
    ids = user_ids(tenant)
    for uid in ids:
        tenant.update_user(uid, userType="Member")
    for uid in ids[:3]:
        tenant.update_user(uid, userType="Guest")
    tenant.update_user(ids[4], userPrincipalName="contractor4@" + tenant.domain)
    tenant.update_user(ids[5], onPremisesExtensionAttributes={"extensionAttribute3": "NoSync"})
    scope = {
        "include": [{"attribute": "userType", "op": "in", "values": ["member"]}],
        "exclude": [
            {"attribute": "userPrincipalName", "op": "matches", "value": "contractor*@*"},  # after the read
            {"attribute": "onPremisesExtensionAttributes.extensionAttribute3", "op": "eq", "value": "nosync"},
            {"attribute": "department", "op": "eq", "value": "Dept 0"},  # users 0, 3, 6, 9
        ],
    }
    team = await connect_team(stack_api, tenant, scope=scope)
    assert (await team.call("GET", "/sync/config"))["scope"]["exclude"][0]["op"] == "matches"
    plan = (await team.sync(dry_run=True))["plan"]
    out = {e["directory_id"]: e["rule"] for e in plan["exclude"]}
    assert plan["exclude_count"] == len(out) == 8
    assert out[ids[0]].startswith("include[0]: userType in ['member']")
    assert out[ids[3]] == "exclude[2]: department eq 'Dept 0'"
    assert out[ids[4]] == "exclude[0]: userPrincipalName matches 'contractor*@*'"
    assert out[ids[5]].startswith("exclude[1]: onPremisesExtensionAttributes.extensionAttribute3")
    kept = set(ids) - set(out)
    assert {c["directory_id"] for c in plan["create"]} == kept
    assert await team.by_directory() == {}

    run = await team.sync()
    assert run["counts"]["created"] == len(kept) == 4
    assert set(await team.by_directory()) == kept


async def test_a_user_leaving_the_scope_is_removed_and_the_guard_holds_many(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 12)
    ids = user_ids(tenant)
    for uid in ids:
        tenant.update_user(uid, userType="Member")
    team = await connect_team(stack_api, tenant, scope=MEMBERS_ONLY)
    await team.sync()
    await team.sync()  # the second run has delta state: the next ones read only what changed

    tenant.update_user(ids[7], userType="Guest")  # leaves the scope: a delta round brings it
    run = await team.sync()
    assert run["counts"]["removed"] == 1
    members = await team.by_directory()
    assert members[ids[7]]["status"] == "removed" and members[ids[7]]["subteams"] == []

    tenant.update_user(ids[7], userType="Member")  # back in scope: the same member returns
    run = await team.sync()
    assert run["counts"]["created"] == 0
    back = (await team.by_directory())[ids[7]]
    assert back["id"] == members[ids[7]]["id"] and back["status"] != "removed"

    # A new rule leaves out a third of the team: more than the guard lets go without an approval.
    scope = {**MEMBERS_ONLY, "exclude": [{"attribute": "department", "op": "eq", "value": "Dept 1"}]}
    await team.configure(scope=scope, removal_guard={"max_percent": 20, "min_count": 2})
    held = await team.sync(expect="held")
    assert held["counts"]["removed"] == 0
    assert all(m["status"] != "removed" for m in (await team.by_directory()).values())
    await team.call("POST", f"/sync/runs/{held['id']}/approve")
    done = await team.wait(held["id"])
    assert done["status"] == "succeeded" and done["counts"]["removed"] == 4
    gone = {uid for uid, m in (await team.by_directory()).items() if m["status"] == "removed"}
    assert gone == {ids[1], ids[4], ids[7], ids[10]}
