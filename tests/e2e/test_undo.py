"""Undoing a run, end to end through the control API against the four services and the simulated tenant."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.helpers import (
    Team,
    connect_team,
    group_id,
    invites,
    person,
    small_tenant,
    user_ids,
    wait_mails,
)


async def team_state(team: Team) -> dict[str, Any]:
    """Every member (removed ones too) with its card, links, subteams and roles; and the subteams' counts."""
    members = sorted(await team.members(), key=lambda m: m["id"])
    for member in members:
        member["links"] = sorted(member["links"], key=lambda link: link["id"])
        member["subteams"] = sorted(member["subteams"], key=lambda s: s["id"])
    subteams = sorted((await team.call("GET", "/subteams"))["subteams"], key=lambda s: s["id"])
    return {"members": members, "subteams": subteams}


async def test_undoing_a_churn_run_puts_the_team_back_as_it_was(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20, groups=("Staff", "Sales"))
    staff, sales = group_id(tenant, "Staff"), group_id(tenant, "Sales")
    team = await connect_team(stack_api, tenant, groups=("Staff", "Sales"))
    first = await team.sync()
    await wait_mails(mail_sink, 20, subject="You're invited")
    await team.by_directory_once_invited()
    await team.configure(send_invites=False)  # the churn's new members wait with pending invites
    before = await team_state(team)

    ids = user_ids(tenant)
    tenant.remove_member(staff, ids[1])  # leaves: removed
    tenant.remove_member(sales, ids[1])
    tenant.update_user(ids[2], jobTitle="Chief Tester", mobilePhone="+1 555 999 0002")
    tenant.remove_member(sales, ids[3])  # leaves one subteam
    tenant.add_member(sales, ids[4])  # joins one
    for i in (100, 101):
        tenant.add_member(staff, tenant.add_user(**person(tenant, i)))
    churn = await team.sync()
    assert churn["counts"]["created"] == 2 and churn["counts"]["removed"] == 1
    assert churn["counts"]["updated"] == 3
    assert await team_state(team) != before
    invited = len(invites(mail_sink))

    undo = await team.call("POST", f"/sync/runs/{churn['id']}/undo", expect=202)
    assert undo["status"] == "queued" and undo["trigger"] == "manual" and undo["undoes"] == churn["id"]
    undone = await team.wait(undo["id"])
    assert undone["status"] == "succeeded", undone
    assert undone["counts"] == {
        "created": 0,
        "invited": 0,
        "updated": 4,
        "unchanged": 16,
        "removed": 0,
        "deleted": 2,
        "skipped": 0,
    }
    assert await team_state(team) == before
    assert (await team.run(churn["id"]))["undone_by"] == undo["id"]
    # the members the churn made are gone with their pending invites: none is sent, now or on request
    assert (await team.call("POST", "/invites/send", expect=202))["queued"] == 0
    assert len(invites(mail_sink)) == invited
    audit = await team.call("GET", "/audit?limit=10")
    entries = [e for e in audit["entries"] if e["action"] == "run.undo"]
    assert entries and entries[0]["details"]["run_id"] == churn["id"]

    # once only; an undo is not undone; nor is a run whose members a later run changed
    problem = await team.call("POST", f"/sync/runs/{churn['id']}/undo", expect=409)
    assert "undone already" in problem["detail"]
    await team.call("POST", f"/sync/runs/{undo['id']}/undo", expect=409)
    problem = await team.call("POST", f"/sync/runs/{first['id']}/undo", expect=409)
    assert "a later run" in problem["detail"]
    assert {e["loc"][0] for e in problem["errors"]} == {"members"}


async def test_undo_refuses_what_it_cannot_undo(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 5)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    nothing = await team.sync()  # changed nothing
    dry = await team.sync(dry_run=True)
    problem = await team.call("POST", f"/sync/runs/{nothing['id']}/undo", expect=409)
    assert "changed no member" in problem["detail"]
    problem = await team.call("POST", f"/sync/runs/{dry['id']}/undo", expect=409)
    assert "dry run" in problem["detail"]
    await team.call("POST", f"/sync/runs/{uuid.uuid4()}/undo", expect=404)
    await team.call("POST", "/sync/runs/not-a-run/undo", expect=404)
    tenant.update_user(user_ids(tenant)[0], jobTitle="Boss")
    queued = await team.start()  # a run in progress: not succeeded, and the team is busy
    problem = await team.call("POST", f"/sync/runs/{queued['id']}/undo", expect=409)
    assert "only a succeeded run" in problem["detail"]
    changed = await team.wait(queued["id"])
    assert changed["status"] == "succeeded" and changed["counts"]["updated"] == 1
    undo = await team.call("POST", f"/sync/runs/{changed['id']}/undo", expect=202)
    assert (await team.wait(undo["id"]))["status"] == "succeeded"
    member = (await team.by_directory())[user_ids(tenant)[0]]
    assert member["card"]["job_title"] == "Title 0"
