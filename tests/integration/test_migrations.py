"""Migrations against the real PostgreSQL: each once, under a lock, and the start-up check."""

import asyncio
import uuid

import asyncpg
import pytest

from shared import db
from tests.fixtures.infra import BASE_DB_URL, _db_url


@pytest.fixture
async def empty_db_url():
    name = f"cardsync_m_{uuid.uuid4().hex[:10]}"
    yield _db_url(name)
    admin = await asyncpg.connect(BASE_DB_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_migrate_creates_the_database_and_applies_everything_once(empty_db_url):
    results = await asyncio.gather(db.migrate(empty_db_url), db.migrate(empty_db_url))
    every = [name for _, name, _ in db.migrations()]
    assert sorted(results, key=len) == [[], every]
    assert await db.migrate(empty_db_url) == []
    conn = await asyncpg.connect(empty_db_url)
    try:
        versions = [
            r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    finally:
        await conn.close()
    assert versions == [v for v, _, _ in db.migrations()]


async def test_unmigrated_database_is_refused_with_a_clear_message(empty_db_url):
    await db.ensure_database(empty_db_url)
    pool = await db.create_pool(empty_db_url, size=1)
    try:
        with pytest.raises(db.NotMigrated, match="cardsync migrate"):
            await db.require_migrated(pool)
    finally:
        await pool.close()


async def test_migrated_database_passes_the_check(pool):
    await db.require_migrated(pool)


async def test_a_migration_changed_after_it_was_applied_is_refused(pool, db_url):
    await pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(db.ChangedMigration, match="0001_core.sql changed after it was applied"):
        await db.require_migrated(pool)
    with pytest.raises(db.ChangedMigration):
        await db.migrate(db_url)
    states = {s.name: s.state for s in await db.migration_status(db_url)}
    assert states.pop("0001_core.sql") == "changed" and set(states.values()) == {"applied"}


async def test_a_database_that_applied_an_earlier_release_of_a_migration_is_migrated(pool, db_url):
    """0043 was released with a comment and an index column that differ from today's file, same schema."""
    for earlier in db.EARLIER_RELEASES[43]:
        await pool.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 43", earlier)
        await db.require_migrated(pool)
        assert {s.state for s in await db.migration_status(db_url)} == {"applied"}


async def test_group_ids_saved_in_upper_case_are_lower_cased_and_their_subteams_merged(pool):
    upper, other = "0C6D5E4F-0000-4000-8000-00000000000A", "0C6D5E4F-0000-4000-8000-00000000000B"
    team = await pool.fetchval(
        "INSERT INTO teams (name, token_hash) VALUES ('T', $1) RETURNING id", uuid.uuid4().hex
    )
    members = []
    for n in range(3):
        account = await pool.fetchval("INSERT INTO accounts (email) VALUES ($1) RETURNING id", f"u{n}@x")
        members.append(
            await pool.fetchval(
                "INSERT INTO members (team_id, account_id, status) VALUES ($1, $2, 'active') RETURNING id",
                team,
                account,
            )
        )
    subteams = {}
    for name, group, places in (
        ("old", upper, members[:2]),
        ("new", upper.lower(), members[1:]),
        ("other", other, members[:1]),
        ("hand-made", None, members[:1]),
    ):
        subteams[name] = await pool.fetchval(
            "INSERT INTO subteams (team_id, name, directory_group_id) VALUES ($1, $2, $3) RETURNING id",
            team,
            name,
            group,
        )
        for member in places:
            await pool.execute(
                "INSERT INTO subteam_members (subteam_id, member_id) VALUES ($1, $2)", subteams[name], member
            )
    config = {"groups": [{"id": upper, "display_name": "A"}, {"id": "Sales"}], "cadence": "daily"}
    await pool.execute(
        "INSERT INTO sync_configs (team_id, config, cadence) VALUES ($1, $2, 'daily')", team, config
    )
    run = await pool.fetchval(
        "INSERT INTO sync_runs (team_id, trigger, config) VALUES ($1, 'manual', $2) RETURNING id",
        team,
        config,
    )

    [sql] = [sql for version, _, sql in db.migrations() if version == 61]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(sql)

    rows = await pool.fetch(
        "SELECT s.name, s.directory_group_id,"
        " array_agg(sm.member_id ORDER BY sm.member_id) AS places"
        " FROM subteams s LEFT JOIN subteam_members sm ON sm.subteam_id = s.id"
        " GROUP BY s.id ORDER BY s.name"
    )
    assert [(r["name"], r["directory_group_id"], r["places"]) for r in rows] == [
        ("hand-made", None, [members[0]]),
        ("new", upper.lower(), sorted(members)),
        ("other", other.lower(), [members[0]]),
    ]
    lowered = [{"id": upper.lower(), "display_name": "A"}, {"id": "Sales"}]
    saved = await pool.fetchval("SELECT config FROM sync_configs WHERE team_id = $1", team)
    assert saved["groups"] == lowered
    assert (await pool.fetchval("SELECT config FROM sync_runs WHERE id = $1", run))["groups"] == lowered
