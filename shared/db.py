"""PostgreSQL: the pool, the migrations, and the start-up check that the schema is current."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x6361_7264_7379_6E63 & 0x7FFF_FFFF_FFFF_FFFF  # "cardsync", as a bigint


class NotMigrated(RuntimeError):
    pass


class ChangedMigration(NotMigrated):
    """An applied migration's file no longer matches what was applied: the schema is not what the code
    expects."""


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    state: Literal["applied", "pending", "changed", "unknown"]  # unknown: applied, but no file has it


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


def checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


# Earlier released texts of a migration whose schema today's file still matches, so a database that applied
# one of them is migrated, not changed: 0043 as first released differs in a comment only, and its second text
# in an index with one more trailing column, which serves the same look-ups.
EARLIER_RELEASES = {
    43: frozenset(
        {
            "224815968cc54eb73cdbf1964d7fa00ff2615e5d38dbada714f000f1536e675d",
            "e452985fcd2f573cc28705d2402915c8f77f26c6019f26070ea874d97d8dd3a3",
        }
    )
}


def _same_migration(version: int, recorded: str, sql: str) -> bool:
    return recorded == checksum(sql) or recorded in EARLIER_RELEASES.get(version, frozenset())


_JSONB_VERSION = b"\x01"  # jsonb's binary form: a version byte, then the JSON text


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary codecs: orjson on both sides, and COPY (which speaks only binary) can write JSON columns.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: _JSONB_VERSION + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection goes back as it is (asyncpg has rolled back a transaction left open, and dropped
    its listeners). What the services change in a session is scoped to a transaction (``SET LOCAL``,
    transaction advisory locks, temporary tables dropped on commit, cursors), and the outbox relay's LISTEN is
    undone by removing its listener: the default reset (unlock all, close all, unlisten, reset all) would cost
    a round trip on every release, a fifth of the fetcher's CPU when it checks photos."""


class _Pool(asyncpg.Pool):
    """A pool whose every acquire gives up after ``acquire_timeout`` seconds, unless told another timeout."""

    def __init__(self, *args, acquire_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None):
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(
    url: str, size: int = 10, statement_timeout: float = 300.0, acquire_timeout: float = 60.0
) -> asyncpg.Pool:
    """A pool on which nothing waits for ever: PostgreSQL cancels a statement after ``statement_timeout``
    seconds, and the client gives up a little later (a server that no longer answers cannot cancel)."""
    pool = _Pool(
        url,
        min_size=1,
        max_size=size,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        setup=None,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout=acquire_timeout,
        command_timeout=statement_timeout + 5,
        server_settings={"statement_timeout": str(int(statement_timeout * 1000))},
    )
    return await pool


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist."""
    name = urlsplit(url).path.lstrip("/")
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(_with_database(url, "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):  # a concurrent migrate won
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


async def migrate(url: str) -> list[str]:
    """Create the database if needed and apply each pending migration once, in its own transaction."""
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
            " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        recorded = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        _refuse_changed(recorded)
        done = {r["version"] for r in recorded}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    version,
                    name,
                    checksum(sql),
                )
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()
    return applied


async def require_migrated(pool: asyncpg.Pool) -> None:
    latest = migrations()[-1][0]
    try:
        recorded = await pool.fetch("SELECT version, name, checksum FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        recorded = []
    current = max((r["version"] for r in recorded), default=None)
    if current is None or current < latest:
        raise NotMigrated(
            f"the database schema is at version {current or 0}, this release needs {latest}: "
            "run `cardsync migrate` first"
        )
    _refuse_changed(recorded)


def _refuse_changed(recorded: list[asyncpg.Record]) -> None:
    changed = [s.name for s in _states(recorded) if s.state == "changed"]
    if changed:
        raise ChangedMigration(
            f"{', '.join(changed)} changed after {'they were' if len(changed) > 1 else 'it was'} applied to "
            "this"
            " database (the checksum differs from the recorded one): restore the released file, since the"
            " schema may not be what this release expects (`cardsync migrate --status` lists the migrations)"
        )


def _states(recorded: list[asyncpg.Record]) -> list[MigrationState]:
    applied = {r["version"]: r for r in recorded}
    states = []
    for version, name, sql in migrations():
        row = applied.pop(version, None)
        if row is None:
            states.append(MigrationState(version, name, "pending"))
        else:
            states.append(
                MigrationState(
                    version, name, "applied" if _same_migration(version, row["checksum"], sql) else "changed"
                )
            )
    states += [MigrationState(v, r["name"], "unknown") for v, r in applied.items()]
    return sorted(states, key=lambda s: s.version)


async def migration_status(url: str) -> list[MigrationState]:
    """Each migration, applied, pending or changed since it was applied, and any applied one no file has."""
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:  # `cardsync migrate` creates the database
        return _states([])
    try:
        recorded = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        recorded = []
    finally:
        await conn.close()
    return _states(recorded)


async def enqueue(conn: asyncpg.Connection, *messages) -> None:
    """Put messages in the outbox, inside the caller's transaction; the relay publishes them."""
    if messages:
        await conn.executemany(
            "INSERT INTO outbox (routing_key, message_id, body) VALUES ($1, $2, $3)",
            [(m.routing_key, m.message_id, m.to_bytes()) for m in messages],
        )


async def seen(conn: asyncpg.Connection, consumer: str, message_id: str) -> bool:
    """Record a message in the consumer's inbox; True when it was handled before (same transaction)."""
    status = await conn.execute(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        message_id,
    )
    return status.endswith(" 0")
