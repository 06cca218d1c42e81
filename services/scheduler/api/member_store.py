"""Reading members as the API shows them: the member, its account, card, links, subteams and invite."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from uuid import UUID

import asyncpg

from services.scheduler.api.models.members import CardOut, InviteOut, LinkOut, MemberOut, MemberSubteamOut

_SELECT = """
SELECT m.id, m.account_id, a.email AS login_email, m.directory_id, m.managed, m.status, m.role,
       m.subscription_active, m.template_id, m.card_name, m.card_email, m.card_job_title, m.card_company,
       m.card_phone, m.card_location, m.card_fields, m.created_at,
       EXISTS (SELECT 1 FROM member_photos p WHERE p.member_id = m.id) AS has_photo,
       i.status AS invite_status, i.sent_at AS invite_sent_at
FROM members m
JOIN accounts a ON a.id = m.account_id
LEFT JOIN invites i ON i.member_id = m.id
"""


def _member(row: asyncpg.Record, links: list[LinkOut], subteams: list[MemberSubteamOut]) -> MemberOut:
    invite = (
        InviteOut(status=row["invite_status"], sent_at=row["invite_sent_at"])
        if row["invite_status"]
        else None
    )
    card = CardOut(
        name=row["card_name"],
        email=row["card_email"],
        job_title=row["card_job_title"],
        company=row["card_company"],
        phone=row["card_phone"],
        location=row["card_location"],
        has_photo=row["has_photo"],
        fields=row["card_fields"],
    )
    return MemberOut(
        id=row["id"],
        account_id=row["account_id"],
        login_email=row["login_email"],
        directory_id=row["directory_id"],
        managed=row["managed"],
        status=row["status"],
        role=row["role"],
        subscription_active=row["subscription_active"],
        invite=invite,
        card=card,
        links=links,
        subteams=subteams,
        template_id=row["template_id"],
    )


async def _assemble(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[MemberOut]:
    ids = [r["id"] for r in rows]
    links: dict[UUID, list[LinkOut]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT member_id, id, type, label, value, template_link_id FROM links WHERE member_id = ANY($1)"
        " ORDER BY member_id, position, id",
        ids,
    ):
        links[r["member_id"]].append(LinkOut(**{k: r[k] for k in LinkOut.model_fields}))
    subteams: dict[UUID, list[MemberSubteamOut]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT sm.member_id, s.id, s.name, sm.role"
        " FROM subteam_members sm JOIN subteams s ON s.id = sm.subteam_id"
        " WHERE sm.member_id = ANY($1) ORDER BY s.name, s.id",
        ids,
    ):
        subteams[r["member_id"]].append(MemberSubteamOut(id=r["id"], name=r["name"], role=r["role"]))
    return [_member(r, links[r["id"]], subteams[r["id"]]) for r in rows]


async def load_member(conn: asyncpg.Connection, team_id: UUID, member_id: UUID) -> MemberOut | None:
    row = await conn.fetchrow(_SELECT + "WHERE m.team_id = $1 AND m.id = $2", team_id, member_id)
    return (await _assemble(conn, [row]))[0] if row else None


async def load_page(
    conn: asyncpg.Connection,
    team_id: UUID,
    status: str | None,
    limit: int,
    after: tuple[datetime, UUID] | None,
    search: str | None = None,
    subteam: UUID | None = None,
) -> tuple[list[MemberOut], tuple[datetime, UUID] | None]:
    """One page in (created_at, id) order, and the key to continue after it (None on the last page).

    ``search`` matches a part of the card's name or email or of the login, in any case; it filters the team's
    rows as the page walks them (a team's members are read in the page index's order), so a rare match at
    100,000 members costs a scan of the team, tens of milliseconds, not a query per row."""
    where, args = ["m.team_id = $1"], [team_id]
    if status is not None:
        args.append(status)
        where.append(f"m.status = ${len(args)}")
    if search:
        args.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = len(args)
        where.append(f"(m.card_name ILIKE ${n} OR m.card_email ILIKE ${n} OR a.email ILIKE ${n})")
    if subteam is not None:
        args.append(subteam)
        where.append(
            "EXISTS (SELECT 1 FROM subteam_members sm WHERE sm.member_id = m.id AND sm.subteam_id = "
            f"${len(args)})"
        )
    if after is not None:
        args.extend(after)
        where.append(f"(m.created_at, m.id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await conn.fetch(
        _SELECT + f"WHERE {' AND '.join(where)} ORDER BY m.created_at, m.id LIMIT ${len(args)}", *args
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return await _assemble(conn, rows), last
