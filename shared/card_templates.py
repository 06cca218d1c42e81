"""R13: applying a team template to a member; the synced email and phone move into the template's links.

The control API applies a template on an admin's request; the reconciler's apply keeps the synced values in
the template's links on every later run."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.card_links import LINK_FIELDS


async def apply_template(conn: asyncpg.Connection, member_id: str, template_id: str) -> None:
    """Give the member the template's links (once each), drop a previous template's, and move the synced
    email and phone values into the template's email and phone links, leaving no duplicate. Run it in the
    caller's transaction."""
    await apply_to_members(conn, [member_id], template_id)


async def apply_to_members(conn: asyncpg.Connection, member_ids: Sequence[str], template_id: str) -> None:
    """``apply_template`` for many members at once, a few statements whatever their number."""
    await conn.execute(
        "UPDATE members SET template_id = $2, updated_at = now() WHERE id = ANY($1::uuid[])",
        member_ids,
        template_id,
    )
    # A previous template's link that holds a synced value becomes the sync's own link again.
    await conn.execute(
        "UPDATE links SET template_link_id = NULL FROM template_links t"
        " WHERE links.member_id = ANY($1::uuid[]) AND links.template_link_id = t.id AND t.template_id <> $2"
        " AND links.source IS NOT NULL",
        member_ids,
        template_id,
    )
    await conn.execute(
        "DELETE FROM links l USING template_links t WHERE l.member_id = ANY($1::uuid[])"
        " AND l.template_link_id = t.id AND t.template_id <> $2",
        member_ids,
        template_id,
    )
    await conn.execute(
        """
        INSERT INTO links (member_id, type, label, value, template_link_id, position)
        SELECT m.id, t.type, t.label, t.value, t.id, t.position
          FROM unnest($1::uuid[]) AS m(id) CROSS JOIN template_links t
         WHERE t.template_id = $2
           AND NOT EXISTS (SELECT 1 FROM links l WHERE l.member_id = m.id AND l.template_link_id = t.id)
        """,
        member_ids,
        template_id,
    )
    for source, (kind, _) in LINK_FIELDS.items():
        await conn.execute(_MOVE, member_ids, kind, source)


async def edit_template(
    conn: asyncpg.Connection, template_id: str, links: list[tuple[str, str, str]]
) -> None:
    """Give the template these links, ``(type, label, value)`` in order, and every member it is applied to
    the same (R13): a link kept at its place is changed in place, on the members' cards too (a synced value
    stays the member's own), a link gone goes from the cards (a synced value in it stays as the sync's own
    link), a new one is added to them and takes the member's synced email or phone. Run it in the caller's
    transaction."""
    kept = await conn.fetch(
        "SELECT id FROM template_links WHERE template_id = $1 ORDER BY position, id FOR UPDATE", template_id
    )
    gone = [r["id"] for r in kept[len(links) :]]
    if gone:
        await conn.execute(
            "UPDATE links SET template_link_id = NULL WHERE template_link_id = ANY($1::uuid[])"
            " AND source IS NOT NULL",
            gone,
        )
        await conn.execute("DELETE FROM links WHERE template_link_id = ANY($1::uuid[])", gone)
        await conn.execute("DELETE FROM template_links WHERE id = ANY($1::uuid[])", gone)
    for position, ((kind, label, value), row) in enumerate(zip(links, kept, strict=False)):
        await conn.execute(
            "UPDATE template_links SET type = $2, label = $3, value = $4, position = $5 WHERE id = $1",
            row["id"],
            kind,
            label,
            value,
            position,
        )
    if len(links) > len(kept):
        extra = links[len(kept) :]
        await conn.execute(
            "INSERT INTO template_links (template_id, position, type, label, value)"
            " SELECT $1, p, t, l, v"
            " FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS x(p, t, l, v)",
            template_id,
            list(range(len(kept), len(links))),
            [k for k, _, _ in extra],
            [label for _, label, _ in extra],
            [v for _, _, v in extra],
        )
    # A synced value whose link changes type stays where it was, as the sync's own link.
    await conn.execute(
        "UPDATE links l SET template_link_id = NULL FROM template_links t WHERE l.template_link_id = t.id"
        " AND t.template_id = $1 AND l.source IS NOT NULL AND l.type <> t.type",
        template_id,
    )
    await conn.execute(
        "UPDATE links l SET type = t.type, label = t.label, position = t.position,"
        " value = CASE WHEN l.source IS NULL THEN t.value ELSE l.value END"
        " FROM template_links t WHERE l.template_link_id = t.id AND t.template_id = $1",
        template_id,
    )
    members = await conn.fetch("SELECT id FROM members WHERE template_id = $1 ORDER BY id", template_id)
    await apply_to_members(conn, [m["id"] for m in members], template_id)


# Each member's synced value of a source (its own link of that source) moves into the first template link of
# its kind that holds no synced value yet, for every member that has such a link.
_MOVE = """
WITH target AS (
    SELECT DISTINCT ON (member_id) member_id, id FROM links
     WHERE member_id = ANY($1::uuid[]) AND template_link_id IS NOT NULL AND source IS NULL AND type = $2
     ORDER BY member_id, position, id),
moved AS (
    DELETE FROM links l USING target t
     WHERE l.member_id = t.member_id AND l.source = $3 AND l.template_link_id IS NULL
    RETURNING l.member_id, l.value)
UPDATE links SET source = $3, value = m.value
  FROM target t JOIN moved m USING (member_id) WHERE links.id = t.id
"""
