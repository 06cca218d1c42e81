"""R13: applying a team template to a member; the synced email and phone move into the template's links.

The control API applies a template on an admin's request; the reconciler's apply keeps the synced values in
the template's links on every later run."""

from __future__ import annotations

import asyncpg

from shared.card_links import LINK_FIELDS


async def apply_template(conn: asyncpg.Connection, member_id: str, template_id: str) -> None:
    """Give the member the template's links (once each), drop a previous template's, and move the synced
    email and phone values into the template's email and phone links, leaving no duplicate. Run it in the
    caller's transaction."""
    await conn.execute(
        "UPDATE members SET template_id = $2, updated_at = now() WHERE id = $1", member_id, template_id
    )
    # A previous template's link that holds a synced value becomes the sync's own link again.
    await conn.execute(
        "UPDATE links SET template_link_id = NULL FROM template_links t WHERE links.member_id = $1"
        " AND links.template_link_id = t.id AND t.template_id <> $2 AND links.source IS NOT NULL",
        member_id,
        template_id,
    )
    await conn.execute(
        "DELETE FROM links l USING template_links t WHERE l.member_id = $1 AND l.template_link_id = t.id"
        " AND t.template_id <> $2",
        member_id,
        template_id,
    )
    await conn.execute(
        """
        INSERT INTO links (member_id, type, label, value, template_link_id, position)
        SELECT $1, t.type, t.label, t.value, t.id, t.position FROM template_links t
         WHERE t.template_id = $2
           AND NOT EXISTS (SELECT 1 FROM links l WHERE l.member_id = $1 AND l.template_link_id = t.id)
        """,
        member_id,
        template_id,
    )
    for source, (kind, _) in LINK_FIELDS.items():
        await _move(conn, member_id, source, kind)


async def _move(conn: asyncpg.Connection, member_id: str, source: str, kind: str) -> None:
    target = await conn.fetchval(
        "SELECT id FROM links WHERE member_id = $1 AND template_link_id IS NOT NULL AND source IS NULL"
        " AND type = $2 ORDER BY position, id LIMIT 1",
        member_id,
        kind,
    )
    if target is None:
        return
    value = await conn.fetchval(
        "DELETE FROM links WHERE member_id = $1 AND source = $2 AND template_link_id IS NULL RETURNING value",
        member_id,
        source,
    )
    if value is not None:
        await conn.execute("UPDATE links SET source = $2, value = $3 WHERE id = $1", target, source, value)
