"""Near-real-time sync end to end: the simulated Graph notifies the API of directory changes, and the four
services bring them to the cards within a minute, with nobody pressing Sync Now."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.helpers import (
    ADMIN,
    CLIENT_ID,
    connect_team,
    digests,
    group_id,
    small_tenant,
    until,
    user_ids,
    wait_mails,
)

WITHIN = 60.0  # seconds


@pytest.fixture
def stack_env(stack_env):
    # The simulated Graph runs on this machine: the API's own address reaches it, plain http on loopback.
    return {
        **stack_env,
        "CARDSYNC_NOTIFICATION_URL": stack_env["CARDSYNC_PUBLIC_URL"],
        "CARDSYNC_NOTIFICATION_WINDOW": "1",
    }


async def test_a_leaver_and_a_new_title_reach_the_cards_within_a_minute(
    simulator, stack, stack_api, mail_sink
):
    tenant = small_tenant(simulator, 20)
    tenant.grant(CLIENT_ID, "Group.Read.All")  # what Graph asks of an app subscribing to groups
    team = await connect_team(stack_api, tenant, realtime=True)
    await team.sync()  # the first read, by hand; what follows comes by itself

    async def status():
        return (await team.call("GET", "/sync/config"))["realtime_status"]

    await until(status, lambda s: s["state"] == "on", WITHIN)
    await wait_mails(mail_sink, 1, to=ADMIN)  # the first run's digest
    leaver, promoted = user_ids(tenant)[1], user_ids(tenant)[2]
    members = await team.by_directory()
    loop = asyncio.get_running_loop()
    started = loop.time()

    tenant.remove_member(group_id(tenant, "Staff"), leaver)
    tenant.update_user(promoted, jobTitle="Chief Listener")

    gone = await until(lambda: team.member(members[leaver]["id"]), lambda m: m["status"] == "removed", WITHIN)
    card = await until(
        lambda: team.member(members[promoted]["id"]),
        lambda m: m["card"]["job_title"] == "Chief Listener",
        WITHIN,
    )
    assert loop.time() - started < WITHIN
    assert gone["subteams"] == [] and card["status"] != "removed"
    runs = (await team.call("GET", "/sync/runs"))["runs"]
    assert {r["trigger"] for r in runs[:-1]} == {"notification"} and runs[-1]["trigger"] == "manual"
    assert all(r["requested_by"] == "a change notification" for r in runs[:-1])
    digests_after_changes = len(await wait_mails(mail_sink, 2, to=ADMIN))

    # A change the team does not sync still notifies, and its run finds nothing: no email says so.
    before = len(runs)
    tenant.update_user(promoted, faxNumber="+1 555 0100")
    runs = await until(
        lambda: team.call("GET", "/sync/runs"),
        lambda found: len(found["runs"]) > before and found["runs"][0]["status"] == "succeeded",
        WITHIN,
    )
    quiet = runs["runs"][0]
    assert quiet["trigger"] == "notification"
    assert {k: quiet["counts"][k] for k in ("created", "updated", "removed", "deleted")} == dict.fromkeys(
        ("created", "updated", "removed", "deleted"), 0
    )
    await asyncio.sleep(3)  # a digest would have been sent by now
    assert len(digests(mail_sink)) == digests_after_changes
