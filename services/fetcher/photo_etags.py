"""The fetcher's record of the photos it has seen per team (etags) and of the rotating re-check slice. Which
photos to check starts from the team's members as applied (``members``, read only), not from a snapshot: a
photo is of use only to a member."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

import asyncpg

from services.fetcher.ids import Ids

CURSOR_ROWS = 5000  # rows a cursor brings at a time


async def known_etags(pool: asyncpg.Pool, team_id: str, ids: Iterable[str]) -> dict[str, str | None]:
    """The recorded etags of ``ids``: one statement for a whole run's candidates, not one per batch (the table
    fills during a first pass, and a plan cached while it was empty would scan all of it for each batch). The
    ids reach the server through COPY, a chunk at a time (see ``_copy_ids``)."""
    async with pool.acquire() as conn, conn.transaction():
        await _copy_ids(conn, ids)
        rows = await conn.fetch(
            "SELECT f.directory_id, f.etag FROM fetcher_ids d"
            " JOIN fetcher_photos f ON f.team_id = $1 AND f.directory_id = d.directory_id",
            team_id,
        )
    return {r["directory_id"]: r["etag"] for r in rows}


async def _copy_ids(conn: asyncpg.Connection, ids: Iterable[str]) -> None:
    """``ids`` into the temporary table fetcher_ids, gone at the transaction's end, by COPY: a chunk at a time
    as they are iterated, where one array parameter of a million ids would be built whole in memory, once as
    a list and once encoded."""
    await conn.execute("CREATE TEMP TABLE fetcher_ids (directory_id text) ON COMMIT DROP")
    await conn.copy_records_to_table("fetcher_ids", records=((i,) for i in ids))


DAY = 86400.0


def slice_size(known: int, slice_days: int, elapsed: float = DAY) -> int:
    """How many known users a run re-checks so that every one is re-checked within ``slice_days`` days however
    often runs come: their share of the ``elapsed`` seconds the slice has not covered yet (a first run: one
    day's), rounded down. What is left over waits for a later run, so that a run every 15 minutes, or one on
    every change notification, checks no more photos in a day than one daily run."""
    period = max(1, slice_days) * DAY
    return min(known, math.floor(known * min(elapsed, period) / period))


async def rotating_slice(pool: asyncpg.Pool, team_id: str, slice_days: int) -> list[str]:
    """The next known users to re-check, continuing after where the last run stopped, wrapping round. (A team
    whose photos were known before the cursor was kept counts a day as elapsed.)"""
    async with pool.acquire() as conn:
        known = await conn.fetchval("SELECT count(*) FROM fetcher_photos WHERE team_id = $1", team_id)
        cursor = await conn.fetchrow(
            "SELECT after_id, extract(epoch FROM now() - updated_at)::float8 AS elapsed"
            " FROM fetcher_photo_cursor WHERE team_id = $1",
            team_id,
        )
        if cursor is None and known == 0:
            # The team's first check of its photos is about to take every member's: its time starts now, and
            # the first rotation comes a day's share of the period later, not at the very next run.
            await conn.execute(
                "INSERT INTO fetcher_photo_cursor (team_id) VALUES ($1) ON CONFLICT DO NOTHING", team_id
            )
            return []
        size = slice_size(known, slice_days, cursor["elapsed"] if cursor else DAY)
        if size == 0:
            return []
        after = cursor["after_id"] if cursor else ""
        ids = await conn.fetch(
            "SELECT directory_id FROM fetcher_photos WHERE team_id = $1 AND directory_id > $2"
            " ORDER BY directory_id LIMIT $3",
            team_id,
            after,
            size,
        )
        if len(ids) < size:
            ids += await conn.fetch(
                "SELECT directory_id FROM fetcher_photos WHERE team_id = $1 AND directory_id <= $2"
                " ORDER BY directory_id LIMIT $3",
                team_id,
                after,
                size - len(ids),
            )
    return [r["directory_id"] for r in ids]


async def unchecked_members(pool: asyncpg.Pool, team_id: str, skip: Collection[str] = ()) -> Ids:
    """The directory ids of the team's members (as the last apply left them) whose photo no check recorded,
    but for ``skip``; read through a cursor into 16 bytes each (a first sync of a million members would
    otherwise hold a million rows, then a million strings)."""
    ids = Ids()
    async with pool.acquire() as conn, conn.transaction():
        rows = conn.cursor(
            "SELECT m.directory_id FROM members m WHERE m.team_id = $1 AND m.directory_id IS NOT NULL"
            " AND m.status <> 'removed' AND NOT EXISTS (SELECT 1 FROM fetcher_photos p"
            "  WHERE p.team_id = $1 AND p.directory_id = m.directory_id)"
            " ORDER BY m.directory_id",
            team_id,
            prefetch=CURSOR_ROWS,
        )
        async for (directory_id,) in rows:
            if directory_id not in skip:
                ids.add(directory_id)
    return ids


async def record(pool: asyncpg.Pool, team_id: str, etags: dict[str, str | None]) -> None:
    if etags:
        await pool.execute(
            "INSERT INTO fetcher_photos (team_id, directory_id, etag)"
            " SELECT $1, d.id, d.etag FROM unnest($2::text[], $3::text[]) AS d(id, etag)"
            " ON CONFLICT (team_id, directory_id) DO UPDATE SET etag = excluded.etag, checked_at = now()",
            team_id,
            list(etags),
            list(etags.values()),
        )


async def advance(pool: asyncpg.Pool, team_id: str, last_id: str, taken: int, slice_days: int) -> None:
    """The slice moves on past ``last_id``; its time moves on by the share of the period the ``taken`` users
    stand for (from at most a period ago), so that what a rounded-down slice left over counts for the next."""
    await pool.execute(
        "INSERT INTO fetcher_photo_cursor (team_id, after_id) VALUES ($1, $2)"
        " ON CONFLICT (team_id) DO UPDATE SET after_id = excluded.after_id, updated_at = least(now(),"
        " greatest(fetcher_photo_cursor.updated_at, now() - make_interval(secs => $4))"
        " + make_interval(secs => $4 * $3"
        " / greatest(1, (SELECT count(*) FROM fetcher_photos WHERE team_id = $1))))",
        team_id,
        last_id,
        taken,
        max(1, slice_days) * DAY,
    )


async def forget(pool: asyncpg.Pool, team_id: str, member_ids: Iterable[str]) -> None:
    """Drop the records of users who are no longer members (after a full read)."""
    async with pool.acquire() as conn, conn.transaction():
        await _copy_ids(conn, member_ids)
        await conn.execute(
            "DELETE FROM fetcher_photos f WHERE f.team_id = $1"
            " AND NOT EXISTS (SELECT 1 FROM fetcher_ids k WHERE k.directory_id = f.directory_id)",
            team_id,
        )


async def forget_ids(pool: asyncpg.Pool, team_id: str, gone: Collection[str]) -> None:
    await pool.execute(
        "DELETE FROM fetcher_photos WHERE team_id = $1 AND directory_id = ANY($2::text[])",
        team_id,
        list(gone),
    )
