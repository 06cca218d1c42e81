"""The addition guard, R10's counterpart for new members, end to end: a run that would add too many people
holds them and their invites, applies everything else, and an approval adds them; a later run supersedes the
hold; the configuration refuses a bad guard."""

from __future__ import annotations

from tests.e2e.helpers import connect_team, invites, small_tenant, text, user_ids, wait_mails

GUARD = {"max_count": 10, "max_percent": 50}


async def test_a_first_sync_adding_too_many_is_held_until_approved(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 30)
    team = await connect_team(stack_api, tenant, addition_guard=GUARD)
    preview = await team.sync(dry_run=True)
    assert preview["counts"]["created"] == 0
    assert len(preview["plan"]["create"]) == 30 and all(e["held"] for e in preview["plan"]["create"])

    run = await team.sync(expect="held")
    assert run["counts"]["created"] == run["counts"]["invited"] == 0
    assert await team.by_directory() == {}
    [held] = await wait_mails(mail_sink, 1, subject="waiting for your approval")
    assert "30 new members are waiting" in str(held["Subject"])
    assert "Held new members (no invite sent yet) (30)" in text(held)
    assert invites(mail_sink) == []

    approved = await team.call("POST", f"/sync/runs/{run['id']}/approve")
    assert approved["status"] == "reconciling"
    done = await team.wait(run["id"])
    assert done["status"] == "succeeded"
    assert done["counts"]["created"] == 30 and done["counts"]["invited"] == 30
    members = await team.by_directory()
    assert set(members) == set(user_ids(tenant))
    assert all([s["name"] for s in m["subteams"]] == ["Staff"] for m in members.values())
    await wait_mails(mail_sink, 30, subject="You're invited")
    await team.call("POST", f"/sync/runs/{run['id']}/approve", expect=409)


async def test_a_later_run_supersedes_held_additions(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 30)
    team = await connect_team(stack_api, tenant, addition_guard=GUARD)
    await team.sync(expect="held")
    await team.configure(addition_guard={"max_count": 5000, "max_percent": 100})
    later = await team.sync()
    assert later["counts"]["created"] == 30
    runs = (await team.call("GET", "/sync/runs"))["runs"]
    first = runs[-1]
    assert first["status"] == "held"
    approved = await team.call("POST", f"/sync/runs/{first['id']}/approve")
    done = await team.wait(approved["id"])
    assert done["status"] == "succeeded" and done["counts"]["created"] == 0
    assert len(await team.by_directory()) == 30


async def test_a_few_additions_pass_and_a_bad_guard_is_refused(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 30)
    team = await connect_team(stack_api, tenant, addition_guard=GUARD)
    ids = user_ids(tenant)
    for uid in ids[10:]:  # 10 users: not more than max_count
        tenant.remove_member(next(iter(tenant.groups)), uid)
    run = await team.sync()
    assert run["counts"]["created"] == 10
    for uid in ids[10:]:
        tenant.add_member(next(iter(tenant.groups)), uid)
    run = await team.sync(expect="held")  # 20 more: above 10 and above 50 % of 10 members
    assert run["counts"]["created"] == 0 and len(await team.by_directory()) == 10

    body = await team.configure(addition_guard={"max_count": -1, "max_percent": "many"}, expect=422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("addition_guard", "max_count"),
        ("addition_guard", "max_percent"),
    }
