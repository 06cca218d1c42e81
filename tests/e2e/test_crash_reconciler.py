"""A reconciler killed with SIGKILL in the middle of applying a 20,000-member snapshot: once it is back, the
run completes with exactly the right members, none twice."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import connect_team, small_tenant, until

pytestmark = pytest.mark.slow

USERS = 20_000


async def test_reconciler_killed_mid_apply_completes_the_run_exactly_once(simulator, stack, stack_api):
    tenant = small_tenant(simulator, USERS)
    # a first sync of 20,000 is more than the addition guard lets through unapproved
    team = await connect_team(
        stack_api, tenant, send_invites=False, addition_guard={"max_count": USERS, "max_percent": 100}
    )
    run = await team.start()
    run = await until(
        lambda: team.run(run["id"]),
        lambda r: r["status"] not in ("queued", "fetching"),
        timeout=180,
        every=0.02,
    )
    assert run["status"] == "reconciling", run

    stack.kill("reconciler")
    assert (await team.run(run["id"]))["status"] == "reconciling"
    assert not [m for m in await team.members() if m["managed"]]  # the apply is one transaction
    stack.start("reconciler")
    await stack.wait_healthy()

    run = await team.wait(run["id"], timeout=300)
    assert run["status"] == "succeeded", run
    assert run["counts"]["created"] == USERS and run["counts"]["skipped"] == 0
    members = [m for m in await team.members() if m["managed"]]
    assert len(members) == USERS
    assert {m["directory_id"] for m in members} == set(tenant.users)
    assert len({m["login_email"].lower() for m in members}) == USERS
    assert {m["status"] for m in members} == {"invited"}
    assert {m["invite"]["status"] for m in members} == {"pending"}
    subteams = (await team.call("GET", "/subteams"))["subteams"]
    assert [(s["name"], s["member_count"]) for s in subteams] == [("Staff", USERS)]
