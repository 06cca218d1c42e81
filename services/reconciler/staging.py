"""Staging a snapshot: each page of a fetch attempt once, its users as mapped cards, then the completion; and
when an attempt is whole. Only the attempt a completion names makes the snapshot: a refetch (a redelivered
request) stages apart, so pages of an interrupted attempt never mix in."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson

from services.reconciler.fields import Overwritten, fingerprint, overwritten
from services.reconciler.mapping import SkipUser, map_user
from shared.config import SyncConfig
from shared.messages import DirectoryUser, MembersFetched, SnapshotCompleted

GONE = "*"  # a delta page's removed_ids without a group: the user left every group


@dataclass(frozen=True)
class Completion:
    attempt: str
    pages: int
    mode: str
    groups: list[dict[str, str]]
    roles: dict[str, list[str]]
    skipped: list[dict[str, str]]


StagedUser = tuple[str, str | None, str | None, str | None, str | None, str | None]


def staged_user(user: DirectoryUser, config: SyncConfig, spec: Overwritten | None = None) -> StagedUser:
    """(directory id, card, fingerprint, email key, login key, skip reason) of one listed user; ``spec`` as for
    ``fingerprint``."""
    try:
        card = map_user(user.properties, config, user.id)
    except SkipUser as exc:
        return user.id, None, None, None, None, str(exc)
    return (user.id, orjson.dumps(card.to_json()).decode(), array_literal(fingerprint(card, config, spec)),
            card.email_key, card.login_key, None)


def array_literal(values: list[str | None] | None) -> str | None:
    """A text[] in PostgreSQL's input syntax: each row's array travels through ``unnest`` as one text."""
    if values is None:
        return None
    quoted = ("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


async def stage_page(conn: asyncpg.Connection, msg: MembersFetched, config: SyncConfig) -> bool:
    """Stage one page; False when this page was staged before (a redelivery)."""
    status = await conn.execute(
        "INSERT INTO snapshot_pages (run_id, attempt, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        msg.run_id, msg.attempt, msg.seq,
    )
    if status.endswith(" 0"):
        return False
    # One row per user: a user listed twice on a page counts once; one listed by several groups gathers them.
    users = {u.id: u for u in reversed(msg.users) if u.id}
    spec = overwritten(config)
    rows = [staged_user(user, config, spec) for user in users.values()]
    await conn.execute(
        """
        INSERT INTO snapshot_users (run_id, attempt, directory_id, groups, card, want, email_key, login_key, skip)
        SELECT $1, $2, u.id, $3::text[], u.c::jsonb, u.w::text[], u.k, u.l, u.s
          FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u(id, c, w, k, l, s)
        ON CONFLICT (run_id, attempt, directory_id) DO UPDATE SET groups = snapshot_users.groups || EXCLUDED.groups
        """,
        msg.run_id, msg.attempt, [msg.group_id] if msg.group_id else [], *columns(rows, 6),
    )
    if msg.removed_ids:
        await conn.execute(
            "INSERT INTO snapshot_removals (run_id, attempt, directory_id, group_id)"
            " SELECT $1, $2, d, $3 FROM unnest($4::text[]) AS d ON CONFLICT DO NOTHING",
            msg.run_id, msg.attempt, msg.group_id or GONE, list(dict.fromkeys(msg.removed_ids)),
        )
    return True


async def record_completion(conn: asyncpg.Connection, msg: SnapshotCompleted) -> None:
    await conn.execute(
        "INSERT INTO snapshot_completions (run_id, attempt, pages, mode, groups, roles, skipped)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        msg.run_id, msg.attempt, msg.pages, msg.mode, [g.model_dump() for g in msg.groups], msg.roles,
        msg.skipped,
    )
    await conn.execute("UPDATE sync_runs SET graph_requests = $2 WHERE id = $1", msg.run_id, msg.graph_requests)


async def complete(conn: asyncpg.Connection, run_id: str) -> Completion | None:
    """A recorded completion whose attempt has every page it announced staged; else None."""
    row = await conn.fetchrow(
        "SELECT c.attempt, c.pages, c.mode, c.groups, c.roles, c.skipped FROM snapshot_completions c"
        " WHERE c.run_id = $1 AND c.pages <= (SELECT count(*) FROM snapshot_pages p"
        "  WHERE p.run_id = c.run_id AND p.attempt = c.attempt AND p.seq < c.pages)"
        " ORDER BY c.received_at LIMIT 1",
        run_id,
    )
    return None if row is None else Completion(**dict(row))


def columns(rows: list[tuple], width: int) -> list[list]:
    """Rows as one list per column, for ``unnest``."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]
