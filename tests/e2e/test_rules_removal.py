"""R9 removal (soft, return, hard) and R10 removal guard, end to end through the control API."""

from __future__ import annotations

from tests.e2e.helpers import (
    ADMIN,
    connect_team,
    group_id,
    mails,
    small_tenant,
    text,
    until,
    user_ids,
    wait_mails,
)


async def test_soft_removal_keeps_the_card_and_a_return_reactivates_the_same_member(
    simulator, stack, stack_api, mail_sink
):
    tenant = small_tenant(simulator, 20, groups=("Staff", "Sales"))
    staff, sales = group_id(tenant, "Staff"), group_id(tenant, "Sales")
    team = await connect_team(stack_api, tenant, groups=("Staff", "Sales"))
    await team.sync()
    leaver = user_ids(tenant)[1]  # in Staff and Sales
    email = tenant.users[leaver]["mail"]
    before = (await team.by_directory())[leaver]
    assert {s["name"] for s in before["subteams"]} == {"Staff", "Sales"}
    await wait_mails(mail_sink, 1, to=email)

    tenant.remove_member(staff, leaver)
    tenant.remove_member(sales, leaver)
    run = await team.sync()
    assert run["counts"]["removed"] == 1 and run["counts"]["deleted"] == 0
    gone = await team.member(before["id"])
    assert gone["status"] == "removed"
    assert gone["subscription_active"] is False
    assert gone["subteams"] == []
    assert gone["card"] == before["card"]
    assert gone["links"] == before["links"]
    assert gone["account_id"] == before["account_id"]
    subteams = {s["name"]: s["member_count"] for s in (await team.call("GET", "/subteams"))["subteams"]}
    assert subteams == {"Staff": 19, "Sales": 9}

    tenant.add_member(staff, leaver)
    run = await team.sync()
    assert run["counts"]["created"] == 0 and run["counts"]["invited"] == 0
    back = await team.member(before["id"])
    assert back["status"] == before["status"]
    assert back["subscription_active"] is True
    assert [s["name"] for s in back["subteams"]] == ["Staff"]
    assert back["account_id"] == before["account_id"]
    members = await team.by_directory()
    assert len(members) == 20 and members[leaver]["id"] == before["id"]
    await until(lambda: _digest_count(mail_sink), lambda n: n >= 3)  # joined, left, joined again
    assert len(mails(mail_sink, to=email)) == 1


async def _digest_count(sink):
    return len(mails(sink, to=ADMIN))


async def test_hard_removal_deletes_the_member_and_its_account(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant, delete_on_removal=True)
    await team.sync()
    leaver = user_ids(tenant)[3]
    member = (await team.by_directory())[leaver]

    tenant.remove_member(group_id(tenant, "Staff"), leaver)
    run = await team.sync()
    assert run["counts"]["deleted"] == 1 and run["counts"]["removed"] == 0
    await team.call("GET", f"/members/{member['id']}", expect=404)
    members = await team.by_directory()
    assert leaver not in members and len(members) == 19
    subteams = (await team.call("GET", "/subteams"))["subteams"]
    assert [s["member_count"] for s in subteams] == [19]
    # The account went too: its email is free for a new account.
    async with stack_api.post("api/v1/accounts", json={"email": member["login_email"], "name": "x"}) as resp:
        assert resp.status == 201, await resp.text()


async def test_removal_guard_holds_removals_until_approved(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 50)
    staff = group_id(tenant, "Staff")
    team = await connect_team(stack_api, tenant)
    first = await team.sync()
    await team.call("POST", f"/sync/runs/{first['id']}/approve", expect=409)
    ids = user_ids(tenant)
    leavers, changed = ids[:12], ids[20]  # 12 of 50: more than 20 % and more than 10
    for uid in leavers:
        tenant.remove_member(staff, uid)
    tenant.update_user(changed, jobTitle="Chief Tester")

    run = await team.sync(expect="held")
    assert run["counts"]["removed"] == 0 and run["counts"]["updated"] == 1
    members = await team.by_directory()
    assert all(members[uid]["status"] == "invited" for uid in ids)
    assert members[changed]["card"]["job_title"] == "Chief Tester"
    held_mail = (await wait_mails(mail_sink, 1, to=ADMIN, subject="waiting for your approval"))[0]
    body = text(held_mail)
    for uid in leavers:
        assert tenant.users[uid]["mail"] in body

    approved = await team.call("POST", f"/sync/runs/{run['id']}/approve")
    assert approved["status"] == "reconciling"  # out of held at once; the reconciler applies the removals
    approved = await team.wait(run["id"])
    assert approved["status"] == "succeeded" and approved["counts"]["removed"] == len(leavers)
    members = await team.by_directory()
    assert {uid for uid, m in members.items() if m["status"] == "removed"} == set(leavers)
    assert all(not members[uid]["subteams"] and not members[uid]["subscription_active"] for uid in leavers)
    await team.call("POST", f"/sync/runs/{run['id']}/approve", expect=409)


async def test_a_disabled_user_enabled_again_comes_back_with_all_its_groups_on_a_delta_run(
    simulator, stack, stack_api
):
    # R2 and R9 on the delta path: disabling removes the member; enabling the account again changes only the
    # user's record (no group changes), and the member comes back, in every subteam it belongs in.
    tenant = small_tenant(simulator, 20, groups=("Staff", "Sales"))
    team = await connect_team(stack_api, tenant, groups=("Staff", "Sales"))
    await team.sync()
    user = user_ids(tenant)[1]  # in Staff and Sales
    before = (await team.by_directory())[user]

    tenant.update_user(user, accountEnabled=False)
    run = await team.sync()
    assert run["counts"]["removed"] == 1
    assert (await team.member(before["id"]))["status"] == "removed"

    tenant.update_user(user, accountEnabled=True)
    run = await team.sync()
    assert run["counts"]["created"] == 0 and run["counts"]["updated"] == 1
    back = await team.member(before["id"])
    assert back["status"] == before["status"] and back["subscription_active"] is True
    assert sorted(s["name"] for s in back["subteams"]) == ["Sales", "Staff"]
