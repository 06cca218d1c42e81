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
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
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
