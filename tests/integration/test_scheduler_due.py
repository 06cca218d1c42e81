"""The cadence loop (R14): due runs queued once, with several schedulers, and one catch-up run per team."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.scheduler.cadence import next_run_at
from services.scheduler.due import PREVIEW_RETRY, publish_due_runs
from shared import db
from shared.config import SyncConfig
from shared.messages import SyncRequested
from tests.fixtures.api import make_team

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


GROUPS = [{"id": "0c6d2f4e-1111-2222-3333-444455556666", "display_name": "popl_users"}]


async def seed_teams(
    pool, count: int, next_at: datetime, *, connected: bool = True, cadence: str = "daily", groups=GROUPS
):
    """Teams with a saved configuration due at ``next_at``; returns their ids."""
    config = SyncConfig(cadence=cadence, groups=groups).model_dump(mode="json")
    async with pool.acquire() as conn, conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO teams (name, token_hash) SELECT 'T' || g, md5(random()::text || g)"
                " FROM generate_series(1, $1) g RETURNING id",
                count,
            )
        ]
        await conn.execute(
            "INSERT INTO sync_configs (team_id, config, cadence, next_run_at)"
            " SELECT t, $2, $3, $4 FROM unnest($1::uuid[]) t",
            ids,
            config,
            cadence,
            next_at,
        )
        if connected:
            await conn.execute(
                "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id)"
                " SELECT t, 'consent', 'tenant', 'app' FROM unnest($1::uuid[]) t",
                ids,
            )
    return ids


async def test_a_due_team_gets_one_scheduled_run(pool):
    (team,) = await seed_teams(pool, 1, NOW - timedelta(minutes=1))
    assert await publish_due_runs(pool, NOW) == 1
    run = await pool.fetchrow("SELECT * FROM sync_runs WHERE team_id = $1", team)
    assert run["trigger"] == "schedule" and run["status"] == "queued" and run["config"]["cadence"] == "daily"
    message = SyncRequested.from_bytes(await pool.fetchval("SELECT body FROM outbox"))
    assert (message.run_id, message.trigger) == (str(run["id"]), "schedule")
    assert await pool.fetchval(
        "SELECT next_run_at FROM sync_configs WHERE team_id = $1", team
    ) == next_run_at("daily", NOW, team)
    assert await publish_due_runs(pool, NOW) == 0


async def test_catch_up_is_one_run_and_the_schedule_resumes_from_now(pool):
    (team,) = await seed_teams(pool, 1, NOW - timedelta(days=40), cadence="weekly")
    assert await publish_due_runs(pool, NOW) == 1
    next_at = await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)
    assert NOW < next_at <= NOW + timedelta(days=7)
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 1


async def test_not_yet_due_teams_wait(pool):
    await seed_teams(pool, 3, NOW + timedelta(seconds=1))
    assert await publish_due_runs(pool, NOW) == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0


async def test_active_run_or_nothing_to_sync_queue_nothing_but_the_schedule_moves(pool):
    (busy,) = await seed_teams(pool, 1, NOW - timedelta(hours=1))
    await seed_teams(pool, 1, NOW - timedelta(hours=1), connected=False)
    await seed_teams(pool, 1, NOW - timedelta(hours=1), groups=[])
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, status) VALUES ($1, 'manual', 'fetching')", busy
    )
    assert await publish_due_runs(pool, NOW) == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_configs WHERE next_run_at <= $1", NOW) == 0


async def test_a_running_preview_keeps_the_team_due_until_the_periods_run_can_start(pool):
    (team,) = await seed_teams(pool, 1, NOW - timedelta(hours=1))
    preview = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, dry_run, status) VALUES ($1, 'manual', true, 'fetching')"
        " RETURNING id",
        team,
    )
    assert await publish_due_runs(pool, NOW) == 0
    assert (
        await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)
        == NOW + PREVIEW_RETRY
    )

    await pool.execute("UPDATE sync_runs SET status = 'succeeded' WHERE id = $1", preview)
    assert await publish_due_runs(pool, NOW) == 0  # not due again yet
    assert await publish_due_runs(pool, NOW + PREVIEW_RETRY) == 1
    run = await pool.fetchrow(
        "SELECT trigger, dry_run FROM sync_runs WHERE team_id = $1 AND id <> $2", team, preview
    )
    assert (run["trigger"], run["dry_run"]) == ("schedule", False)
    assert (
        await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)
        > NOW + PREVIEW_RETRY
    )


async def test_a_full_batch_of_teams_with_previews_running_does_not_hold_the_loop(pool):
    teams = await seed_teams(pool, 250, NOW - timedelta(hours=1))
    await pool.execute(
        "INSERT INTO sync_runs (team_id, trigger, dry_run, status) SELECT t, 'manual', true, 'fetching'"
        " FROM unnest($1::uuid[]) t",
        teams,
    )
    assert await asyncio.wait_for(publish_due_runs(pool, NOW), timeout=30) == 0


async def test_concurrent_schedulers_publish_each_run_exactly_once(pool, db_url):
    teams = await seed_teams(pool, 450, NOW - timedelta(minutes=5))
    other = await db.create_pool(db_url, size=3)
    try:
        results = await asyncio.gather(
            publish_due_runs(pool, NOW),
            publish_due_runs(other, NOW),
            publish_due_runs(pool, NOW),
            publish_due_runs(other, NOW),
        )
    finally:
        await other.close()
    assert sum(results) == len(teams), results
    assert await pool.fetchval("SELECT count(DISTINCT team_id) FROM sync_runs") == len(teams)
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == len(teams)
    bodies = [SyncRequested.from_bytes(r["body"]) for r in await pool.fetch("SELECT body FROM outbox")]
    assert len(bodies) == len(teams) and len({b.team_id for b in bodies}) == len(teams)


async def test_a_team_that_never_saved_is_shown_unscheduled_and_never_run(api, operator, pool):
    team = await make_team(api, operator)
    resp = await api.get(f"/api/v1/teams/{team['id']}/sync/config", headers=team["headers"])
    assert (await resp.json())["next_run_at"] is None
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id) VALUES ($1, 'consent', 't', "
        "'a')",
        uuid.UUID(team["id"]),
    )
    assert await publish_due_runs(pool, datetime.now(UTC) + timedelta(days=400)) == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0


async def test_the_shown_next_run_is_when_the_loop_runs_the_team(api, operator, pool):
    team = await make_team(api, operator)
    team_id = uuid.UUID(team["id"])
    await pool.execute(
        "INSERT INTO directory_connections (team_id, kind, tenant_id, client_id) VALUES ($1, 'consent', 't', "
        "'a')",
        team_id,
    )
    # Groups are checked against the directory when saved; the loop only reads what was stored.
    await pool.execute(
        "INSERT INTO sync_configs (team_id, config, cadence, next_run_at) VALUES ($1, $2, 'weekly', $3)",
        team_id,
        SyncConfig(cadence="weekly", groups=GROUPS).model_dump(mode="json"),
        next_run_at("weekly", NOW, team_id),
    )
    shown = await (await api.get(f"/api/v1/teams/{team['id']}/sync/config", headers=team["headers"])).json()
    at = datetime.fromisoformat(shown["next_run_at"])
    assert at == next_run_at("weekly", NOW, team_id)
    assert await publish_due_runs(pool, at - timedelta(seconds=1)) == 0
    assert await publish_due_runs(pool, at) == 1


async def test_the_next_run_keeps_the_teams_time_of_day_and_zone(pool):
    (team,) = await seed_teams(pool, 1, NOW - timedelta(minutes=1))
    config = SyncConfig(cadence="daily", groups=GROUPS, at="07:45", timezone="Asia/Tokyo").model_dump(
        mode="json"
    )
    await pool.execute("UPDATE sync_configs SET config = $2 WHERE team_id = $1", team, config)
    assert await publish_due_runs(pool, NOW) == 1
    next_at = await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)
    assert next_at == datetime(2026, 3, 10, 22, 45, tzinfo=UTC)  # 07:45 on March 11 in Tokyo (UTC+9)


async def test_an_hourly_team_is_due_again_within_the_hour(pool):
    (team,) = await seed_teams(pool, 1, NOW - timedelta(minutes=1), cadence="hourly")
    assert await publish_due_runs(pool, NOW) == 1
    next_at = await pool.fetchval("SELECT next_run_at FROM sync_configs WHERE team_id = $1", team)
    assert NOW < next_at <= NOW + timedelta(hours=1)
