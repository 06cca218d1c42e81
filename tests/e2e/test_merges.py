"""R4's continuity on re-hire, end to end through the control API against the four services and the simulated
tenant: a user deleted and made again under a new object id is proposed as a merge; the admin decides."""

from __future__ import annotations

from tests.e2e.helpers import Team, connect_team, group_id, person, small_tenant, user_ids, wait_mails


async def _rehire(tenant, team: Team, i: int) -> tuple[dict, str, dict]:
    """User ``i`` leaves the directory (removed from the team), then is made again under a new object id;
    the old member, the new object id and the merge its run proposed."""
    uid = user_ids(tenant)[i]
    old = (await team.by_directory())[uid]
    tenant.delete_user(uid, permanent=True)
    gone = await team.sync()
    assert gone["counts"]["removed"] == 1
    new = tenant.add_user(**person(tenant, i, jobTitle="Rehired"))
    tenant.add_member(group_id(tenant, "Staff"), new)
    run = await team.sync()
    assert run["counts"]["created"] == 0 and run["counts"]["skipped"] == 1
    assert [e["directory_id"] for e in run["member_errors"]] == [new]
    merges = (await team.call("GET", f"/sync/runs/{run['id']}/merges"))["merges"]
    assert [(m["member_id"], m["old_directory_id"], m["directory_id"], m["status"]) for m in merges] == [
        (old["id"], uid, new, "proposed")
    ]
    assert merges[0]["email"] == old["login_email"].lower() and merges[0]["name"] == old["card"]["name"]
    return old, new, {**merges[0], "run_id": run["id"]}


async def test_an_accepted_merge_brings_the_same_member_back(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 5)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    await wait_mails(mail_sink, 5, subject="You're invited")
    old, new, merge = await _rehire(tenant, team, 2)
    path = f"/sync/runs/{merge['run_id']}/merges/{merge['id']}"
    decided = await team.call("POST", f"{path}/accept", expect=202)
    assert decided["status"] == "accepted" and decided["decision_run_id"]
    run = await team.wait(decided["decision_run_id"])
    assert run["status"] == "succeeded", run
    assert run["counts"]["updated"] == 1 and run["counts"]["created"] == 0
    back = await team.member(old["id"])
    assert back["directory_id"] == new and back["status"] == "invited" and back["subscription_active"]
    assert back["account_id"] == old["account_id"] and back["card"]["job_title"] == "Rehired"
    assert [s["name"] for s in back["subteams"]] == ["Staff"]
    await team.call("POST", f"{path}/reject", expect=409)
    later = await team.sync()
    assert later["counts"]["skipped"] == 0 and later["member_errors"] == []


async def test_a_rejected_merge_makes_a_new_member(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 5)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    await wait_mails(mail_sink, 5, subject="You're invited")
    old, new, merge = await _rehire(tenant, team, 3)
    decided = await team.call("POST", f"/sync/runs/{merge['run_id']}/merges/{merge['id']}/reject", expect=202)
    run = await team.wait(decided["decision_run_id"])
    assert run["status"] == "succeeded", run
    assert run["counts"]["created"] == 1 and run["counts"]["invited"] == 1 and run["counts"]["deleted"] == 1
    await team.call("GET", f"/members/{old['id']}", expect=404)
    member = (await team.by_directory())[new]
    assert member["id"] != old["id"] and member["status"] == "invited"
    await wait_mails(mail_sink, 2, to=old["login_email"], subject="You're invited")  # the new member's
    # the reject itself can be undone: the removed member comes back, the new one goes
    undo = await team.call("POST", f"/sync/runs/{run['id']}/undo", expect=202)
    assert (await team.wait(undo["id"]))["status"] == "succeeded"
    assert (await team.member(old["id"]))["status"] == "removed"
    assert new not in await team.by_directory()
