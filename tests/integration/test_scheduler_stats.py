"""The scheduler's gauges: runs by status, outbox backlog, queue depth, dead letters."""

import asyncio

import aio_pika
from prometheus_client import generate_latest

from services.scheduler.stats import refresh
from shared import db, metrics
from shared.messages import InviteRequested


async def test_refresh_reports_runs_outbox_and_queues(pool, bus):
    team = await pool.fetchval("INSERT INTO teams (name, token_hash) VALUES ('T', 'h') RETURNING id")
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'failed')", team
    )
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'queued')", team
    )
    other = await pool.fetchval("INSERT INTO teams (name, token_hash) VALUES ('U', 'i') RETURNING id")
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'photos')", other
    )
    async with pool.acquire() as conn, conn.transaction():
        await db.enqueue(conn, InviteRequested(team_id=str(team), member_id="m"))
    await bus.declare("notifier", [InviteRequested])

    await refresh(pool, bus)

    text = generate_latest().decode()
    assert 'cardsync_runs{status="failed"} 1.0' in text
    assert 'cardsync_runs{status="queued"} 1.0' in text
    assert 'cardsync_runs{status="reconciling"} 1.0' in text  # waiting for its photos, as the API shows it
    assert 'status="photos"' not in text
    assert "cardsync_outbox_pending 1.0" in text
    assert 'cardsync_queue_messages{queue="notifier"} 0.0' in text
    assert 'cardsync_dead_letter_messages{queue="notifier"} 0.0' in text


async def test_refresh_reports_each_dead_letter_queues_depth(pool, bus):
    await bus.declare("notifier", [InviteRequested])
    dead = aio_pika.Message(b"{}", message_id="m1", type=InviteRequested.routing_key)
    await bus.send_to_queue(f"{bus.queue_name('notifier')}.dead", dead)

    await wait_until_counted(pool, bus, 'cardsync_dead_letter_messages{queue="notifier"} 1.0')


async def wait_until_counted(pool, bus, line: str) -> None:
    for _ in range(50):  # the broker counts a queue's messages a moment after it confirmed them
        await refresh(pool, bus)
        if line in generate_latest().decode():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{line!r} not in /metrics")


async def test_refresh_reports_each_scheduled_teams_last_success(pool, bus):
    async def team(name: str, cadence: str) -> str:
        tid = await pool.fetchval(
            "INSERT INTO teams (name, token_hash) VALUES ($1, $1) RETURNING id::text", name
        )
        await pool.execute(
            "INSERT INTO sync_configs (team_id, config, cadence, updated_at)"
            " VALUES ($1, '{}', $2, '2026-01-01T00:00:00Z')",
            tid,
            cadence,
        )
        return tid

    async def run(tid: str, status: str, finished: str, dry_run: bool = False) -> None:
        await pool.execute(
            "INSERT INTO sync_runs (team_id, trigger, status, dry_run, created_at, finished_at)"
            " VALUES ($1, 'schedule', $2, $3, $4::text::timestamptz, $4::text::timestamptz)",
            tid,
            status,
            dry_run,
            finished,
        )

    synced, never, off = (
        await team("synced", "daily"),
        await team("never", "weekly"),
        await team("off", "off"),
    )
    await run(synced, "succeeded", "2026-03-01T00:00:00Z")
    await run(synced, "succeeded", "2026-03-02T00:00:00Z", dry_run=True)  # a dry run applies nothing
    await run(synced, "failed", "2026-03-03T00:00:00Z")
    await run(off, "succeeded", "2026-03-01T00:00:00Z")

    await refresh(pool, bus)

    gauge = {
        (s.labels["team"], s.labels["cadence"]): s.value
        for family in metrics.TEAM_LAST_SUCCESS.collect()
        for s in family.samples
    }
    assert gauge == {(synced, "daily"): 1772323200.0, (never, "weekly"): 1767225600.0}

    await pool.execute("DELETE FROM teams WHERE id = $1", synced)
    await refresh(pool, bus)
    assert [s.labels["team"] for f in metrics.TEAM_LAST_SUCCESS.collect() for s in f.samples] == [never]
