"""POST /invites/send: pending, failed and expired invites go out again, each once, an expired one with a new
link."""

from __future__ import annotations

import uuid

import pytest

from services.notifier.bootstrap import handler_map
from services.notifier.handlers import Notifier
from services.notifier.smtp import SmtpTransport
from shared.messages import InviteRequested, PendingInvitesRequested
from shared.outbox import relay_once
from tests.fixtures.api import make_team
from tests.fixtures.workers import start_consumer
from tests.integration.test_notifier import claim_link, invite, make_member, wait_until


async def deliver_requests(pool, notifier: Notifier) -> None:
    """The send requests the API wrote to the outbox, handled by the notifier as the relay would bring
    them."""
    rows = await pool.fetch(
        "UPDATE outbox SET published_at = now() WHERE routing_key = $1 AND published_at IS NULL RETURNING "
        "body",
        PendingInvitesRequested.routing_key,
    )
    for row in rows:
        await notifier.on_pending_invites_requested(PendingInvitesRequested.from_bytes(bytes(row["body"])))


@pytest.fixture
async def notifier(pool, mail_settings):
    transport = SmtpTransport(mail_settings)
    yield Notifier(pool, mail_settings, transport, retry_for=5, max_backoff=0.2)
    await transport.close()


async def test_send_resends_pending_failed_and_expired_invites_once(
    api, operator, pool, bus, notifier, smtp_server, claim_client
):
    team = await make_team(api, operator)
    tid = team["id"]
    members = {
        name: await make_member(pool, tid, f"{name}@contoso.com")
        for name in ("expired", "failed", "live", "claimed")
    }
    members["pending"] = await make_member(pool, tid, "pending@contoso.com", invite="pending")
    members["queued"] = await make_member(pool, tid, "queued@contoso.com", invite="queued")
    members["left"] = await make_member(pool, tid, "left@contoso.com", invite="failed", status="removed")
    smtp_server.reject("failed@contoso.com")
    for name in ("expired", "failed", "live", "claimed"):
        await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=members[name]))
    old_link = claim_link(smtp_server.to("expired@contoso.com")[0])
    claimed = await claim_client.post(f"/invites/{claim_link(smtp_server.to('claimed@contoso.com')[0])}")
    assert claimed.status == 200
    await pool.execute(
        "UPDATE invites SET expires_at = now() - interval '1 minute' WHERE member_id = $1", members["expired"]
    )
    assert (await invite(pool, members["failed"]))["status"] == "failed"
    smtp_server.handler.rejected.clear()  # the admin had the address fixed
    before = len(smtp_server.received)

    resp = await api.post(f"/api/v1/teams/{tid}/invites/send", headers=team["headers"])
    assert resp.status == 202 and await resp.json() == {"queued": 3}
    await deliver_requests(pool, notifier)
    again = await api.post(f"/api/v1/teams/{tid}/invites/send", headers=team["headers"])
    assert await again.json() == {"queued": 0}  # already on their way
    await notifier.on_pending_invites_requested(PendingInvitesRequested(team_id=tid))  # a redelivery
    await start_consumer("notifier", handler_map(notifier), notifier.settings, pool, bus)
    assert await relay_once(pool, bus) == 1  # one message for the three
    await smtp_server.wait_for(before + 3)
    resent = [members[n] for n in ("expired", "failed", "pending")]
    await wait_until(
        lambda: pool.fetchval(
            "SELECT count(*) = 3 FROM invites WHERE status = 'sent' AND member_id = ANY($1::uuid[])", resent
        )
    )
    assert sorted(r.to for r in smtp_server.received[before:]) == [
        "expired@contoso.com",
        "failed@contoso.com",
        "pending@contoso.com",
    ]

    # The expired invite's old link is dead; its new one works and runs for the whole validity again.
    new_link = claim_link(smtp_server.to("expired@contoso.com")[1])
    assert (await claim_client.get(f"/invites/{old_link}")).status == 404
    assert await pool.fetchval(
        "SELECT expires_at > now() + interval '29 days' FROM invites WHERE member_id = $1", members["expired"]
    )
    assert (await claim_client.post(f"/invites/{new_link}")).status == 200
    rounds = dict(await pool.fetch("SELECT member_id::text, round FROM invites"))
    assert [rounds[members[n]] for n in ("expired", "failed", "pending", "live")] == [1, 1, 0, 0]
    keys = {r[0]: r[1] for r in await pool.fetch("SELECT key, state FROM sent_emails")}
    assert keys[f"invite:{members['expired']}:1"] == "sent" and keys[f"invite:{members['expired']}"] == "sent"
    assert keys[f"invite:{members['failed']}"] == "failed" and keys[f"invite:{members['failed']}:1"] == "sent"

    # A late redelivery of the first round's message sends nothing more.
    await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=members["failed"]))
    assert len(smtp_server.to("failed@contoso.com")) == 1
    last = await api.post(f"/api/v1/teams/{tid}/invites/send", headers=team["headers"])
    assert await last.json() == {"queued": 0}  # sent with a live link, claimed, or gone


async def test_r11_an_invite_its_member_left_before_it_went_waits_pending_for_a_return(
    api, operator, pool, bus, notifier, smtp_server
):
    team = await make_team(api, operator)
    tid = team["id"]
    jane = await make_member(
        pool, tid, "jane@contoso.com", status="removed"
    )  # removed while the email waited
    await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=jane))
    assert smtp_server.received == [] and (await invite(pool, jane))["status"] == "pending"
    await pool.execute("UPDATE members SET status = 'invited' WHERE id = $1", jane)  # she is back
    resp = await api.post(f"/api/v1/teams/{tid}/invites/send", headers=team["headers"])
    assert await resp.json() == {"queued": 1}
    await deliver_requests(pool, notifier)
    await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=jane))
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]


async def test_r11_an_invite_queued_an_hour_ago_and_never_sent_is_queued_again_and_goes_once(
    api, operator, pool, notifier, smtp_server
):
    team = await make_team(api, operator)
    tid = team["id"]
    lost = await make_member(pool, tid, "lost@contoso.com")  # queued; its message dead-lettered
    waiting = await make_member(
        pool, tid, "waiting@contoso.com"
    )  # queued a minute ago: its message is on its way
    await pool.execute(
        "UPDATE invites SET updated_at = now() - interval '61 minutes' WHERE member_id = $1", lost
    )
    resp = await api.post(f"/api/v1/teams/{tid}/invites/send", headers=team["headers"])
    assert await resp.json() == {"queued": 1}
    await deliver_requests(pool, notifier)
    assert (await invite(pool, lost))["round"] == 0
    for _ in range(2):  # the new message, and the first one turning up after all
        await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=lost))
    assert [r.to for r in smtp_server.received] == ["lost@contoso.com"]
    assert (await invite(pool, waiting))["status"] == "queued"


async def test_one_members_invite_is_sent_again_with_a_new_link_and_audited(
    api, operator, pool, notifier, smtp_server, claim_client
):
    team = await make_team(api, operator)
    tid = team["id"]
    live = await make_member(pool, tid, "live@contoso.com")
    other = await make_member(pool, tid, "other@contoso.com", invite="pending")
    claimed = await make_member(pool, tid, "claimed@contoso.com")
    for member in (live, claimed):
        await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=member))
    old_link = claim_link(smtp_server.to("live@contoso.com")[0])
    assert (await claim_client.post(f"/invites/{claim_link(smtp_server.to('claimed@contoso.com')[0])}")).ok

    resp = await api.post(f"/api/v1/teams/{tid}/members/{live}/invite", headers=team["headers"])
    assert resp.status == 202 and await resp.json() == {"queued": 1}
    await deliver_requests(pool, notifier)
    assert await pool.fetchval("SELECT status FROM invites WHERE member_id = $1", other) == "pending"
    await notifier.on_invite_requested(InviteRequested(team_id=tid, member_id=live))
    assert len(smtp_server.to("live@contoso.com")) == 2 and not smtp_server.to("other@contoso.com")
    new_link = claim_link(smtp_server.to("live@contoso.com")[1])
    assert (await claim_client.get(f"/invites/{old_link}")).status == 404
    assert (await claim_client.get(f"/invites/{new_link}")).status == 200
    actions = await pool.fetch("SELECT action, details FROM audit_log WHERE action = 'member.invite'")
    assert [a["details"]["member_id"] for a in actions] == [live]

    refused = await api.post(f"/api/v1/teams/{tid}/members/{claimed}/invite", headers=team["headers"])
    assert refused.status == 409 and "claimed" in (await refused.json())["detail"]
    missing = await api.post(f"/api/v1/teams/{tid}/members/{uuid.uuid4()}/invite", headers=team["headers"])
    assert missing.status == 404
