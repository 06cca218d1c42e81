"""Runs that changed nothing: the newest few stay whole, older ones become counts by day, the rest stays."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from shared import runs
from tests.fixtures.api import make_team

DAY1 = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
ZERO = {"created": 0, "invited": 0, "updated": 0, "unchanged": 40, "removed": 0, "deleted": 0, "skipped": 0}


async def add_run(pool, team: str, at: datetime, status: str = "succeeded", **changes) -> uuid.UUID:
    counts = {**ZERO, **changes.pop("counts", {})}
    return await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, status, created_at, finished_at, counts, graph_requests,"
        " member_errors) VALUES ($1, 'schedule', $2, $3, $3, $4, 3, $5) RETURNING id",
        team,
        status,
        at,
        counts,
        changes.pop("member_errors", []),
    )


async def test_old_runs_that_changed_nothing_become_counts_by_day(api, operator, pool):
    team = (await make_team(api, operator))["id"]
    other = (await make_team(api, operator, name="Other"))["id"]
    quiet = [await add_run(pool, team, DAY1 + timedelta(minutes=15 * i)) for i in range(110)]  # over two days
    kept_changes = [
        await add_run(pool, team, DAY1 + timedelta(minutes=1), counts={"updated": 1}),
        await add_run(pool, team, DAY1 + timedelta(minutes=2), counts={"removed": 2}),
        await add_run(pool, team, DAY1 + timedelta(minutes=3), status="failed"),
        await add_run(
            pool, team, DAY1 + timedelta(minutes=4), member_errors=[{"directory_id": "x", "message": "m"}]
        ),
    ]
    few = [await add_run(pool, other, DAY1 + timedelta(hours=i)) for i in range(5)]

    assert await runs.count_unchanged_by_day(pool, keep=50) == 60
    left = {r["id"] for r in await pool.fetch("SELECT id FROM sync_runs")}
    assert left == set(quiet[60:]) | set(kept_changes) | set(few)  # the newest 50 quiet ones, and every other
    days = await pool.fetch("SELECT * FROM sync_run_days ORDER BY day")
    assert [(str(d["team_id"]), d["day"].isoformat(), d["runs"], d["graph_requests"]) for d in days] == [
        (team, "2026-04-01", 60, 180)  # 06:00 to 20:45 on the first day
    ]
    assert await runs.count_unchanged_by_day(pool, keep=50) == 0

    resp = await api.get(f"/api/v1/teams/{team}/sync/run-days", headers=operator)
    assert resp.status == 200
    assert await resp.json() == {"days": [{"day": "2026-04-01", "runs": 60, "graph_requests": 180}]}
    listed = await (await api.get(f"/api/v1/teams/{team}/sync/runs?limit=1000", headers=operator)).json()
    assert len(listed["runs"]) == 54


async def test_schedulers_counting_together_count_each_run_once(api, operator, pool):
    team = (await make_team(api, operator))["id"]
    for i in range(80):
        await add_run(pool, team, DAY1 + timedelta(minutes=30 * i))  # over two days
    gone = await asyncio.gather(*(runs.count_unchanged_by_day(pool, keep=20) for _ in range(3)))
    assert sum(gone) == 60
    assert await pool.fetchval("SELECT sum(runs) FROM sync_run_days") == 60
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 20
