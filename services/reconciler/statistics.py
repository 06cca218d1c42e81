"""Planner statistics around a large run. The gathering joins a whole snapshot with a whole team; planned from
stale statistics (a snapshot staged a moment ago, a team that a run just filled) those joins become row-by-row
index probes, many times slower. Each ANALYZE runs in a transaction of its own: inside the apply's, its lock
would serialise every team's applies."""

from __future__ import annotations

import asyncpg

LARGE = 5000  # staged users, or members written: below this, any plan is fast
PAGE_USERS = 999


async def before(conn: asyncpg.Connection, run_id: str) -> None:
    pages = await conn.fetchval(
        "SELECT max(pages) FROM snapshot_completions WHERE run_id = $1", run_id
    )
    if (pages or 0) * PAGE_USERS >= LARGE:
        await conn.execute("ANALYZE snapshot_users (run_id, attempt, directory_id)")


async def after(conn: asyncpg.Connection, written: int) -> None:
    if written >= LARGE:
        await conn.execute("ANALYZE members, accounts, links, subteam_members, invites")
