"""R11 invites off, R16 admin digest, R17 a failed run, R18 dry run: runs and their emails, end to end."""

from __future__ import annotations

import re

from tests.e2e.helpers import (
    ADMIN,
    CLIENT_ID,
    connect_team,
    digests,
    group_id,
    invites,
    person,
    recipient,
    small_tenant,
    text,
    user_ids,
    wait_mails,
)


def _add_user(tenant, i: int) -> str:
    uid = tenant.add_user(**person(tenant, i))
    tenant.add_member(group_id(tenant, "Staff"), uid)
    return uid


async def test_dry_run_plans_and_changes_nothing(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    await wait_mails(mail_sink, 1, to=ADMIN)
    ids = user_ids(tenant)
    joiner = _add_user(tenant, 100)
    tenant.update_user(ids[0], jobTitle="New Title")
    tenant.remove_member(group_id(tenant, "Staff"), ids[1])
    before = await team.by_directory_once_invited()

    run = await team.sync(dry_run=True)
    assert run["dry_run"] is True
    plan = run["plan"]
    assert [c["directory_id"] for c in plan["create"]] == [joiner]
    assert [i["directory_id"] for i in plan["invite"]] == [joiner]
    assert [r["member_id"] for r in plan["remove"]] == [before[ids[1]]["id"]]
    assert [u["member_id"] for u in plan["update"]] == [before[ids[0]]["id"]]
    assert plan["update"][0]["changes"]["job_title"] == {"old": "Title 0", "new": "New Title"}
    assert plan["roles"] == []
    assert await team.by_directory() == before

    applied = await team.sync()  # the real run still sees every change the preview saw
    assert {k: applied["counts"][k] for k in ("created", "invited", "updated", "removed")} == {
        "created": 1,
        "invited": 1,
        "updated": 1,
        "removed": 1,
    }
    await wait_mails(mail_sink, 2, to=ADMIN)
    assert len(digests(mail_sink)) == 2  # none for the dry run


async def test_invites_off_then_sent_on_request_once_each(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant, send_invites=False)
    run = await team.sync()
    assert run["counts"]["created"] == 20 and run["counts"]["invited"] == 0
    await wait_mails(mail_sink, 1, to=ADMIN)  # the digest leaves with the run's other emails
    assert invites(mail_sink) == []
    members = await team.by_directory()
    assert {m["invite"]["status"] for m in members.values()} == {"pending"}

    queued = await team.call("POST", "/invites/send", expect=202)
    assert queued == {"queued": 20}
    sent = await wait_mails(mail_sink, 20, subject="You're invited")
    assert sorted(recipient(m) for m in sent) == sorted(m["card"]["email"].lower() for m in members.values())
    assert await team.call("POST", "/invites/send", expect=202) == {"queued": 0}
    assert all("/invites/" in text(m) for m in sent)
    assert len(invites(mail_sink)) == 20


def _listed(body: str, title: str) -> set[tuple[str, str]]:
    section = re.search(rf"^{title} \(\d+\):\n((?:  - .*\n)+)", body, re.MULTILINE)
    assert section, body
    return set(re.findall(r"^  - (.*) <(.*)>$", section.group(1), re.MULTILINE))


async def test_digest_lists_exactly_the_joiners_and_leavers(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    first = (await wait_mails(mail_sink, 1, to=ADMIN))[0]
    assert len(_listed(text(first), "Joined")) == 20
    ids = user_ids(tenant)
    joiners = [_add_user(tenant, i) for i in (100, 101, 102)]
    leavers = ids[7:9]
    for uid in leavers:
        tenant.remove_member(group_id(tenant, "Staff"), uid)

    await team.sync()
    digest = (await wait_mails(mail_sink, 2, to=ADMIN))[1]
    body = text(digest)
    who = {uid: (tenant.users[uid]["displayName"], tenant.users[uid]["mail"]) for uid in joiners + leavers}
    assert _listed(body, "Joined") == {who[uid] for uid in joiners}
    assert _listed(body, "Left") == {who[uid] for uid in leavers}
    assert digest["Subject"] == "3 people joined and 2 left Contoso on CardSync"
    assert re.search(r"created\s+3$", body, re.MULTILINE) and re.search(r"removed\s+2$", body, re.MULTILINE)


async def test_rotated_secret_fails_the_run_and_removes_nobody(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    leaver = user_ids(tenant)[0]
    tenant.remove_member(group_id(tenant, "Staff"), leaver)
    new_secret = tenant.rotate_secret(CLIENT_ID)
    simulator.tokens.expire_tenant(tenant.tenant_id)  # the token taken with the old secret runs out

    run = await team.sync(expect="failed")
    assert "secret" in run["error"].lower(), run["error"]
    assert run["counts"]["removed"] == 0
    members = await team.by_directory()
    assert len(members) == 20 and {m["status"] for m in members.values()} == {"invited"}
    # The admins hear what failed and what to do, with a link to the run.
    [notice] = await wait_mails(mail_sink, 1, to=ADMIN, subject="the directory sync failed")
    assert "Make a new client secret in the Entra admin center" in text(notice)
    assert f"/runs/{run['id']}" in text(notice)

    await team.call(
        "PUT",
        "/directory",
        json={"tenant_id": tenant.tenant_id, "client_id": CLIENT_ID, "client_secret": new_secret},
    )
    run = await team.sync()
    assert run["counts"]["removed"] == 1
    assert (await team.by_directory())[leaver]["status"] == "removed"
    [fixed] = await wait_mails(mail_sink, 1, to=ADMIN, subject="the directory sync works again")
    assert f"/runs/{run['id']}" in text(fixed)
