"""Retries that fit the cause (R14): a scheduled run failed for a passing cause is run again after 5 minutes,
30 minutes, 2 hours, then at its cadence; one that needs a person waits for a saved configuration or
connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scheduler.cadence import next_run_at
from services.scheduler.due import plan_retries, publish_due_runs
from shared import runs
from shared.failures import Cause
from tests.integration.test_scheduler_due import seed_teams


async def fail_latest(pool, team, cause: Cause, at: datetime | None = None) -> None:
    run = await pool.fetchval("SELECT id::text FROM sync_runs WHERE team_id = $1 AND status = 'queued'", team)
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, run, "it failed", cause=cause)
        if at is not None:
            await conn.execute("UPDATE sync_runs SET finished_at = $2 WHERE id = $1", run, at)


async def next_at(pool, team) -> datetime:
    return await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)


async def test_a_passing_failure_is_retried_after_5_minutes_30_minutes_2_hours_then_at_its_cadence(pool):
    now = datetime.now(UTC)
    (team,) = await seed_teams(pool, 1, now - timedelta(seconds=1))
    assert await publish_due_runs(pool, now) == 1
    for wait in (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)):
        cadence_at = await next_at(pool, team)  # its next period, whichever comes first
        await fail_latest(pool, team, Cause.GRAPH, now)
        assert await plan_retries(pool, now) == 1
        assert await plan_retries(pool, now) == 0  # planned once
        assert await next_at(pool, team) == min(now + wait, cadence_at)
        now = min(now + wait, cadence_at)
        assert await publish_due_runs(pool, now) == 1
        assert await next_at(pool, team) == next_run_at("daily", now, team)  # the cadence again
    cadence_at = await next_at(pool, team)
    await fail_latest(pool, team, Cause.TIMEOUT, now)
    assert await plan_retries(pool, now) == 0  # the retries are spent: the next period runs it
    assert await next_at(pool, team) == cadence_at


async def test_a_cause_that_needs_a_person_waits_for_a_saved_configuration_or_connection(pool):
    now = datetime.now(UTC)
    (team,) = await seed_teams(pool, 1, now - timedelta(seconds=1))
    assert await publish_due_runs(pool, now) == 1
    cadence_at = await next_at(pool, team)
    await fail_latest(pool, team, Cause.SECRET)
    assert await plan_retries(pool, now) == 0
    assert await next_at(pool, team) == cadence_at  # no retry
    await pool.execute("UPDATE sync_configs SET next_run_at = $2 WHERE team_id = $1", team, now)
    assert await publish_due_runs(pool, now + timedelta(seconds=1)) == 0  # its period comes: still waiting
    # the schedule moved on
    assert await next_at(pool, team) == next_run_at("daily", now + timedelta(seconds=1), team)
    # A new secret is saved: the next period runs it.
    await pool.execute("UPDATE directory_connections SET connected_at = now() WHERE team_id = $1", team)
    await pool.execute("UPDATE sync_configs SET next_run_at = $2 WHERE team_id = $1", team, now)
    assert await publish_due_runs(pool, now + timedelta(seconds=1)) == 1


async def test_a_failed_manual_run_is_not_retried(pool):
    now = datetime.now(UTC)
    (team,) = await seed_teams(pool, 1, now + timedelta(days=1))
    run = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'fetching')"
        " RETURNING id::text",
        team,
    )
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, run, "Graph is down", cause=Cause.GRAPH)
    assert await plan_retries(pool, now) == 0
    assert await next_at(pool, team) == now + timedelta(days=1)
