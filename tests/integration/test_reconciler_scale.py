"""A 20,000-member snapshot applies completely and correctly, and templates take the synced links (R13)."""

from __future__ import annotations

import pytest

from shared.card_templates import apply_template
from shared.messages import INVITE_BATCH, InvitesRequested
from tests.fixtures.reconciler import user


@pytest.mark.slow
async def test_20000_member_snapshot_applies(team):
    # A first sync this large is held by the addition guard's default: let it through.
    config = {**team.config, "addition_guard": {"max_count": 100_000}}
    run = await team.sync([user(n) for n in range(20_000)], config=config)
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"]["created"] == 20_000 and run["counts"]["invited"] == 20_000
    totals = await team.pool.fetchrow(
        "SELECT (SELECT count(*) FROM members) AS members, (SELECT count(DISTINCT directory_id) FROM "
        "members) AS ids,"
        " (SELECT count(*) FROM links) AS links, (SELECT count(*) FROM subteam_members) AS places"
    )
    assert dict(totals) == {"members": 20_000, "ids": 20_000, "links": 40_000, "places": 20_000}
    # Every new member is invited once, a batch of at most INVITE_BATCH a message, each under its own id.
    outbox = await team.pool.fetch("SELECT message_id, body FROM outbox WHERE routing_key = 'notify.invites'")
    messages = [InvitesRequested.from_bytes(r["body"]) for r in outbox]
    assert [m.message_id for m in messages] == [r["message_id"] for r in outbox]
    assert len({m.message_id for m in messages}) == len(messages) == 20_000 // INVITE_BATCH
    invited = [i for m in messages for i in m.member_ids]
    assert len(invited) == 20_000
    assert set(invited) == {str(r["id"]) for r in await team.pool.fetch("SELECT id FROM members")}
    assert {(m.team_id, m.run_id) for m in messages} == {(str(team.team_id), str(run["id"]))}


async def test_r13_template_takes_synced_email_and_phone_without_duplicates(team):
    await team.sync([user(1)])
    member = (await team.members())["00000000-0000-4000-8000-000000000001"]
    template = await team.pool.fetchval(
        "INSERT INTO templates (team_id, name) VALUES ($1, 'Sales') RETURNING id", team.team_id
    )
    await team.pool.execute(
        "INSERT INTO template_links (template_id, position, type, label) VALUES ($1, 0, 'url', 'Site'),"
        " ($1, 1, 'email', 'Mail me'), ($1, 2, 'phone', 'Call me')",
        template,
    )
    async with team.pool.acquire() as conn, conn.transaction():
        await apply_template(conn, member["id"], template)
        await apply_template(conn, member["id"], template)
    rows = await team.pool.fetch(
        "SELECT type, label, value, source, template_link_id IS NOT NULL AS from_template FROM links"
        " WHERE member_id = $1 ORDER BY position",
        member["id"],
    )
    assert [(r["label"], r["value"], r["source"], r["from_template"]) for r in rows] == [
        ("Site", "", None, True),
        ("Mail me", "mailto:user00001@contoso.com", "email", True),
        ("Call me", "tel:+14255550001", "phone", True),
    ]
    await team.sync([user(1, mail="new@contoso.com")])
    assert (await team.links(member["id"]))["email"] == "mailto:new@contoso.com"
    assert await team.pool.fetchval("SELECT count(*) FROM links WHERE member_id = $1", member["id"]) == 3
