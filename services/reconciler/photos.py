"""Profile photos (R5 photo, R7, R8): a PhotoFetched sets or clears the photo of the member bound to the user."""

from __future__ import annotations

import base64
import binascii

import asyncpg

from services.reconciler import runs
from shared.bus import PermanentError
from shared.messages import PhotoFetched


class RunStillOpen(RuntimeError):
    """The photo's run has not been applied yet, so its member may not exist: retry the message later."""


def photo_write(has_photo: bool, same: bool, removed: bool, sync: bool, overwrite: bool) -> str | None:
    """'set', 'delete' or None. A first photo comes with the sync toggle (or overwrite); a changed or removed
    one only with overwrite; an unchanged one writes nothing."""
    if removed:
        return "delete" if has_photo and overwrite else None
    if not has_photo:
        return "set" if sync or overwrite else None
    return "set" if overwrite and not same else None


async def store(conn: asyncpg.Connection, msg: PhotoFetched) -> None:
    run = await runs.load(conn, msg.run_id)
    if run is not None and run.active:
        raise RunStillOpen(f"run {msg.run_id} is not applied yet")
    config = run.config if run else None
    if config is None:
        return
    member = await conn.fetchrow(
        "SELECT m.id, p.etag, p.data FROM members m LEFT JOIN member_photos p ON p.member_id = m.id"
        " WHERE m.team_id = $1 AND m.directory_id = $2 AND m.status <> 'removed'",
        msg.team_id, msg.directory_id,
    )
    if member is None:
        return
    removed = msg.content_type is None
    data = b""
    if not removed:
        try:
            data = base64.b64decode(msg.data_b64 or "", validate=True)
        except binascii.Error as exc:
            raise PermanentError(f"photo of {msg.directory_id}: the data is not base64") from exc
    has_photo = member["data"] is not None
    same = has_photo and (member["etag"] == msg.etag if msg.etag else bytes(member["data"]) == data)
    toggles = config.toggles("photo")
    write = photo_write(has_photo, same, removed, toggles.sync, toggles.overwrite)
    if write == "delete":
        await conn.execute("DELETE FROM member_photos WHERE member_id = $1", member["id"])
    elif write == "set":
        await conn.execute(
            "INSERT INTO member_photos (member_id, content_type, etag, data) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (member_id) DO UPDATE SET content_type = EXCLUDED.content_type, etag = EXCLUDED.etag,"
            " data = EXCLUDED.data, updated_at = now()",
            member["id"], msg.content_type, msg.etag, data,
        )
