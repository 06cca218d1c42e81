"""Profile photos (R5 photo, R7, R8). A PhotoFetched is staged (per team and directory user; a later message
replaces an earlier one) and set on the member at once when the member exists. The fetcher sends photos right
after the snapshot, so most arrive while their run is still being applied: they wait staged, and the end of
each apply moves the staged photos of the members that now exist. No message waits for a run or is retried."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator

import asyncpg

from services.reconciler import runs
from shared.bus import PermanentError
from shared.config import SyncConfig
from shared.messages import PhotoFetched

CHUNK = 2000

# Staged photos whose member exists, with what the decision needs (never the image itself).
_READY = """
SELECT m.id AS member_id, p.content_type IS NULL AS removed, mp.member_id IS NOT NULL AS has_photo,
       coalesce(CASE WHEN p.etag IS NOT NULL THEN mp.etag = p.etag ELSE mp.data = p.data END, false) AS same
  FROM staged_photos p
  JOIN members m ON m.team_id = p.team_id AND m.directory_id = p.directory_id AND m.status <> 'removed'
  LEFT JOIN member_photos mp ON mp.member_id = m.id
 WHERE p.team_id = $1
"""
# One photo: its own statement, so the plan is a look-up by key and never the generic scan of the team's photos.
_READY_ONE = _READY + " AND p.directory_id = $2"

# The decisions travel as two arrays (member ids, writes): no temporary table, whose catalog rows would cost more
# than the write itself for the one photo of a message.
_DECIDED = "unnest($1::uuid[], $2::text[]) AS d(member_id, write)"
_WRITE = (
    f"""DELETE FROM member_photos mp USING {_DECIDED} WHERE d.write = 'delete' AND mp.member_id = d.member_id""",
    f"""INSERT INTO member_photos (member_id, content_type, etag, data)
       SELECT d.member_id, p.content_type, p.etag, p.data
         FROM {_DECIDED} JOIN members m ON m.id = d.member_id
         JOIN staged_photos p ON p.team_id = m.team_id AND p.directory_id = m.directory_id
        WHERE d.write = 'set'
       ON CONFLICT (member_id) DO UPDATE SET content_type = EXCLUDED.content_type, etag = EXCLUDED.etag,
          data = EXCLUDED.data, updated_at = now()""",
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


def _image(msg: PhotoFetched) -> bytes | None:
    if msg.content_type is None:
        return None
    try:
        return base64.b64decode(msg.data_b64 or "", validate=True)
    except binascii.Error as exc:
        raise PermanentError(f"photo of {msg.directory_id}: the data is not base64") from exc


async def store(conn: asyncpg.Connection, msg: PhotoFetched) -> None:
    """Stage the photo, and set it on its member when the member exists. Run it in the caller's transaction."""
    data = _image(msg)
    # Shared: photos never wait for each other, only for the end of an apply (apply_staged's exclusive lock).
    await runs.lock(conn, "photos", msg.team_id, shared=True)
    await conn.execute(
        """
        INSERT INTO staged_photos (team_id, directory_id, etag, content_type, data, sent_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (team_id, directory_id) DO UPDATE SET etag = EXCLUDED.etag,
           content_type = EXCLUDED.content_type, data = EXCLUDED.data, sent_at = EXCLUDED.sent_at
         WHERE staged_photos.sent_at <= EXCLUDED.sent_at
        """,
        msg.team_id, msg.directory_id, msg.etag, msg.content_type, data, msg.sent_at,
    )
    run = await runs.load(conn, msg.run_id)
    if run is not None and run.config is not None:
        await _move(conn, msg.team_id, msg.directory_id, run.config)


async def apply_staged(conn: asyncpg.Connection, team_id: str, config: SyncConfig) -> None:
    """At the end of an apply, in its transaction: move the staged photos of the members that now exist."""
    # Photo messages that staged before this point have committed; later ones wait for this transaction, and
    # then find their member.
    await runs.lock(conn, "photos", team_id)
    await _move(conn, team_id, None, config)


async def _move(conn: asyncpg.Connection, team_id: str, directory_id: str | None, config: SyncConfig) -> None:
    toggles = config.toggles("photo")
    if directory_id is None:
        ready = conn.cursor(_READY, team_id, prefetch=CHUNK)
    else:
        ready = _rows(await conn.fetch(_READY_ONE, team_id, directory_id))
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
