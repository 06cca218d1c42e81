"""Planner statistics after a large run. The next run joins its snapshot with the whole team; planned from
stale statistics (a team that a run just filled) those joins become row-by-row index probes, many times
slower. The ANALYZE runs in a transaction of its own: inside the apply's, its lock would serialise every
team's applies. (The snapshot's own tables are never analyzed: ``staging.gather`` plans without them.)"""

from __future__ import annotations

import asyncpg

LARGE = 5000  # staged users, or members written: below this, a run plans its pairs by key (state.open_pairs)

# The columns a run joins and filters the team's tables on: the cards' own columns, wide and never a join key,
# are left to autovacuum (sampling them was half of the time).
_KEYS = (
    "members (id, team_id, account_id, directory_id, managed, status, role, created_at)",
    "accounts (id, email_key, created_by_team)",
    "links (member_id, source, template_link_id)",
    "subteam_members (subteam_id, member_id, role)",
    "invites (member_id, status)",
)


async def after(conn: asyncpg.Connection, written: int) -> None:
    if written >= LARGE:
        await conn.execute("ANALYZE " + ", ".join(_KEYS))
