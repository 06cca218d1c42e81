"""Planner statistics after a large run. The next run joins its snapshot with the whole team; planned from stale
statistics (a team that a run just filled) those joins become row-by-row index probes, many times slower. The
ANALYZE runs in a transaction of its own: inside the apply's, its lock would serialise every team's applies. (The
snapshot's own tables are never analyzed: ``staging.gather`` plans without them.)"""

from __future__ import annotations

import asyncpg

LARGE = 5000  # staged users, or members written: below this, any plan is fast


async def after(conn: asyncpg.Connection, written: int) -> None:
    if written >= LARGE:
        await conn.execute("ANALYZE members, accounts, links, subteam_members, invites")
