"""Staging a snapshot: each page once, its users as mapped cards, then the completion; and when it is whole."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson

from services.reconciler.mapping import SkipUser, map_user
from shared.config import SyncConfig
from shared.messages import MembersFetched, SnapshotCompleted

GONE = "*"  # a delta page's removed_ids without a group: the user left every group


@dataclass(frozen=True)
class Completion:
    pages: int
    mode: str
    groups: list[dict[str, str]]
    roles: dict[str, list[str]]
    skipped: list[dict[str, str]]


async def stage_page(conn: asyncpg.Connection, msg: MembersFetched, config: SyncConfig) -> bool:
    """Stage one page; False when this page was staged before (a redelivery)."""
    status = await conn.execute(
        "INSERT INTO snapshot_pages (run_id, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING", msg.run_id, msg.seq
    )
    if status.endswith(" 0"):
        return False
    rows: list[tuple[str, str, str | None, str | None, str | None, str | None]] = []
    for user in msg.users:
        if not user.id:
            continue
        try:
            card = map_user(user.properties, config, user.id)
            rows.append((user.id, orjson.dumps(user.properties).decode(), orjson.dumps(card.to_json()).decode(),
                         card.email_key, card.login_key, None))
        except SkipUser as exc:
            rows.append((user.id, orjson.dumps(user.properties).decode(), None, None, None, str(exc)))
    await conn.execute(
        """
        INSERT INTO snapshot_users (run_id, directory_id, properties, card, email_key, login_key, skip)
        SELECT $1, u.id, u.p::jsonb, u.c::jsonb, u.k, u.l, u.s
          FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(id, p, c, k, l, s)
        ON CONFLICT DO NOTHING
        """,
        msg.run_id, *columns(rows, 6),
    )
    group = msg.group_id or GONE
    memberships = [(group, u.id, False) for u in msg.users if u.id and msg.group_id] + [
        (group, directory_id, True) for directory_id in msg.removed_ids
    ]
    if memberships:
        await conn.execute(
            """
            INSERT INTO snapshot_memberships (run_id, group_id, directory_id, removed)
            SELECT $1, m.g, m.d, m.r FROM unnest($2::text[], $3::text[], $4::bool[]) AS m(g, d, r)
            ON CONFLICT (run_id, group_id, directory_id) DO UPDATE SET removed = EXCLUDED.removed
            """,
            msg.run_id, *columns(memberships, 3),
        )
    return True


async def record_completion(conn: asyncpg.Connection, msg: SnapshotCompleted) -> None:
    await conn.execute(
        "INSERT INTO snapshot_completions (run_id, pages, mode, groups, roles, skipped)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        msg.run_id, msg.pages, msg.mode, [g.model_dump() for g in msg.groups], msg.roles, msg.skipped,
    )
    await conn.execute("UPDATE sync_runs SET graph_requests = $2 WHERE id = $1", msg.run_id, msg.graph_requests)


async def complete(conn: asyncpg.Connection, run_id: str) -> Completion | None:
    """The completion, once it was recorded and every page it announced is staged; else None."""
    row = await conn.fetchrow(
        "SELECT c.pages, c.mode, c.groups, c.roles, c.skipped,"
        " (SELECT count(*) FROM snapshot_pages p WHERE p.run_id = c.run_id AND p.seq < c.pages) AS staged"
        " FROM snapshot_completions c WHERE c.run_id = $1",
        run_id,
    )
    if row is None or row["staged"] < row["pages"]:
        return None
    return Completion(row["pages"], row["mode"], row["groups"], row["roles"], row["skipped"])


def columns(rows: list[tuple], width: int) -> list[list]:
    """Rows as one list per column, for ``unnest``."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]
