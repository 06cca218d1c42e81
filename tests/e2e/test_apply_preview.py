"""R18's approvable preview, end to end: POST …/runs/{id}/apply applies exactly the plan a dry run showed,
and only that plan; a stale, reused or outdated preview is a 409 saying why, and a run whose directory moved
since the preview fails, saying what moved, and applies nothing."""

from __future__ import annotations

from tests.e2e.helpers import connect_team, small_tenant, user_ids


async def test_a_preview_is_applied_as_it_was_planned(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 8)
    team = await connect_team(stack_api, tenant)
    preview = await team.sync(dry_run=True)
    assert len(preview["plan"]["create"]) == 8

    run = await team.call("POST", f"/sync/runs/{preview['id']}/apply", expect=202)
    assert run["applies_run"] == preview["id"] and run["dry_run"] is False
    done = await team.wait(run["id"])
    assert done["status"] == "succeeded", done
    assert done["counts"]["created"] == 8
    assert set(await team.by_directory()) == set(user_ids(tenant))

    again = await team.call("POST", f"/sync/runs/{preview['id']}/apply", expect=409)
    assert "already" in again["detail"]
    real = await team.call("POST", f"/sync/runs/{run['id']}/apply", expect=409)
    assert "not a preview" in real["detail"]
    await team.call("POST", "/sync/runs/00000000-0000-4000-8000-000000000000/apply", expect=404)
    await team.call("POST", "/sync/runs/not-a-run/apply", expect=404)


async def test_a_preview_outdated_by_the_directory_or_the_team_is_not_applied(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 8)
    team = await connect_team(stack_api, tenant)
    ids = user_ids(tenant)
    await team.sync()
    preview = await team.sync(dry_run=True)
    assert preview["plan"]["update"] == []

    tenant.update_user(ids[3], jobTitle="Moved On")  # the directory moves after the preview
    tenant.remove_member(next(iter(tenant.groups)), ids[5])
    run = await team.call("POST", f"/sync/runs/{preview['id']}/apply", expect=202)
    failed = await team.wait(run["id"])
    assert failed["status"] == "failed"
    assert "the directory changed since the preview" in failed["error"]
    assert "update now also" in failed["error"] and "remove now also" in failed["error"]
    members = await team.by_directory()
    assert members[ids[5]]["status"] != "removed"  # nothing applied
    assert members[ids[3]]["card"]["job_title"] == "Title 3"

    # A run that changed the team since, and a configuration saved since, make a preview outdated.
    second = await team.sync(dry_run=True)
    await team.sync()
    body = await team.call("POST", f"/sync/runs/{second['id']}/apply", expect=409)
    assert "changed the team since the preview" in body["detail"]
    third = await team.sync(dry_run=True)
    await team.configure(send_invites=False)
    body = await team.call("POST", f"/sync/runs/{third['id']}/apply", expect=409)
    assert "configuration changed since the preview (send_invites)" in body["detail"]


async def test_only_a_fresh_succeeded_preview_is_applied(simulator, stack, stack_api, pool):
    tenant = small_tenant(simulator, 3)
    team = await connect_team(stack_api, tenant)
    preview = await team.sync(dry_run=True)
    await pool.execute(
        "UPDATE sync_runs SET finished_at = now() - interval '25 hours' WHERE id = $1", preview["id"]
    )
    body = await team.call("POST", f"/sync/runs/{preview['id']}/apply", expect=409)
    assert "25 hours old" in body["detail"]
