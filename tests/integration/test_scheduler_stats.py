"""The scheduler's gauges: runs by status, outbox backlog, queue depth."""

from prometheus_client import generate_latest

from services.scheduler.stats import refresh
from shared import db
from shared.messages import InviteRequested


async def test_refresh_reports_runs_outbox_and_queues(pool, bus):
    team = await pool.fetchval("INSERT INTO teams (name, token_hash) VALUES ('T', 'h') RETURNING id")
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'failed')", team
    )
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'queued')", team
    )
    async with pool.acquire() as conn, conn.transaction():
        await db.enqueue(conn, InviteRequested(team_id=str(team), member_id="m"))
    await bus.declare("notifier", [InviteRequested])

    await refresh(pool, bus)

    text = generate_latest().decode()
    assert 'cardsync_runs{status="failed"} 1.0' in text
    assert 'cardsync_runs{status="queued"} 1.0' in text
    assert "cardsync_outbox_pending 1.0" in text
    assert 'cardsync_queue_messages{queue="notifier"} 0.0' in text
