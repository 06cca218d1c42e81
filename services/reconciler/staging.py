"""Staging a snapshot: each page of a fetch attempt once, its users as mapped cards, then the completion; and
when an attempt is whole. Only the attempt a completion names makes the snapshot: a refetch (a redelivered
request) stages apart, so pages of an interrupted attempt never mix in.

A page's users are appended with COPY, one row per listed user, so pages stage side by side; a user whom
several groups list has several rows, which ``gather`` makes one, with all its groups, when the run is
applied. Nested groups list most users more than once: the users whose mapping a committed page of the attempt
holds (``Mapped``) are staged by id alone, all of a page's in one row of ``snapshot_listings``."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import asyncpg
import orjson

from services.reconciler.fields import Overwritten, fingerprint, overwritten
from services.reconciler.mapping import SkipUser, map_user
from services.reconciler.planner_statistics import LARGE
from shared import runs
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
    photos: bool = False  # the fetcher checks photos once the run is applied
    gone_groups: list[str] = field(default_factory=list)  # synced groups the directory no longer has
    excluded: list[dict[str, str]] = field(default_factory=list)  # R2 scope: left out by the rules
    excluded_count: int = 0


StagedUser = tuple[str, bytes | None, list[str | None] | None, str | None, str | None, str | None]
_COLUMNS = (
    "run_id",
    "attempt",
    "seq",
    "group_id",
    "directory_id",
    "card",
    "want",
    "email_key",
    "login_key",
    "skip",
)


def staged_user(user: DirectoryUser, config: SyncConfig, spec: Overwritten | None = None) -> StagedUser:
    """(directory id, card as JSON, fingerprint, email key, login key, skip reason) of one listed user;
    ``spec`` as for ``fingerprint``."""
    try:
        card = map_user(user.properties, config, user.id)
    except SkipUser as exc:
        return user.id, None, None, None, None, str(exc)
    want = fingerprint(card, config, spec)
    return user.id, orjson.dumps(card.to_json()), want, card.email_key, card.login_key, None


class Mapped:
    """The users this process staged with their card, per recent attempt: a hint, never a need (another
    replica, or this one after a restart, maps a user again). Ids are added only once their page has
    committed."""

    ATTEMPTS = 4  # runs staging at once in one process; an older one only maps again

    def __init__(self) -> None:
        self._by_attempt: OrderedDict[tuple[str, str], set[str]] = OrderedDict()

    def of(self, run_id: str, attempt: str) -> set[str]:
        key = (run_id, attempt)
        ids = self._by_attempt.pop(key, None) or set()
        self._by_attempt[key] = ids
        while len(self._by_attempt) > self.ATTEMPTS:
            self._by_attempt.popitem(last=False)
        return ids

    def forget(self, run_id: str) -> None:
        for key in [k for k in self._by_attempt if k[0] == run_id]:
            del self._by_attempt[key]


async def stage_page(
    conn: asyncpg.Connection, msg: MembersFetched, config: SyncConfig, mapped: AbstractSet[str] = frozenset()
) -> list[str] | None:
    """Stage one page, mapping only the users not in ``mapped``; the ids it mapped, or None when this page was
    staged before (a redelivery)."""
    status = await conn.execute(
        "INSERT INTO snapshot_pages (run_id, attempt, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        msg.run_id,
        msg.attempt,
        msg.seq,
    )
    if status.endswith(" 0"):
        return None
    # A user listed twice on a page counts once (the last listing).
    users = {u.id: u for u in reversed(msg.users) if u.id}
    spec = overwritten(config)
    page = (uuid.UUID(msg.run_id), msg.attempt, msg.seq, msg.group_id)
    fresh = [user for user in users.values() if user.id not in mapped]
    if fresh:
        await conn.copy_records_to_table(
            "snapshot_users",
            columns=_COLUMNS,
            records=[(*page, *staged_user(user, config, spec)) for user in fresh],
        )
    if again := [i for i in users if i in mapped]:
        await conn.execute(
            "INSERT INTO snapshot_listings (run_id, attempt, seq, group_id, ids) VALUES ($1, $2, $3, $4, $5)",
            *page,
            again,
        )
    if msg.removed_ids:
        await conn.execute(
            "INSERT INTO snapshot_removals (run_id, attempt, directory_id, group_id)"
            " SELECT $1, $2, d, $3 FROM unnest($4::text[]) AS d ON CONFLICT DO NOTHING",
            msg.run_id,
            msg.attempt,
            msg.group_id or GONE,
            list(dict.fromkeys(msg.removed_ids)),
        )
    return [user.id for user in fresh]


async def record_completion(conn: asyncpg.Connection, msg: SnapshotCompleted) -> None:
    await conn.execute(
        "INSERT INTO snapshot_completions (run_id, attempt, pages, mode, groups, roles, skipped, photos,"
        " gone_groups, excluded, excluded_count)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        msg.run_id,
        msg.attempt,
        msg.pages,
        msg.mode,
        [g.model_dump() for g in msg.groups],
        msg.roles,
        msg.skipped,
        msg.photos,
        msg.gone_groups,
        msg.excluded,
        msg.excluded_count,
    )
    await runs.record_graph_requests(conn, msg.run_id, msg.graph_requests)


async def completion_recorded(conn: asyncpg.Connection, run_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM snapshot_completions WHERE run_id = $1)", run_id)


async def complete(conn: asyncpg.Connection, run_id: str) -> Completion | None:
    """A recorded completion whose attempt has every page it announced staged; else None."""
    row = await conn.fetchrow(
        "SELECT c.attempt, c.pages, c.mode, c.groups, c.roles, c.skipped, c.photos, c.gone_groups,"
        " c.excluded, c.excluded_count FROM snapshot_completions c"
        " WHERE c.run_id = $1 AND c.pages <= (SELECT count(*) FROM snapshot_pages p"
        "  WHERE p.run_id = c.run_id AND p.attempt = c.attempt AND p.seq < c.pages)"
        " ORDER BY c.received_at LIMIT 1",
        run_id,
    )
    return None if row is None else Completion(**dict(row))


async def add_unreadable(conn: asyncpg.Connection, unreadable: dict[str, str]) -> None:
    """Users the fetch listed but could not read (directory id -> why), gathered as skipped unless a page did
    stage them: present in the directory, their members stay (R9 removes nobody on a record it could not
    read), and each is reported on the run once."""
    if unreadable:
        await conn.execute(
            "INSERT INTO seen_users (directory_id, groups, skip) SELECT id, '{}', why"
            " FROM unnest($1::text[], $2::text[]) AS u(id, why) ON CONFLICT (directory_id) DO NOTHING",
            list(unreadable),
            list(unreadable.values()),
        )


# Each user once, in one pass over its rows (sorted by id, bytewise: the order does not matter, only the
# grouping): the groups of all its listings; where one of its rows with a card is (the card itself, wide,
# stays where it is: only the users the rules see read it, in ``state``, by the row's ctid, which holds while
# the run's transaction reads the table: no one updates staged rows, and the lock the transaction keeps on the
# table until it ends keeps VACUUM FULL and CLUSTER out); the fingerprint and keys of that row; else its
# reason to be skipped. A user whose card several rows hold (replicas, or pages staged at once, each mapped
# it) most often reads the same in each; should two reads differ (the user changed between two groups' pages),
# the fingerprint and keys are read again from the row whose card the run takes, so that they always belong
# together.
_GATHER = """
INSERT INTO seen_users
SELECT directory_id, groups, card_row,
       CASE WHEN cards > 1 THEN (SELECT u.want FROM snapshot_users u WHERE u.ctid = card_row) ELSE want END,
       CASE WHEN cards > 1 THEN (SELECT u.email_key FROM snapshot_users u WHERE u.ctid = card_row) ELSE
           email_key END,
       CASE WHEN cards > 1 THEN (SELECT u.login_key FROM snapshot_users u WHERE u.ctid = card_row) ELSE
           login_key END,
       CASE WHEN cards = 0 THEN skip END
  FROM (SELECT directory_id COLLATE "C" AS directory_id,
               coalesce(array_agg(group_id) FILTER (WHERE group_id IS NOT NULL), '{}') AS groups,
               count(*) FILTER (WHERE carded) AS cards, min(row) FILTER (WHERE carded) AS card_row,
               min(want) FILTER (WHERE carded) AS want, min(email_key) FILTER (WHERE carded) AS email_key,
               min(login_key) FILTER (WHERE carded) AS login_key, min(skip) AS skip
          FROM (SELECT directory_id, group_id, skip, ctid AS row, card IS NOT NULL AS carded, want, email_key,
                       login_key
                  FROM snapshot_users WHERE run_id = $1 AND attempt = $2
                UNION ALL
                SELECT unnest(ids), group_id, NULL, NULL, false, NULL, NULL, NULL
                  FROM snapshot_listings WHERE run_id = $1 AND attempt = $2) listed
         GROUP BY directory_id COLLATE "C") g
"""


# Made once per connection, emptied by each commit (as the writer's tables are).
_SEEN_USERS = (
    "CREATE TEMP TABLE IF NOT EXISTS seen_users (directory_id text, groups text[], card_row tid, want text[],"
    " email_key text, login_key text, skip text) ON COMMIT DELETE ROWS;"
    "CREATE UNIQUE INDEX IF NOT EXISTS seen_users_once ON seen_users (directory_id)"
)


async def gather(conn: asyncpg.Connection, run_id: str, attempt: str) -> int:
    """``seen_users``: the staged snapshot with one row per user, for the rest of the run's transaction; how
    many users it holds."""
    await conn.execute(_SEEN_USERS)
    status = await conn.execute(_GATHER, run_id, attempt)
    seen = int(status.rsplit(" ", 1)[1])
    if seen >= LARGE:
        # A narrow table, quickly sampled: the users' match with the team's members and accounts is then
        # planned as joins, not as an index probe per user. Its row count and the keys' distinctness are what
        # matters; a small sample tells them as well as the default one, at a fifth of the time.
        await conn.execute("SET LOCAL default_statistics_target = 10")
        await conn.execute("ANALYZE seen_users (directory_id, email_key, login_key, skip)")
        await conn.execute("RESET default_statistics_target")
    return seen
