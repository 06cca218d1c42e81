"""The basic sync: a full snapshot creates members with their cards, links, subteams and invites."""

from __future__ import annotations

from tests.fixtures.reconciler import GROUP, user


async def test_full_snapshot_creates_members_links_subteams_invites(team):
    run = await team.sync([user(1), user(2, displayName=None, mobilePhone=None, businessPhones=["+1 1"])])
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"] == {"created": 2, "invited": 2, "updated": 0, "unchanged": 0, "removed": 0,
                             "deleted": 0, "skipped": 0}
    members = await team.members()
    one = members["00000000-0000-4000-8000-000000000001"]
    assert (one["card_name"], one["card_email"], one["login_email"]) == (
        "User 00001", "user00001@contoso.com", "u00001@contoso.onmicrosoft.com")
    assert one["card_location"] == "1 Main St, Redmond, WA, 98052, US"
    assert (one["status"], one["managed"]) == ("invited", True)
    assert await team.links(one["id"]) == {"email": "mailto:user00001@contoso.com", "phone": "tel:+14255550001"}
    two = members["00000000-0000-4000-8000-000000000002"]
    assert (two["card_name"], two["card_phone"]) == ("User 00002", "+1 1")
    subteam = await team.pool.fetchrow("SELECT id, name FROM subteams WHERE directory_group_id = $1", GROUP)
    assert subteam["name"] == "Sales"
    assert await team.pool.fetchval("SELECT count(*) FROM subteam_members WHERE subteam_id = $1", subteam["id"]) == 2
    assert await team.pool.fetchval("SELECT count(*) FROM invites WHERE status = 'queued'") == 2
    keys = [r[0] for r in await team.pool.fetch("SELECT routing_key FROM outbox ORDER BY id")]
    assert keys == ["notify.invite", "notify.invite", "notify.digest"]
    assert run["summary"]["added"] == [{"name": "User 00001", "email": "user00001@contoso.com"},
                                       {"name": "User 00002", "email": "user00002@contoso.com"}] or len(
        run["summary"]["added"]) == 2
    assert await team.pool.fetchval("SELECT count(*) FROM snapshot_users") == 0
