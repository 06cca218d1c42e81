"""SIGTERM on a real reconciler process: it takes no more messages, finishes the one in hand, and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal

from shared import run_locks
from shared.messages import SnapshotFailed
from tests.e2e.helpers import until
from tests.fixtures.e2e import Stack
from tests.fixtures.infra import delete_topology


async def active_run(pool) -> tuple[str, str]:
    """A new team and its run, waiting for its snapshot."""
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('T', gen_random_uuid()) RETURNING id"
    )
    run = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status, config) VALUES ($1, 'manual', 'fetching', '{}')"
        " RETURNING id",
        team,
    )
    return str(team), str(run)


async def test_sigterm_finishes_the_message_in_hand_then_exits_0(settings, pool, bus, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYNC_")}
    env.update(
        CARDSYNC_DATABASE_URL=settings.database_url,
        CARDSYNC_AMQP_URL=settings.amqp_url,
        CARDSYNC_AMQP_PREFIX=settings.amqp_prefix,
        CARDSYNC_SHUTDOWN_GRACE="30",
    )
    stack = Stack(env=env, log_dir=tmp_path)
    stack.start("reconciler")
    (team, in_hand), (other, after) = await active_run(pool), await active_run(pool)
    try:
        await stack.wait_healthy()
        async with pool.acquire() as conn, conn.transaction():
            # The run's lock held here keeps the reconciler's handler waiting: the message is in its hand.
            await run_locks.lock(conn, "run", in_hand)
            await bus.publish(SnapshotFailed(team_id=team, run_id=in_hand, reason="Graph said no"))
            await until(lambda: _waiting_for_a_lock(pool), bool)
            [process] = stack.processes["reconciler"]
            process.popen.send_signal(signal.SIGTERM)
            await asyncio.sleep(1)
            assert process.popen.poll() is None  # still finishing its message
            await bus.publish(SnapshotFailed(team_id=other, run_id=after, reason="too late"))
            await asyncio.sleep(0.5)
        code = await asyncio.to_thread(process.popen.wait, 20)
    finally:
        stack.stop()
        await delete_topology(settings.amqp_prefix)
    assert code == 0, process.output()[-3000:]
    statuses = dict(await pool.fetch("SELECT id::text, status FROM sync_runs"))
    assert statuses == {in_hand: "failed", after: "fetching"}  # finished; the later one left for the next
    assert "finishing 1 message(s) in hand" in process.output()


async def _waiting_for_a_lock(pool) -> bool:
    return await pool.fetchval(
        "SELECT count(*) > 0 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted"
    )
