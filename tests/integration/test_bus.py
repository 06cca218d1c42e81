"""The bus against the real RabbitMQ: confirms, ack after the work, retries, dead-lettering, redelivery."""

import asyncio

import aio_pika
import asyncpg
import pytest

from shared import db
from shared.bus import Bus, Undelivered
from shared.errors import Permanent, Retry
from shared.messages import InviteRequested, SyncRequested
from shared.outbox import relay_once
from shared.settlement import ERROR, FAILURES
from tests.fixtures.infra import AMQP_URL


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def dead_letters(prefix: str, consumer: str) -> int:
    conn = await aio_pika.connect(AMQP_URL)
    try:
        ch = await conn.channel()
        queue = await ch.declare_queue(f"{prefix}.{consumer}.dead", passive=True)
        return queue.declaration_result.message_count
    finally:
        await conn.close()


async def first_dead_letter(prefix: str, consumer: str) -> aio_pika.abc.AbstractIncomingMessage:
    conn = await aio_pika.connect(AMQP_URL)
    try:
        ch = await conn.channel()
        queue = await ch.declare_queue(f"{prefix}.{consumer}.dead", passive=True)
        message = await queue.get(no_ack=True)
        assert message is not None
        return message
    finally:
        await conn.close()


async def test_published_message_reaches_its_consumer(bus):
    got = []

    async def handler(message):
        got.append(message)

    await bus.consume("test", [InviteRequested], handler)
    sent = InviteRequested(team_id="t", member_id="m1")
    await bus.publish(sent)
    await wait_for(lambda: got)
    assert got == [sent]


async def test_failing_handler_is_retried_then_acked(bus):
    attempts = []

    async def handler(message):
        attempts.append(message.message_id)
        if len(attempts) < 3:
            raise ConnectionError("database briefly away")

    await bus.consume("test", [InviteRequested], handler)
    await bus.publish(InviteRequested(team_id="t", member_id="m1"))
    await wait_for(lambda: len(attempts) == 3)
    await asyncio.sleep(0.3)
    assert len(attempts) == 3
    assert await dead_letters(bus.prefix, "test") == 0


async def test_poison_message_ends_in_dead_letter_queue_after_delivery_limit(bus):
    attempts = []

    async def handler(message):
        attempts.append(1)
        raise ValueError("always fails")

    await bus.consume("test", [InviteRequested], handler)
    await bus.publish(InviteRequested(team_id="t", member_id="m1"))
    await wait_for(lambda: len(attempts) == bus.delivery_limit + 1, timeout=20)
    await wait_for_async(lambda: dead_letters(bus.prefix, "test"), 1)


async def test_permanent_error_dead_letters_at_once_with_its_reason(bus):
    attempts = []

    async def handler(message):
        attempts.append(1)
        raise Permanent("cannot ever work")

    await bus.consume("test", [InviteRequested], handler)
    sent = InviteRequested(team_id="t", member_id="m1")
    await bus.publish(sent)
    await wait_for_async(lambda: dead_letters(bus.prefix, "test"), 1)
    assert len(attempts) == 1
    dead = await first_dead_letter(bus.prefix, "test")
    assert dead.message_id == sent.message_id and dead.type == InviteRequested.routing_key
    assert dead.headers[ERROR] == "cannot ever work" and dead.headers[FAILURES] == 0
    assert InviteRequested.from_bytes(dead.body) == sent


async def test_a_retry_waits_in_the_retry_queue_not_in_the_consumer(amqp_prefix):
    """With one prefetch slot, a message told to come back later does not hold it: the next message is handled
    meanwhile, and the first comes back after its delay."""
    bus = Bus(AMQP_URL, prefix=amqp_prefix, prefetch=1, delivery_limit=3, retry_longest=5)
    await bus.connect()
    loop = asyncio.get_running_loop()
    handled: list[tuple[str, float]] = []

    async def handler(message):
        handled.append((message.member_id, loop.time()))
        if message.member_id == "later" and len(handled) == 1:
            raise Retry(1.5, "the mail server asked to come back later")

    try:
        await bus.consume("test", [InviteRequested], handler)
        await bus.publish(InviteRequested(team_id="t", member_id="later"))
        await wait_for(lambda: handled)
        await bus.publish(InviteRequested(team_id="t", member_id="next"))
        await wait_for(lambda: len(handled) == 2)
        await wait_for_async(lambda: bus.queue_depth("test.retry"), 1)
        await wait_for(lambda: len(handled) == 3, timeout=10)
    finally:
        await bus.close()
    (first, t0), (second, t1), (again, t2) = handled
    assert (first, second, again) == ("later", "next", "later")
    assert t1 - t0 < 1.0  # the consumer's only slot was free at once
    assert t2 - t0 >= 1.5
    assert await dead_letters(amqp_prefix, "test") == 0


async def test_connection_errors_do_not_count_against_the_delivery_limit(bus):
    """A database or broker outage outlasts any number of deliveries: ten failures with a limit of three, and
    the message is still handled."""
    outages = [
        ConnectionRefusedError("connection refused"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
    ] * 4
    attempts = []

    async def handler(message):
        attempts.append(1)
        if len(attempts) <= 10:
            raise outages[len(attempts)]

    await bus.consume("test", [InviteRequested], handler)
    await bus.publish(InviteRequested(team_id="t", member_id="m1"))
    await wait_for(lambda: len(attempts) == 11, timeout=30)
    await asyncio.sleep(0.3)
    assert len(attempts) == 11 and bus.delivery_limit == 3
    assert await dead_letters(bus.prefix, "test") == 0


async def test_malformed_body_is_dead_lettered(bus):
    await bus.consume("test", [InviteRequested], lambda m: None)
    await bus.publish_raw([(InviteRequested.routing_key, "bad-1", b"{not json")])
    await wait_for_async(lambda: dead_letters(bus.prefix, "test"), 1)


async def test_redelivered_message_is_handled_once_with_the_inbox(bus, pool):
    handled = []

    async def handler(message):
        async with pool.acquire() as conn, conn.transaction():
            if await db.seen(conn, "test", message.message_id):
                return
            handled.append(message.member_id)

    await bus.consume("test", [InviteRequested], handler)
    message = InviteRequested(team_id="t", member_id="m1")
    await bus.publish(message)
    await bus.publish(message)  # the same message again, as after a lost ack
    await wait_for(lambda: handled)
    await asyncio.sleep(0.3)
    assert handled == ["m1"]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE message_id = $1", message.message_id) == 1


async def test_outbox_relay_publishes_each_row_once(bus, pool):
    from shared.outbox import relay_once

    got = []

    async def handler(message):
        got.append(message.member_id)

    await bus.consume("test", [InviteRequested], handler)
    async with pool.acquire() as conn, conn.transaction():
        await db.enqueue(conn, *[InviteRequested(team_id="t", member_id=f"m{i}") for i in range(5)])
    assert await asyncio.gather(relay_once(pool, bus), relay_once(pool, bus)) in ([5, 0], [0, 5])
    await wait_for(lambda: len(got) == 5)
    assert sorted(got) == [f"m{i}" for i in range(5)]
    assert await relay_once(pool, bus) == 0


async def wait_for_async(fetch, expected, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await fetch()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"expected {expected}, still {value}")
        await asyncio.sleep(0.1)


async def test_queue_depth_counts_waiting_messages(bus):
    assert await bus.queue_depth("probe") is None
    await bus.declare("probe", [InviteRequested])
    await bus.publish(
        InviteRequested(team_id="t", member_id="m1"), InviteRequested(team_id="t", member_id="m2")
    )
    await wait_for_async(lambda: bus.queue_depth("probe"), 2)


async def test_a_message_no_queue_takes_fails_its_publish_instead_of_vanishing(bus):
    with pytest.raises(Undelivered, match="notify.invite"):
        await bus.publish(InviteRequested(team_id="t", member_id="m1"))


async def test_the_outbox_keeps_what_no_queue_took_and_offers_it_again_once_one_does(bus, pool):
    """The scheduler queues a run before any fetcher ever started: the message waits in the outbox instead of
    being dropped, the messages after it go on, and it goes out once its queue is there."""
    got = []

    async def handler(message):
        got.append(message)

    await bus.consume("test", [InviteRequested], handler)
    early = SyncRequested(team_id="t", run_id="r")  # no queue takes it yet
    later = InviteRequested(team_id="t", member_id="m1")
    async with pool.acquire() as conn:
        await db.enqueue(conn, early, later)
    assert await relay_once(pool, bus) == 2
    await wait_for(lambda: got)
    assert got == [later]
    pending = await pool.fetchrow(
        "SELECT message_id, retry_at > now() AS later FROM outbox WHERE published_at IS NULL"
    )
    assert dict(pending) == {"message_id": early.message_id, "later": True}
    assert await relay_once(pool, bus) == 0  # not offered again before its time

    await bus.consume("fetcher", [SyncRequested], handler)
    await pool.execute("UPDATE outbox SET retry_at = now()")  # its time came
    assert await relay_once(pool, bus) == 1
    await wait_for(lambda: len(got) == 2)
    assert got[1] == early
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
