"""R4 identity: an existing account is claimed, never duplicated; a changed mail or UPN updates in place."""

from __future__ import annotations

from tests.e2e.helpers import (
    connect_team,
    invites,
    link_values,
    mails,
    small_tenant,
    user_ids,
    wait_mails,
)


async def test_an_existing_account_is_claimed_and_invited(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    uid = user_ids(tenant)[2]
    email = tenant.users[uid]["mail"]
    async with stack_api.post("api/v1/accounts", json={"email": email.upper(), "name": "Own Card"}) as resp:
        assert resp.status == 201, await resp.text()
        account = await resp.json()

    team = await connect_team(stack_api, tenant)
    run = await team.sync()
    assert run["counts"]["created"] == 20 and run["counts"]["invited"] == 20
    member = (await team.by_directory())[uid]
    assert member["account_id"] == account["id"]
    assert member["status"] == "invited" and member["managed"]
    async with stack_api.post("api/v1/accounts", json={"email": email, "name": "Again"}) as resp:
        assert resp.status == 409, await resp.text()
    await wait_mails(mail_sink, 20, subject="You're invited")
    assert len(mails(mail_sink, to=email)) == 1


async def test_a_changed_mail_updates_the_member_in_place(simulator, stack, stack_api, mail_sink):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    await wait_mails(mail_sink, 20, subject="You're invited")
    uid = user_ids(tenant)[5]
    before = (await team.by_directory_once_invited())[uid]
    new_mail = f"new.five@{tenant.domain}"
    tenant.update_user(uid, mail=new_mail)

    run = await team.sync()
    assert run["counts"]["created"] == 0 and run["counts"]["invited"] == 0 and run["counts"]["updated"] == 1
    after = await team.by_directory()
    assert len(after) == 20
    assert after[uid]["id"] == before["id"] and after[uid]["account_id"] == before["account_id"]
    assert after[uid]["card"]["email"] == new_mail
    assert link_values(after[uid])["email"] == [f"mailto:{new_mail}"]
    assert after[uid]["invite"] == before["invite"]
    assert len(invites(mail_sink)) == 20 and not mails(mail_sink, to=new_mail)


async def test_a_changed_upn_updates_the_login_email_in_place(simulator, stack, stack_api):
    tenant = small_tenant(simulator, 20)
    team = await connect_team(stack_api, tenant)
    await team.sync()
    uid = user_ids(tenant)[6]
    before = (await team.by_directory())[uid]
    new_upn = f"renamed.six@{tenant.domain}"
    tenant.update_user(uid, userPrincipalName=new_upn)

    run = await team.sync()
    assert run["counts"]["created"] == 0 and run["counts"]["invited"] == 0
    after = await team.by_directory()
    assert len(after) == 20
    assert after[uid]["id"] == before["id"] and after[uid]["account_id"] == before["account_id"]
    assert after[uid]["login_email"] == new_upn
