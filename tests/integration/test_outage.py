"""Database outages, through a proxy that drops every connection: the reconciler's messages wait one out and
the run completes, with nothing dead-lettered; the outbox relay listens again once the database is back."""

from __future__ import annotations

import asyncio

from services.reconciler.bootstrap import handler_map
from services.reconciler.handlers import Reconciler
from shared import db
from shared.messages import InviteRequested
from shared.outbox import run_relay
from shared.runtime import Infra
from tests.fixtures.reconciler import GROUP, user
from tests.fixtures.workers import start_consumer
from tests.integration.test_bus import dead_letters, wait_for, wait_for_async

OUTAGE = 4.0  # seconds: eight waits or more of the test bus's longest (0.5 s), for a delivery limit of 3


async def test_a_database_outage_mid_run_ends_with_the_run_applied_and_nothing_dead_lettered(
    team, settings, bus, pg_proxy
):
    pool = await db.create_pool(pg_proxy.url, size=4, acquire_timeout=2)
    try:
        await start_consumer("reconciler", handler_map(Reconciler(pool, settings)), settings, pool, bus)
        run_id = await team.new_run()
        pages, done = team.messages(run_id, {GROUP: [user(n) for n in range(12)]}, page_size=3)
        await bus.publish(*pages[:2])
        await wait_for_async(lambda: team.pool.fetchval("SELECT count(*) FROM snapshot_pages"), 2)

        await pg_proxy.cut()
        await bus.publish(*pages[2:], done)
        waiting = 0
        for _ in range(int(OUTAGE / 0.2)):
            waiting = max(waiting, await bus.queue_depth("reconciler.retry") or 0)
            await asyncio.sleep(0.2)
        await pg_proxy.start()

        await wait_for_async(
            lambda: team.pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id), "succeeded"
        )
    finally:
        await pool.close()
    assert waiting > 0  # the messages waited in the retry queue meanwhile
    assert len(await team.members()) == 12
    assert await dead_letters(bus.prefix, "reconciler") == 0


async def test_the_outbox_relay_listens_again_after_the_database_came_back(settings, bus, pool, pg_proxy):
    """Its LISTEN connection dies with the database: the relay starts again on a new one, and a NOTIFY wakes
    it long before its next poll."""
    got = []

    async def handler(message):
        got.append(message)

    await bus.consume("test", [InviteRequested], handler)
    proxied = await db.create_pool(pg_proxy.url, size=2, acquire_timeout=2)
    infra = Infra(settings, proxied, bus)
    relay = infra.spawn("outbox-relay", lambda: run_relay(proxied, bus, interval=60))
    try:
        await wait_for_async(lambda: _listening(pool), True)
        await pg_proxy.cut()
        await wait_for_async(lambda: _listening(pool), False)
        await pg_proxy.start()
        await wait_for_async(lambda: _listening(pool), True)
        async with pool.acquire() as conn:
            await db.enqueue(conn, InviteRequested(team_id="t", member_id="m1"))  # its trigger notifies
        await wait_for(lambda: got, timeout=5)
    finally:
        await asyncio.wait_for(infra.stop_loops(), 10)  # a relay stuck on its dead connection would not stop
        proxied.terminate()
    assert relay.restarts == 1


async def _listening(pool) -> bool:
    return await pool.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
        "'LISTEN%'"
    )
