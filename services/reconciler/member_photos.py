"""Profile photos (R5 photo, R7, R8). Each photo of a PhotosFetched is staged (per team and directory user; a
later message replaces an earlier one) and set on the member at once when the member exists. The fetcher sends
photos once their run is applied (RunApplied), so their members exist; one that finds none (a member another
run removed meanwhile, and brings back) waits staged, and the end of each apply moves the staged photos of the
members that now exist. No message waits for a run or is retried.

Photos come by the tens of thousands on a first sync, twenty users' worth to a message at most: the reconciler
stores the messages that arrive together in one transaction (``store_many``), one statement each step."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared import run_locks, runs
from shared.config import SyncConfig
from shared.errors import Permanent
from shared.messages import PhotosFetched

CHUNK = 2000

# Staged photos whose member exists, with what the decision needs (never the image itself).
_DECISION = """
SELECT m.id AS member_id, p.content_type IS NULL AS removed, mp.member_id IS NOT NULL AS has_photo,
       coalesce(CASE WHEN p.etag IS NOT NULL THEN mp.etag = p.etag ELSE mp.data = p.data END, false) AS same
"""
_READY = (
    _DECISION
    + """
  FROM staged_photos p
  JOIN members m ON m.team_id = p.team_id AND m.directory_id = p.directory_id AND m.status <> 'removed'
  LEFT JOIN member_photos mp ON mp.member_id = m.id
 WHERE p.team_id = $1
"""
)
# Some photos, driven by their ids: look-ups by key. (members' (team, directory id) index is partial, and a
# join clause does not prove its predicate: joined from staged_photos, the plan would read the whole team's
# members.)
_READY_SOME = (
    _DECISION
    + """
  FROM unnest($2::text[]) AS d(directory_id)
  JOIN staged_photos p ON p.team_id = $1 AND p.directory_id = d.directory_id
  JOIN members m ON m.team_id = $1 AND m.directory_id = d.directory_id AND m.status <> 'removed'
  LEFT JOIN member_photos mp ON mp.member_id = m.id
 ORDER BY m.id
"""
)
# A batch of photos, at most one per (team, user), staged in key order: concurrent batches lock rows alike.
_STAGE = """
INSERT INTO staged_photos (team_id, directory_id, etag, content_type, data, sent_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::timestamptz[])
 ORDER BY 1, 2
ON CONFLICT (team_id, directory_id) DO UPDATE SET etag = EXCLUDED.etag,
   content_type = EXCLUDED.content_type, data = EXCLUDED.data, sent_at = EXCLUDED.sent_at
 WHERE staged_photos.sent_at <= EXCLUDED.sent_at
"""

# The decisions travel as two arrays (member ids, writes): no temporary table, whose catalog rows would cost
# more than the write itself for the one photo of a message.
_DECIDED = "unnest($1::uuid[], $2::text[]) AS d(member_id, write)"
# A photo older than the member's (by the send time of its message) is consumed and changes nothing.
_NEWER = "(mp.sent_at IS NULL OR mp.sent_at <= p.sent_at)"
_WRITE = (
    f"""DELETE FROM member_photos mp USING {_DECIDED}, members m, staged_photos p
        WHERE d.write = 'delete' AND mp.member_id = d.member_id AND m.id = d.member_id
          AND p.team_id = m.team_id AND p.directory_id = m.directory_id AND {_NEWER}""",
    f"""INSERT INTO member_photos AS mp (member_id, content_type, etag, data, sent_at)
       SELECT d.member_id, p.content_type, p.etag, p.data, p.sent_at
         FROM {_DECIDED} JOIN members m ON m.id = d.member_id
         JOIN staged_photos p ON p.team_id = m.team_id AND p.directory_id = m.directory_id
        WHERE d.write = 'set'
       ON CONFLICT (member_id) DO UPDATE SET content_type = EXCLUDED.content_type, etag = EXCLUDED.etag,
          data = EXCLUDED.data, sent_at = EXCLUDED.sent_at, updated_at = now()
        WHERE mp.sent_at IS NULL OR mp.sent_at <= EXCLUDED.sent_at""",
    f"""DELETE FROM staged_photos p USING {_DECIDED}, members m
        WHERE m.id = d.member_id AND p.team_id = m.team_id AND p.directory_id = m.directory_id""",
)


def photo_write(has_photo: bool, same: bool, removed: bool, sync: bool, overwrite: bool) -> str | None:
    """'set', 'delete' or None. A first photo comes with the sync toggle (or overwrite); a changed or removed
    one only with overwrite; an unchanged one writes nothing."""
    if removed:
        return "delete" if has_photo and overwrite else None
    if not has_photo:
        return "set" if sync or overwrite else None
    return "set" if overwrite and not same else None


@dataclass(frozen=True, slots=True)
class Photo:
    """A fetched photo with its image decoded: what is staged."""

    team_id: str
    run_id: str
    directory_id: str
    etag: str | None
    content_type: str | None
    data: bytes | None
    sent_at: datetime


def decode(msg: PhotosFetched) -> list[Photo]:
    """The message's photos; Permanent when one's data is not base64 (that message alone is refused)."""
    photos = []
    for photo in msg.photos:
        data = None
        if photo.content_type is not None:
            try:
                data = base64.b64decode(photo.data_b64 or "", validate=True)
            except binascii.Error as exc:
                raise Permanent(f"photo of {photo.directory_id}: the data is not base64") from exc
        photos.append(
            Photo(
                msg.team_id, msg.run_id, photo.directory_id, photo.etag, photo.content_type, data, msg.sent_at
            )
        )
    return photos


async def store_many(conn: asyncpg.Connection, batch: Sequence[Photo]) -> None:
    """Stage the photos, and set each on its member when the member exists, in the caller's transaction: of
    two photos of one user the later message wins, as it would one after the other."""
    latest: dict[tuple[str, str], Photo] = {}
    for photo in batch:
        key = (photo.team_id, photo.directory_id)
        if key not in latest or latest[key].sent_at <= photo.sent_at:
            latest[key] = photo
    # Shared: photos never wait for each other, only for the end of an apply (apply_staged's exclusive lock).
    for team_id in sorted({team_id for team_id, _ in latest}):
        await run_locks.lock(conn, "photos", team_id, shared=True)
    staged = list(latest.values())
    if not staged:
        return
    await conn.execute(
        _STAGE,
        *(
            list(column)
            for column in zip(
                *((p.team_id, p.directory_id, p.etag, p.content_type, p.data, p.sent_at) for p in staged),
                strict=True,
            )
        ),
    )
    by_run: dict[tuple[str, str], list[str]] = defaultdict(list)
    for photo in staged:
        by_run[photo.run_id, photo.team_id].append(photo.directory_id)
    for (run_id, team_id), directory_ids in sorted(by_run.items()):
        run = await runs.load(conn, run_id)
        if run is not None and run.config is not None:
            await _move(conn, team_id, directory_ids, run.config)


async def apply_staged(conn: asyncpg.Connection, team_id: str, config: SyncConfig) -> None:
    """At the end of an apply, in its transaction: move the staged photos of the members that now exist."""
    # Photo messages that staged before this point have committed; later ones wait for this transaction, and
    # then find their member.
    await run_locks.lock(conn, "photos", team_id)
    await _move(conn, team_id, None, config)


async def _move(
    conn: asyncpg.Connection, team_id: str, directory_ids: list[str] | None, config: SyncConfig
) -> None:
    """Set the staged photos of ``directory_ids`` (every staged one of the team when None) on their
    members."""
    toggles = config.toggles("photo")
    if directory_ids is None:
        ready = conn.cursor(_READY, team_id, prefetch=CHUNK)
    else:
        ready = _rows(await conn.fetch(_READY_SOME, team_id, directory_ids))
    members: list[str] = []
    writes: list[str | None] = []
    async for r in ready:
        members.append(r["member_id"])
        writes.append(photo_write(r["has_photo"], r["same"], r["removed"], toggles.sync, toggles.overwrite))
    if members:
        for statement in _WRITE:
            await conn.execute(statement, members, writes)


async def _rows(rows: list[asyncpg.Record]) -> AsyncIterator[asyncpg.Record]:
    for row in rows:
        yield row
