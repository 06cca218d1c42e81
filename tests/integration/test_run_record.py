"""The run module against the database: each move, and a refused move raising with nothing changed."""

from __future__ import annotations

import asyncio

import pytest

from shared import runs
from shared.runs import RunStatus


@pytest.fixture
async def team(pool) -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO teams (name, token_hash) VALUES ('T', md5(random()::text)) RETURNING id"
        )
    )


async def new_run(pool, team: str, status: str) -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO sync_runs (team_id, trigger, status, config) VALUES ($1, 'manual', $2, '{}') "
            "RETURNING id",
            team,
            status,
        )
    )


async def test_a_run_goes_from_queued_to_succeeded(pool, team):
    async with pool.acquire() as conn, conn.transaction():
        queued = await runs.queue(conn, team, "manual", "admin", False, {}, "id, status")
        assert queued["status"] == "queued"
        assert (
            await runs.queue(conn, team, "schedule", None, False, {}, "id") is None
        )  # one active run a team
        run_id = str(queued["id"])
        run = await runs.start_fetching(conn, run_id)
        assert (run.status, run.team_id, run.active) == (RunStatus.FETCHING, team, True)
        assert await runs.start_reconciling(conn, run_id) is True
        assert await runs.start_reconciling(conn, run_id) is False  # a redelivery finds it reconciling
        await runs.finish(
            conn, run_id, RunStatus.SUCCEEDED, {"created": 2}, [{"directory_id": "u", "message": "m"}]
        )
    row = await pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run_id)
    assert (row["status"], row["counts"], row["member_errors"]) == (
        "succeeded",
        {"created": 2},
        [{"directory_id": "u", "message": "m"}],
    )
    assert row["started_at"] is not None and row["finished_at"] is not None


@pytest.mark.parametrize("status", ["reconciling", "succeeded", "failed", "held"])
async def test_a_stale_fetch_request_moves_nothing(pool, team, status):
    run_id = await new_run(pool, team, status)
    async with pool.acquire() as conn:
        assert await runs.start_fetching(conn, run_id) is None
    assert await pool.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == status


REFUSED = {
    "fail an ended run": ("succeeded", lambda conn, run_id: runs.fail(conn, run_id, "late")),
    "fail a held run": ("held", lambda conn, run_id: runs.fail(conn, run_id, "late")),
    "reconcile a queued run": ("queued", runs.start_reconciling),
    "finish a fetch": (
        "fetching",
        lambda conn, run_id: runs.finish(conn, run_id, RunStatus.SUCCEEDED, {}, []),
    ),
    "approve a run not held": ("reconciling", runs.approve),
    "finish an approval of a failed run": (
        "failed",
        lambda conn, run_id: runs.finish_approved(
            conn, run_id, 1, 0, {"removed": [], "totals": {"removed": 1}}
        ),
    ),
}


@pytest.mark.parametrize(("status", "move"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_move_the_table_refuses_raises_and_changes_nothing(pool, team, status, move):
    run_id = await new_run(pool, team, status)
    before = await pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run_id)
    async with pool.acquire() as conn:
        with pytest.raises(runs.TransitionRefused):
            async with conn.transaction():
                await move(conn, run_id)
    assert await pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run_id) == before


async def test_an_unknown_run_is_said_so(pool):
    async with pool.acquire() as conn:
        with pytest.raises(runs.UnknownRun):
            await runs.fail(conn, "6f1c0b5e-0000-4000-8000-000000000000", "gone")


async def test_a_held_run_is_approved_unless_another_run_of_the_team_is_active(pool, team):
    held = await new_run(pool, team, "held")
    active = await new_run(pool, team, "fetching")
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(runs.TeamBusy):
            await runs.approve(conn, held)
        assert (
            await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", held) == "held"
        )  # still usable
        await runs.fail(conn, active, "the tenant is unreachable")
        await runs.approve(conn, held)
    row = await pool.fetchrow("SELECT status, started_at, finished_at FROM sync_runs WHERE id = $1", held)
    assert row["status"] == "reconciling" and row["started_at"] is not None and row["finished_at"] is None


async def test_a_failed_run_keeps_its_graph_requests_unless_told_and_drops_its_staging(pool, team):
    run_id = await new_run(pool, team, "fetching")
    await pool.execute("UPDATE sync_runs SET graph_requests = 7 WHERE id = $1", run_id)
    await pool.execute("INSERT INTO snapshot_pages (run_id, attempt, seq) VALUES ($1, 'a', 0)", run_id)
    async with pool.acquire() as conn, conn.transaction():
        await runs.fail(conn, run_id, "the client secret has expired")
    row = await pool.fetchrow("SELECT status, error, graph_requests FROM sync_runs WHERE id = $1", run_id)
    assert tuple(row) == ("failed", "the client secret has expired", 7)
    assert await pool.fetchval("SELECT count(*) FROM snapshot_pages") == 0


async def test_an_applied_run_waits_for_its_photos_active_then_ends_with_their_requests(pool, team):
    run_id = await new_run(pool, team, "reconciling")
    async with pool.acquire() as conn, conn.transaction():
        await runs.finish(conn, run_id, RunStatus.PHOTOS, {"created": 2, "unchanged": 3, "invited": 2}, [])
        # Active: a second Sync Now finds it.
        assert await runs.queue(conn, team, "manual", None, False, {}, "id") is None
    row = await pool.fetchrow("SELECT status, finished_at, progress FROM sync_runs WHERE id = $1", run_id)
    assert (row["status"], row["finished_at"]) == ("photos", None)
    assert row["progress"]["phase"] == "photos" and row["progress"]["members_applied"] == 5

    async with pool.acquire() as conn, conn.transaction():
        await runs.end_photos(conn, run_id, None, graph_requests=7)
    row = await pool.fetchrow(
        "SELECT status, finished_at, graph_requests FROM sync_runs WHERE id = $1", run_id
    )
    assert row["status"] == "succeeded" and row["finished_at"] is not None and row["graph_requests"] == 7


async def test_a_photo_check_that_stopped_short_fails_the_run_saying_why(pool, team):
    run_id = await new_run(pool, team, "photos")
    async with pool.acquire() as conn, conn.transaction():
        await runs.end_photos(conn, run_id, "Graph was down", graph_requests=1)
        with pytest.raises(runs.TransitionRefused):
            await runs.end_photos(conn, run_id, None, graph_requests=1)
    row = await pool.fetchrow("SELECT status, error FROM sync_runs WHERE id = $1", run_id)
    assert (row["status"], row["error"]) == ("failed", "Graph was down")


async def test_progress_is_written_every_few_seconds_while_the_work_goes_on_and_only_in_its_phase(pool, team):
    run_id = await new_run(pool, team, "queued")
    async with pool.acquire() as conn, conn.transaction():
        await runs.start_fetching(conn, run_id)
    started = await pool.fetchrow("SELECT progress, progress_at FROM sync_runs WHERE id = $1", run_id)
    assert started["progress"] == {
        "phase": "fetching",
        "users_read": 0,
        "members_applied": 0,
        "photos_checked": 0,
        "photos_stored": 0,
    }
    read = {"users_read": 0}

    async def written() -> list[tuple]:
        seen = []
        for n in (999, 1998):
            read["users_read"] = n
            deadline = asyncio.get_running_loop().time() + 5
            while (
                row := await pool.fetchrow(
                    "SELECT progress, progress_at FROM sync_runs WHERE id = $1", run_id
                )
            )["progress"]["users_read"] != n:
                assert asyncio.get_running_loop().time() < deadline, row
                await asyncio.sleep(0.02)
            seen.append((row["progress"]["users_read"], row["progress_at"]))
        return seen

    async with runs.Progress(pool, run_id, RunStatus.FETCHING, lambda: read, every=0.05):
        (first, first_at), (second, second_at) = await written()
    assert (first, second) == (999, 1998) and started["progress_at"] < first_at < second_at

    async with pool.acquire() as conn, conn.transaction():
        await runs.start_reconciling(conn, run_id)
    read["users_read"] = 5
    async with runs.Progress(pool, run_id, RunStatus.FETCHING, lambda: read, every=0.05):
        await asyncio.sleep(0.2)
    progress = await pool.fetchval("SELECT progress FROM sync_runs WHERE id = $1", run_id)
    assert (
        progress["phase"] == "reconciling" and progress["users_read"] == 1998
    )  # a late word changes nothing
