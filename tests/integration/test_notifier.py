"""Invites against a real SMTP server, Postgres and RabbitMQ: once each, through outages, refusals and
claims."""

from __future__ import annotations

import asyncio
import re
import ssl
import uuid
from datetime import UTC, datetime

import pytest
import trustme
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from services.notifier.bootstrap import handler_map
from services.notifier.handlers import Notifier
from services.notifier.mime import compose
from services.notifier.pending import send_pending_invites
from services.notifier.render import Card, Person, render_invite
from services.notifier.smtp import SmtpTransport, TemporaryMailError
from shared.errors import Permanent
from shared.messages import InviteRequested, InvitesRequested
from shared.outbox import relay_once
from tests.fixtures.smtp import start_sink
from tests.fixtures.workers import start_consumer


async def make_team(pool, name: str = "Contoso") -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO teams (name, token_hash) VALUES ($1, $2) RETURNING id", name, uuid.uuid4().hex
        )
    )


async def make_member(
    pool,
    team_id: str,
    email: str,
    *,
    invite: str | None = "queued",
    status: str = "invited",
    name: str = "Jane Doe",
) -> str:
    account = await pool.fetchval(
        "INSERT INTO accounts (email, name) VALUES ($1, $2) RETURNING id", email, name
    )
    member = await pool.fetchval(
        "INSERT INTO members (team_id, account_id, directory_id, managed, status, card_name, card_job_title,"
        " card_company, card_phone) VALUES ($1, $2, $3, true, $4, $5, 'VP of Sales', 'Contoso', '+1 425 555 "
        "0101')"
        " RETURNING id",
        team_id,
        account,
        f"dir-{email}",
        status,
        name,
    )
    if invite:
        await pool.execute("INSERT INTO invites (member_id, status) VALUES ($1, $2)", member, invite)
    return str(member)


async def invite(pool, member_id: str):
    return await pool.fetchrow("SELECT * FROM invites WHERE member_id = $1", member_id)


def claim_link(received) -> str:
    return re.search(r"https?://\S+/invites/(\S+)", received.message.get_body(("plain",)).get_content())[1]


@pytest.fixture
async def transport(mail_settings):
    t = SmtpTransport(mail_settings)
    yield t
    await t.close()


@pytest.fixture
def notifier(pool, mail_settings, transport):
    return Notifier(pool, mail_settings, transport, retry_for=30, max_backoff=1)


async def wait_until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def test_invite_is_sent_once_with_its_token_stored(pool, notifier, smtp_server):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    msg = InviteRequested(team_id=team, member_id=member)
    await notifier.on_invite_requested(msg)
    await notifier.on_invite_requested(msg)
    await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member))
    [received] = smtp_server.received
    assert received.to == "jane@contoso.com"
    assert received.message["Subject"] == "You're invited to join Contoso on CardSync"
    row = await invite(pool, member)
    assert row["status"] == "sent" and row["sent_at"] and row["expires_at"] and row["token_hash"]
    assert await pool.fetchval("SELECT count(*) FROM sent_emails WHERE key = $1", f"invite:{member}") == 1


async def test_a_cancelled_handler_finishes_the_email_on_its_way_and_records_it(pool, notifier, smtp_server):
    """The bus cancels the handlers in hand when its connection to the broker goes. An email the server is
    taking goes to its end and is marked sent, so the message delivered again sends nothing and waits for no
    lease."""
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    msg = InviteRequested(team_id=team, member_id=member)
    taking, release = asyncio.Event(), asyncio.Event()
    accept = smtp_server.handler.handle_DATA

    async def slow_data(server, session, envelope):
        taking.set()
        await release.wait()
        return await accept(server, session, envelope)

    smtp_server.handler.handle_DATA = slow_data
    handling = asyncio.ensure_future(notifier.on_invite_requested(msg))
    await asyncio.wait_for(taking.wait(), 10)
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    release.set()
    await asyncio.wait_for(notifier.on_invite_requested(msg), 10)  # the message, delivered again
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]
    assert (await invite(pool, member))["status"] == "sent"


async def test_a_handler_cancelled_while_claiming_leaves_no_claim_behind(pool, notifier, smtp_server):
    """Cancelled while its claim is being committed (in a batch of its own), the handler still sends the
    email: the message delivered again finds it sent rather than wait out a lease."""
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    msg = InviteRequested(team_id=team, member_id=member)
    handling = asyncio.ensure_future(notifier.on_invite_requested(msg))
    await asyncio.sleep(0)
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    await asyncio.wait_for(notifier.on_invite_requested(msg), 10)
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]
    assert (await invite(pool, member))["status"] == "sent"


async def test_r11_an_invite_goes_to_the_card_email_not_a_guests_login(pool, notifier, smtp_server):
    team = await make_team(pool)
    guest = await make_member(pool, team, "jane_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    await pool.execute("UPDATE members SET card_email = 'jane@fabrikam.com' WHERE id = $1", guest)
    await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=guest))
    assert [r.to for r in smtp_server.received] == ["jane@fabrikam.com"]
    assert await pool.fetchval("SELECT recipient FROM sent_emails WHERE key = $1", f"invite:{guest}") == (
        "jane@fabrikam.com"
    )


async def test_an_invite_without_an_invite_row_is_made_and_sent(pool, notifier, smtp_server):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com", invite=None)
    gone = await make_member(pool, team, "gone@contoso.com", invite=None, status="removed")
    for m in (member, gone):
        await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=m))
    other_team = await make_team(pool, "Fabrikam")
    await notifier.on_invite_requested(InviteRequested(team_id=other_team, member_id=member))
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]
    assert (await invite(pool, member))["status"] == "sent" and await invite(pool, gone) is None


async def test_a_batch_invites_each_of_its_members_once(pool, bus, notifier, smtp_server):
    """One message for many members: each is sent once, whatever the message repeats or is delivered again;
    a refused address fails alone, a member gone or of another team is not sent anything."""
    team, other = await make_team(pool), await make_team(pool, "Fabrikam")
    run = str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger) VALUES ($1, 'manual') RETURNING id", team
        )
    )
    members = [await make_member(pool, team, f"user{i}@contoso.com") for i in range(40)]
    bad = await make_member(pool, team, "gone@contoso.com")
    left = await make_member(pool, team, "left@contoso.com", invite=None, status="removed")
    theirs = await make_member(pool, other, "them@fabrikam.com")
    smtp_server.reject("gone@contoso.com")
    batch = InvitesRequested(team_id=team, run_id=run, member_ids=[*members, members[0], bad, left, theirs])
    await start_consumer("notifier", handler_map(notifier), notifier.settings, pool, bus)
    await bus.publish(batch, batch)  # the same message id twice
    await notifier.on_invites_requested(batch)  # and once more, beside them
    await smtp_server.wait_for(40)
    await wait_until(lambda: pool.fetchval("SELECT count(*) = 40 FROM invites WHERE status = 'sent'"))
    assert sorted(r.to for r in smtp_server.received) == sorted(f"user{i}@contoso.com" for i in range(40))
    assert (await invite(pool, bad))["status"] == "failed" and await invite(pool, left) is None
    assert (await invite(pool, theirs))["status"] == "queued"  # not this message's to send
    errors = await pool.fetchval("SELECT member_errors FROM sync_runs WHERE id = $1", run)
    assert [e["directory_id"] for e in errors] == ["dir-gone@contoso.com"]


async def test_a_batch_the_server_refuses_throughout_leaves_its_invites_pending(
    pool, mail_settings, transport, smtp_server
):
    team = await make_team(pool)
    members = [await make_member(pool, team, f"user{i}@contoso.com") for i in range(3)]
    smtp_server.refuse(60)
    notifier = Notifier(pool, mail_settings, transport, retry_for=1, max_backoff=0.2)
    with pytest.raises(Permanent, match="3 of 3 invites were not sent"):
        await notifier.on_invites_requested(InvitesRequested(team_id=team, member_ids=members))
    for member in members:
        row = await invite(pool, member)
        assert row["status"] == "pending" and "4.3.2" in row["error"]
    assert smtp_server.received == []
    assert await pool.fetchval("SELECT count(*) FROM sent_emails") == 0


async def test_redelivered_messages_through_the_bus_send_once(pool, bus, notifier, smtp_server):
    team = await make_team(pool)
    members = [await make_member(pool, team, f"user{i}@contoso.com") for i in range(5)]
    await start_consumer("notifier", handler_map(notifier), notifier.settings, pool, bus)
    messages = [InviteRequested(team_id=team, member_id=m) for m in members]
    await bus.publish(*messages, *messages, *messages)  # the same message ids, three times over
    await smtp_server.wait_for(5)
    await wait_until(lambda: pool.fetchval("SELECT count(*) = 5 FROM invites WHERE status = 'sent'"))
    assert sorted(r.to for r in smtp_server.received) == sorted(f"user{i}@contoso.com" for i in range(5))


async def outage_then_all_once(pool, bus, notifier, smtp_server, seconds: float, code: int, count: int = 6):
    team = await make_team(pool)
    members = [await make_member(pool, team, f"user{i}@contoso.com") for i in range(count)]
    smtp_server.refuse(seconds, code)
    await start_consumer("notifier", handler_map(notifier), notifier.settings, pool, bus)
    await bus.publish(*(InviteRequested(team_id=team, member_id=m) for m in members))
    await smtp_server.wait_for(count, timeout=seconds + 30)
    await wait_until(lambda: pool.fetchval("SELECT count(*) = $1 FROM invites WHERE status = 'sent'", count))
    assert smtp_server.handler.refusals >= count
    assert sorted(r.to for r in smtp_server.received) == sorted(f"user{i}@contoso.com" for i in range(count))


async def test_a_short_outage_delays_invites_and_loses_none(pool, bus, notifier, smtp_server):
    # 421 also closes the connection: the transport has to reconnect.
    await outage_then_all_once(pool, bus, notifier, smtp_server, seconds=3, code=421)


@pytest.mark.slow
async def test_a_30_second_outage_outlasts_the_bus_retries_and_loses_none(
    pool, bus, mail_settings, smtp_server, transport
):
    notifier = Notifier(pool, mail_settings, transport, retry_for=120, max_backoff=4)
    await outage_then_all_once(pool, bus, notifier, smtp_server, seconds=30, code=451)


async def test_an_outage_longer_than_the_retries_leaves_the_invite_pending(
    pool, mail_settings, transport, smtp_server
):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    smtp_server.refuse(60)
    notifier = Notifier(pool, mail_settings, transport, retry_for=1, max_backoff=0.2)
    with pytest.raises(Permanent, match="still failing"):
        await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member))
    row = await invite(pool, member)
    assert row["status"] == "pending" and "4.3.2" in row["error"]
    assert smtp_server.received == []
    assert await pool.fetchval("SELECT count(*) FROM sent_emails") == 0  # released: it can be sent again


async def test_a_refused_recipient_fails_the_invite_and_the_run_says_so(pool, notifier, smtp_server):
    team = await make_team(pool)
    run = str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger) VALUES ($1, 'manual') RETURNING id", team
        )
    )
    bad = await make_member(pool, team, "gone@contoso.com")
    good = await make_member(pool, team, "jane@contoso.com")
    smtp_server.reject("gone@contoso.com")
    for _ in range(2):
        for member in (bad, good):
            await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member, run_id=run))
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]
    row = await invite(pool, bad)
    assert row["status"] == "failed" and "550" in row["error"] and "gone@contoso.com" in row["error"]
    logged = await pool.fetchrow("SELECT state, error FROM sent_emails WHERE key = $1", f"invite:{bad}")
    assert logged["state"] == "failed" and "550" in logged["error"]
    errors = await pool.fetchval("SELECT member_errors FROM sync_runs WHERE id = $1", run)
    assert len(errors) == 1
    assert errors[0]["directory_id"] == "dir-gone@contoso.com" and "550" in errors[0]["message"]


async def test_pending_invites_are_queued_and_sent_on_request(pool, bus, notifier, smtp_server):
    team = await make_team(pool)
    pending = [await make_member(pool, team, f"p{i}@contoso.com", invite="pending") for i in range(3)]
    sent = await make_member(pool, team, "sent@contoso.com", invite="sent")
    await pool.execute("UPDATE invites SET expires_at = now() + interval '1 day' WHERE member_id = $1", sent)
    await make_member(pool, team, "left@contoso.com", invite="pending", status="removed")
    other = await make_team(pool, "Fabrikam")
    await make_member(pool, other, "other@fabrikam.com", invite="pending")
    assert await send_pending_invites(pool, team) == 3
    assert await send_pending_invites(pool, team) == 0
    await start_consumer("notifier", handler_map(notifier), notifier.settings, pool, bus)
    assert await relay_once(pool, bus) == 1  # one message for the three
    await smtp_server.wait_for(3)
    await wait_until(
        lambda: pool.fetchval(
            "SELECT count(*) = 3 FROM invites WHERE status = 'sent' AND member_id = ANY($1::uuid[])", pending
        )
    )
    assert sorted(r.to for r in smtp_server.received) == [
        "p0@contoso.com",
        "p1@contoso.com",
        "p2@contoso.com",
    ]


async def test_the_transport_reuses_one_connection_and_survives_a_drop(mail_settings, transport, smtp_server):
    now = datetime.now(UTC)
    rendered = render_invite("Contoso", Card("Jo"), "https://cards.example/invites/x", now)
    for i in range(10):
        await transport.send(
            compose(rendered, mail_settings.mail_from, Person("Jo", f"jo{i}@contoso.com"), now)
        )
    assert smtp_server.connections == 1
    smtp_server.drop_connections()
    await transport.send(compose(rendered, mail_settings.mail_from, Person("Jo", "after@contoso.com"), now))
    assert smtp_server.connections == 2 and len(smtp_server.received) == 11


async def test_an_unreachable_server_is_a_temporary_error(mail_settings, smtp_server):
    smtp_server.server.close()
    await smtp_server.server.wait_closed()
    transport = SmtpTransport(mail_settings, timeout=2)
    now = datetime.now(UTC)
    message = compose(
        render_invite("C", Card("Jo"), "u", now), "cards@localhost", Person("Jo", "jo@x.com"), now
    )
    with pytest.raises(TemporaryMailError, match="unreachable"):
        await transport.send(message)


async def test_the_claim_link_shows_the_card_and_works_once(pool, notifier, smtp_server, claim_client):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com", name="Jane <b>Doe</b>")
    await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member))
    token = claim_link(smtp_server.received[0])
    page = await claim_client.get(f"/invites/{token}")
    html = await page.text()
    assert page.status == 200 and "Jane &lt;b&gt;Doe&lt;/b&gt;" in html and "VP of Sales" in html
    assert "+1 425 555 0101" in html and "jane@contoso.com" in html and 'method="post"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    claimed = await claim_client.post(f"/invites/{token}", headers={"Accept": "application/json"})
    assert claimed.status == 200 and (await claimed.json())["status"] == "active"
    assert await pool.fetchval("SELECT status FROM members WHERE id = $1", member) == "active"
    assert (await invite(pool, member))["status"] == "claimed"
    again = await claim_client.post(f"/invites/{token}", headers={"Accept": "application/json"})
    assert again.status == 410 and (await again.json())["title"] == "This card has already been claimed"
    assert (await claim_client.get(f"/invites/{token}")).status == 410
    unknown = await claim_client.get("/invites/not-a-token")
    assert unknown.status == 404 and "not valid" in await unknown.text()


async def test_an_expired_claim_link_is_gone(pool, notifier, smtp_server, claim_client):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member))
    token = claim_link(smtp_server.received[0])
    await pool.execute(
        "UPDATE invites SET expires_at = now() - interval '1 second' WHERE member_id = $1", member
    )
    for response in (
        await claim_client.post(f"/invites/{token}"),
        await claim_client.get(f"/invites/{token}"),
    ):
        assert response.status == 410 and "expired" in await response.text()
    assert await pool.fetchval("SELECT status FROM members WHERE id = $1", member) == "invited"


async def test_two_claims_at_once_claim_once(pool, notifier, smtp_server, claim_client):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    await notifier.on_invite_requested(InviteRequested(team_id=team, member_id=member))
    token = claim_link(smtp_server.received[0])
    card = await claim_client.get(f"/invites/{token}", headers={"Accept": "application/json"})
    assert (await card.json())["card"]["job_title"] == "VP of Sales"
    answers = await asyncio.gather(*(claim_client.post(f"/invites/{token}") for _ in range(4)))
    assert sorted(a.status for a in answers) == [200, 410, 410, 410]


async def test_starttls_and_login_when_configured(settings, tmp_path):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    sink = await start_sink(
        tls_context=server_context, require_starttls=True, authenticator=authenticator, auth_require_tls=True
    )
    mail_settings = settings.model_copy(
        update={
            "smtp_port": sink.port,
            "smtp_starttls": True,
            "smtp_username": "cards",
            "smtp_password": SecretStr("s3cret"),
            "ca_file": str(tmp_path / "ca.pem"),
        }
    )
    transport = SmtpTransport(mail_settings)
    now = datetime.now(UTC)
    try:
        for i in range(3):
            await transport.send(
                compose(
                    render_invite("C", Card("Jo"), "u", now),
                    "cards@localhost",
                    Person("Jo", f"jo{i}@x.com"),
                    now,
                )
            )
    finally:
        await transport.close()
        sink.server.close()
    assert len(sink.received) == 3 and sink.connections == 1 and logins == [(b"cards", b"s3cret")]
