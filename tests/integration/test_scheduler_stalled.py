"""Stalled runs (R15, R17): a run that stops making progress is failed after the timeout, so that Sync Now and
the schedule can start a new one; a run whose pages keep arriving, or that the reconciler is applying, is
not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.scheduler.run_queue import queue_run
from services.scheduler.stalled import _STALLED as STALLED
from services.scheduler.stalled import fail_stalled_runs, stalled_reason
from shared import db, run_locks, runs

TIMEOUT = 2 * 3600.0
LONG_AGO = timedelta(hours=3)


async def new_team(pool) -> object:
    return await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('T', md5(random()::text)) RETURNING id"
    )


async def new_run(pool, status: str, created_ago: timedelta, started_ago: timedelta | None = None, team=None):
    team = team or await new_team(pool)
    return await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status, created_at, started_at)"
        " VALUES ($1, 'manual', $2, now() - $3::interval, now() - $4::interval) RETURNING id",
        team,
        status,
        created_ago,
        started_ago,
    )


async def stage_page(pool, run_id, seq: int, ago: timedelta) -> None:
    await pool.execute(
        "INSERT INTO snapshot_pages (run_id, attempt, seq, received_at) VALUES ($1, 'a1', $2, now() - "
        "$3::interval)",
        run_id,
        seq,
        ago,
    )
    await pool.execute(
        "INSERT INTO snapshot_users (run_id, attempt, seq, directory_id) VALUES ($1, 'a1', $2, $3)",
        run_id,
        seq,
        f"user-{seq}",
    )


async def stage_completion(pool, run_id, ago: timedelta) -> None:
    await pool.execute(
        "INSERT INTO snapshot_completions (run_id, attempt, pages, mode, groups, roles, skipped, received_at)"
        " VALUES ($1, 'a1', 1, 'full', '[]', '{}', '[]', now() - $2::interval)",
        run_id,
        ago,
    )


async def status_of(pool, run_id) -> str:
    return await pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id)


@pytest.mark.parametrize("status", ["queued", "fetching", "reconciling"])
async def test_a_run_with_no_progress_fails_with_a_reason_and_its_staging_goes(pool, status):
    run_id = await new_run(pool, status, LONG_AGO, LONG_AGO)
    await stage_page(pool, run_id, 0, LONG_AGO)
    await stage_completion(pool, run_id, LONG_AGO)

    assert await fail_stalled_runs(pool, TIMEOUT) == 1
    run = await pool.fetchrow("SELECT status, error, finished_at FROM sync_runs WHERE id = $1", run_id)
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["error"] == stalled_reason(TIMEOUT)
    assert "no progress for 2 hours" in run["error"] and "Sync Now" in run["error"]
    for table in ("snapshot_pages", "snapshot_users", "snapshot_completions"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE run_id = $1", run_id) == 0
    assert await fail_stalled_runs(pool, TIMEOUT) == 0


async def test_sync_now_gets_a_new_run_once_the_dead_one_is_failed(pool):
    team = await new_team(pool)
    async with pool.acquire() as conn, conn.transaction():
        dead, created = await queue_run(conn, team, trigger="manual", requested_by="admin")
    assert created
    await pool.execute(
        "UPDATE sync_runs SET created_at = now() - $2::interval WHERE id = $1", dead["id"], LONG_AGO
    )
    async with pool.acquire() as conn, conn.transaction():
        again, created = await queue_run(conn, team, trigger="manual", requested_by="admin")
    assert (again["id"], created) == (dead["id"], False)  # still coalesced onto the dead run

    assert await fail_stalled_runs(pool, TIMEOUT) == 1
    async with pool.acquire() as conn, conn.transaction():
        fresh, created = await queue_run(conn, team, trigger="manual", requested_by="admin")
    assert created and fresh["id"] != dead["id"] and fresh["status"] == "queued"


async def test_a_long_run_whose_pages_keep_arriving_is_left_alone(pool):
    run_id = await new_run(pool, "fetching", timedelta(hours=5), timedelta(hours=5))
    for seq, ago in enumerate((timedelta(hours=4), timedelta(hours=3), timedelta(minutes=10))):
        await stage_page(pool, run_id, seq, ago)
    waiting = await new_run(pool, "reconciling", timedelta(hours=5), timedelta(hours=5))
    await stage_completion(pool, waiting, timedelta(minutes=1))
    fresh = await new_run(pool, "queued", timedelta(minutes=5))
    started = await new_run(pool, "fetching", timedelta(hours=3), timedelta(minutes=1))

    assert await fail_stalled_runs(pool, TIMEOUT) == 0
    for alive in (run_id, waiting, fresh, started):
        assert await status_of(pool, alive) != "failed"


async def test_a_run_whose_services_record_progress_is_left_alone_and_one_whose_photos_stopped_fails(pool):
    moving = await new_run(pool, "photos", LONG_AGO, LONG_AGO)
    stopped = await new_run(pool, "photos", LONG_AGO, LONG_AGO)
    fetching = await new_run(pool, "fetching", LONG_AGO, LONG_AGO)
    for run_id, ago in (
        (moving, timedelta(seconds=3)),
        (stopped, LONG_AGO),
        (fetching, timedelta(seconds=3)),
    ):
        await pool.execute(
            "UPDATE sync_runs SET progress = '{}', progress_at = now() - $2::interval WHERE id = $1",
            run_id,
            ago,
        )

    assert await fail_stalled_runs(pool, TIMEOUT) == 1
    assert (await status_of(pool, moving), await status_of(pool, fetching)) == ("photos", "fetching")
    failed = await pool.fetchrow("SELECT status, error FROM sync_runs WHERE id = $1", stopped)
    assert failed["status"] == "failed" and failed["error"] == stalled_reason(TIMEOUT, "photos")
    assert failed["error"].startswith(
        "the run's members were applied, but its profile photos made no progress"
    )


async def test_a_held_run_approved_long_after_it_began_waits_for_the_reconciler(pool):
    run_id = await new_run(pool, "held", LONG_AGO, LONG_AGO)
    async with pool.acquire() as conn, conn.transaction():
        await runs.approve(conn, str(run_id))
    assert await fail_stalled_runs(pool, TIMEOUT) == 0
    assert await status_of(pool, run_id) == "reconciling"
    # Should no reconciler take it, it stalls as any run does.
    await pool.execute(
        "UPDATE sync_runs SET started_at = now() - $2::interval, progress_at = now() - $2::interval"
        " WHERE id = $1",
        run_id,
        LONG_AGO,
    )
    assert await fail_stalled_runs(pool, TIMEOUT) == 1


async def test_ended_runs_are_never_touched(pool):
    ended = [await new_run(pool, status, LONG_AGO, LONG_AGO) for status in ("succeeded", "failed", "held")]
    before = await pool.fetch("SELECT * FROM sync_runs ORDER BY id")
    assert await fail_stalled_runs(pool, TIMEOUT) == 0
    assert await pool.fetch("SELECT * FROM sync_runs ORDER BY id") == before
    assert len(before) == len(ended)


async def test_a_run_the_reconciler_is_applying_is_not_failed(pool, db_url):
    run_id = await new_run(pool, "reconciling", LONG_AGO, LONG_AGO)
    await stage_completion(pool, run_id, LONG_AGO)
    reconciler = await db.connect(db_url)
    try:
        async with reconciler.transaction():
            await run_locks.lock(reconciler, "run", str(run_id))
            assert await fail_stalled_runs(pool, TIMEOUT) == 0
            assert await status_of(pool, run_id) == "reconciling"
    finally:
        await reconciler.close()
    assert await fail_stalled_runs(pool, TIMEOUT) == 1
    assert await status_of(pool, run_id) == "failed"


async def test_concurrent_sweeps_fail_each_run_once(pool, db_url):
    stalled = [await new_run(pool, "fetching", LONG_AGO, LONG_AGO) for _ in range(250)]
    other = await db.create_pool(db_url, size=3)
    try:
        results = await asyncio.gather(*(fail_stalled_runs(p, TIMEOUT) for p in (pool, other, pool, other)))
    finally:
        await other.close()
    assert sum(results) == len(stalled), results
    assert await pool.fetchval("SELECT count(*) FROM sync_runs WHERE status = 'failed'") == len(stalled)


async def test_the_sweep_reads_active_runs_from_their_index(pool):
    """The sweep runs every few seconds against a table that keeps every run ever made."""
    await pool.execute(
        "INSERT INTO teams (name, token_hash) SELECT 'T' || g, md5(g::text) FROM generate_series(1, 200) g"
    )
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status, created_at)"
        " SELECT t.id, 'schedule', 'succeeded', now() - g * interval '1 day'"
        " FROM teams t, generate_series(1, 100) g"
    )
    await pool.execute("ANALYZE sync_runs")
    plan = "\n".join(r[0] for r in await pool.fetch("EXPLAIN " + STALLED, TIMEOUT, 100))
    assert "sync_runs_one_active" in plan, plan
