"""Two notifier replicas on one database and one queue: every email once, claims that outlive their holder."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from services.notifier.bootstrap import handler_map
from services.notifier.handlers import Notifier
from services.notifier.sentlog import LostClaim, SentLog
from services.notifier.smtp import SmtpTransport
from shared import db
from shared.bus import Bus
from shared.messages import AdminDigestRequested, InviteRequested
from shared.worker import dispatch
from tests.fixtures.infra import AMQP_URL
from tests.fixtures.workers import start_consumer
from tests.integration.test_notifier import invite, make_member, make_team, wait_until


async def make_members(pool, team_id: str, count: int) -> list[str]:
    rows = await pool.fetch(
        "WITH a AS (INSERT INTO accounts (email, name)"
        "  SELECT 'user' || g || '@contoso.com', 'User ' || g FROM generate_series(1, $2) g RETURNING id, "
        "name),"
        " m AS (INSERT INTO members (team_id, account_id, managed, status, card_name)"
        "  SELECT $1, a.id, true, 'invited', a.name FROM a RETURNING id)"
        " INSERT INTO invites (member_id, status) SELECT id, 'queued' FROM m RETURNING member_id::text",
        team_id,
        count,
    )
    return [r[0] for r in rows]


async def make_run_with_admins(pool, team_id: str, admins: int) -> str:
    for i in range(admins):
        account = await pool.fetchval(
            "INSERT INTO accounts (email, name) VALUES ($1, $1) RETURNING id", f"admin{i}@contoso.com"
        )
        await pool.execute(
            "INSERT INTO members (team_id, account_id, status, role) VALUES ($1, $2, 'active', 'admin')",
            team_id,
            account,
        )
    return str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, status, summary) VALUES ($1, 'schedule', 'succeeded', "
            "$2)"
            " RETURNING id",
            team_id,
            {"added": [{"name": "New", "email": "new@contoso.com"}]},
        )
    )


@pytest.fixture
async def replicas(db_url, mail_settings):
    """Two notifiers as two processes would have them: a pool, SMTP connections and a holder id each."""
    made = []
    for _ in range(2):
        pool = await db.create_pool(db_url, size=4)
        transport = SmtpTransport(mail_settings, connections=2)
        made.append(
            (pool, transport, Notifier(pool, mail_settings, transport, retry_for=30, max_backoff=0.5))
        )
    yield [notifier for _, _, notifier in made]
    for pool, transport, _ in made:
        await transport.close()
        await pool.close()


async def test_two_replicas_handling_the_same_messages_at_once_send_each_email_once(
    pool, replicas, smtp_server
):
    team = await make_team(pool)
    members = await make_members(pool, team, 150)
    run = await make_run_with_admins(pool, team, 3)
    messages = [InviteRequested(team_id=team, member_id=m) for m in members]
    messages += [AdminDigestRequested(team_id=team, run_id=run)] * 3
    orders = [random.sample(messages * 2, len(messages) * 2) for _ in replicas]
    await asyncio.gather(
        *(dispatch(handler_map(n), m) for n, order in zip(replicas, orders, strict=True) for m in order)
    )
    counts = Counter(r.to for r in smtp_server.received)
    assert len(counts) == 150 + 3 and set(counts.values()) == {1}
    assert await pool.fetchval("SELECT count(*) FROM invites WHERE status = 'sent'") == 150
    assert await pool.fetchval("SELECT count(*) FROM sent_emails WHERE state = 'sent'") == 153


async def test_two_replicas_consuming_one_queue_of_redelivered_messages_send_each_email_once(
    pool, bus, amqp_prefix, replicas, smtp_server
):
    team = await make_team(pool)
    members = await make_members(pool, team, 120)
    second = Bus(
        AMQP_URL, prefix=amqp_prefix, prefetch=8, delivery_limit=3, retry_base=0.02, retry_longest=0.5
    )
    await second.connect()
    handled = 0

    def counted(notifier: Notifier):
        handlers = handler_map(notifier)

        async def handle(message) -> None:
            nonlocal handled
            await dispatch(handlers, message)
            handled += 1

        return dict.fromkeys(handlers, handle)

    try:
        for b, notifier in zip((bus, second), replicas, strict=True):
            await start_consumer("notifier", counted(notifier), notifier.settings, notifier.pool, b)
        messages = [InviteRequested(team_id=team, member_id=m) for m in members]
        for copy in range(3):  # the same message ids, three times over, split between the replicas
            await bus.publish(*(messages if copy % 2 else reversed(messages)))

        async def all_handled() -> bool:
            return handled == 3 * 120

        await wait_until(all_handled, timeout=30)
    finally:
        await second.close()
    counts = Counter(r.to for r in smtp_server.received)
    assert len(counts) == 120 and set(counts.values()) == {1}
    holders = {r[0] for r in await pool.fetch("SELECT DISTINCT holder FROM sent_emails")}
    assert holders == {n.sentlog.holder for n in replicas}


async def hold_claim(pool, member: str, holder: str, lease_seconds: float) -> None:
    """Another replica's claim on jane's invite, held for ``lease_seconds`` more."""
    await pool.execute(
        "INSERT INTO sent_emails (key, recipient, state, holder, lease_until)"
        " VALUES ($1, 'jane@contoso.com', 'sending', $2, now() + make_interval(secs => $3))",
        f"invite:{member}",
        holder,
        lease_seconds,
    )


async def test_a_claim_whose_holder_died_is_taken_over_when_its_lease_runs_out(pool, replicas, smtp_server):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    await hold_claim(pool, member, "a replica that died", lease_seconds=1.5)
    started = time.monotonic()
    await replicas[0].on_invite_requested(InviteRequested(team_id=team, member_id=member))
    assert time.monotonic() - started > 1.0
    assert [r.to for r in smtp_server.received] == ["jane@contoso.com"]
    logged = await pool.fetchrow("SELECT * FROM sent_emails WHERE key = $1", f"invite:{member}")
    assert logged["state"] == "sent" and logged["holder"] == replicas[0].sentlog.holder
    assert (await invite(pool, member))["status"] == "sent"


async def test_a_live_claim_of_another_replica_is_waited_for_and_not_sent_again(pool, replicas, smtp_server):
    team = await make_team(pool)
    member = await make_member(pool, team, "jane@contoso.com")
    await hold_claim(pool, member, "busy replica", lease_seconds=60)
    waiting = asyncio.create_task(
        replicas[0].on_invite_requested(InviteRequested(team_id=team, member_id=member))
    )
    await asyncio.sleep(0.5)
    assert not waiting.done()  # not acked while the other replica might still fail to send
    await pool.execute(
        "UPDATE sent_emails SET state = 'sent', sent_at = now() WHERE key = $1", f"invite:{member}"
    )
    await pool.execute("UPDATE invites SET status = 'sent' WHERE member_id = $1", member)
    await asyncio.wait_for(waiting, 5)
    assert smtp_server.received == []


async def test_a_lease_is_renewed_by_its_holder_and_lost_once_another_replica_took_it_over(pool):
    first, second = SentLog(pool, "first", lease=1.0), SentLog(pool, "second", lease=1.0)
    claimed = await first.claim("digest:k", "boss@contoso.com")
    assert claimed != "busy" and await second.claim("digest:k", "boss@contoso.com") == "busy"
    await asyncio.sleep(0.6)
    await claimed.lease.keep()  # less than half left: renewed
    await asyncio.sleep(0.6)
    assert await second.claim("digest:k", "boss@contoso.com") == "busy"
    await asyncio.sleep(1.1)  # the first holder stalls past its lease
    taken = await second.claim("digest:k", "boss@contoso.com")
    assert taken != "busy"
    with pytest.raises(LostClaim):
        await claimed.lease.keep()
    await second.sent("digest:k")
    assert await first.claim("digest:k", "boss@contoso.com") == "done"
