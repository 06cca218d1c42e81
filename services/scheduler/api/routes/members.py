"""Members: the paged list, one member, platform-side card edits, the photo, and applying a template (R13)."""

from __future__ import annotations

import hashlib
import re

from aiohttp import web

from services.scheduler.api import member_store
from services.scheduler.api.cursor import decode_cursor, encode_cursor
from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.members import (
    MemberOut,
    MemberPatch,
    MembersOut,
    MembersQuery,
    TemplateAssign,
)
from services.scheduler.api.models.templates import InvitesQueued
from services.scheduler.api.problems import Problem
from shared import db
from shared.card_links import link_problem
from shared.card_templates import apply_template
from shared.image_types import sniff
from shared.messages import PendingInvitesRequested
from shared.pending_invites import can_resend

_MEMBER = "/api/v1/teams/{team_id}/members/{member_id}"
_ETAG_CHARS = re.compile(r"[\x21\x23-\x7e]*")  # etagc of RFC 9110, ASCII only
_CARD_COLUMNS = {f: f"card_{f}" for f in ("name", "email", "job_title", "company", "phone", "location")}


def _no_member() -> Problem:
    return Problem(404, "no such member")


async def list_members(call: Call) -> web.Response:
    query: MembersQuery = call.query
    try:
        after = decode_cursor(query.cursor) if query.cursor else None
    except ValueError:
        raise Problem(400, "the cursor cannot be read: pass the next_cursor of a previous page") from None
    async with call.pool.acquire() as conn:
        members, last = await member_store.load_page(
            conn, call.team, query.status, query.limit, after, query.q, query.subteam
        )
    return json_response(MembersOut(members=members, next_cursor=encode_cursor(*last) if last else None))


async def get_member(call: Call) -> web.Response:
    async with call.pool.acquire() as conn:
        member = await member_store.load_member(conn, call.team, call.path_id("member_id"))
    if member is None:
        raise _no_member()
    return json_response(member)


async def patch_member(call: Call) -> web.Response:
    card = call.body.card
    member_id = call.path_id("member_id")
    sets, args = ["updated_at = now()"], [call.team, member_id]
    for name in card.model_fields_set & _CARD_COLUMNS.keys():
        args.append(getattr(card, name))
        sets.append(f"{_CARD_COLUMNS[name]} = ${len(args)}")
    if card.fields:
        args.append({k: v for k, v in card.fields.items() if v is not None})
        args.append([k for k, v in card.fields.items() if v is None])
        sets.append(f"card_fields = (card_fields || ${len(args) - 1}::jsonb) - ${len(args)}::text[]")
    async with call.pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            f"UPDATE members SET {', '.join(sets)} WHERE team_id = $1 AND id = $2", *args
        )
        if status == "UPDATE 0":
            raise _no_member()
        edited = sorted(card.model_fields_set)
        await call.audit("member.edit", {"member_id": str(member_id), "fields": edited}, conn)
        member = await member_store.load_member(conn, call.team, member_id)
    return json_response(member)


def photo_etag(stored: str) -> str:
    """The entity tag of the photo bytes, quoted once. The directory's tag arrives quoted and often weak
    (``W/"…"``); the bytes served are exactly the ones stored under it, so the tag is given strong."""
    opaque = stored.strip().removeprefix("W/").strip('"')
    if not _ETAG_CHARS.fullmatch(opaque):
        opaque = hashlib.sha256(stored.encode()).hexdigest()
    return f'"{opaque}"'


async def get_photo(call: Call) -> web.Response:
    row = await call.pool.fetchrow(
        "SELECT p.content_type, p.data, p.etag FROM member_photos p JOIN members m ON m.id = p.member_id"
        " WHERE m.team_id = $1 AND m.id = $2",
        call.team,
        call.path_id("member_id"),
    )
    if row is None:
        raise Problem(404, "this member has no photo")
    data = bytes(row["data"])
    # The type the bytes are, not the one stored with them (a row from before photos were checked has
    # Graph's); the browser is told not to guess, and that the answer may load and run nothing.
    kind = sniff(data)
    if kind is None:
        raise Problem(404, "this member's stored photo is not a JPEG, PNG or GIF image; it is not served")
    headers = {
        "Content-Type": kind,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if row["etag"]:
        headers["ETag"] = photo_etag(row["etag"])
    return web.Response(body=data, headers=headers)


async def put_template(call: Call) -> web.Response:
    body: TemplateAssign = call.body
    member_id = call.path_id("member_id")
    async with call.pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(
            "SELECT 1 FROM members WHERE team_id = $1 AND id = $2 FOR UPDATE", call.team, member_id
        ):
            raise _no_member()
        values = await conn.fetchval(
            "SELECT array(SELECT l.value FROM template_links l WHERE l.template_id = t.id)"
            " FROM templates t WHERE t.team_id = $1 AND t.id = $2",
            call.team,
            body.template_id,
        )
        if values is None:
            raise Problem(
                422,
                "the team has no such template",
                errors=[{"loc": ["template_id"], "msg": "the team has no such template"}],
            )
        # A template made before link values were checked may hold one no card may have.
        if bad := next((p for v in values if v and (p := link_problem(v))), None):
            msg = f"a link of this template {bad}; make the template again without it"
            raise Problem(422, msg, errors=[{"loc": ["template_id"], "msg": msg}])
        await apply_template(conn, member_id, body.template_id)
        details = {"member_id": str(member_id), "template_id": str(body.template_id)}
        await call.audit("member.template", details, conn)
        member = await member_store.load_member(conn, call.team, member_id)
    return json_response(member)


async def resend_invite(call: Call) -> web.Response:
    """The member's invite, sent again by the notifier as Send pending invites sends (R11), for this member
    only: a new email with a new link, the old link ending."""
    member_id = call.path_id("member_id")
    async with call.pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval(
            "SELECT status FROM members WHERE id = $1 AND team_id = $2", member_id, call.team
        )
        if status is None:
            raise _no_member()
        if not await can_resend(conn, call.team, member_id):
            why = (
                "has claimed the card" if status == "active" else "is removed" if status == "removed" else ""
            )
            raise Problem(409, f"this member has no invite to send{': it ' + why if why else ''}")
        message = PendingInvitesRequested(team_id=str(call.team), member_id=str(member_id))
        await db.enqueue(conn, message)
        await call.audit("member.invite", {"member_id": str(member_id)}, conn)
    return json_response(InvitesQueued(queued=1), 202)


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/members",
        list_members,
        "The team's members of every status (or one), a page at a time",
        {200: MembersOut},
        query=MembersQuery,
    ),
    Endpoint("GET", _MEMBER, get_member, "Read a member", {200: MemberOut}),
    Endpoint(
        "PATCH",
        _MEMBER,
        patch_member,
        "Edit a member's card on the platform",
        {200: MemberOut},
        body=MemberPatch,
    ),
    Endpoint(
        "GET",
        _MEMBER + "/photo",
        get_photo,
        "The member's photo as the directory gave it",
        {200: None},
        raw_responses={200: "image/*"},
        problems={404: "the member has no photo, or its stored photo is not a JPEG, PNG or GIF image"},
    ),
    Endpoint(
        "POST",
        _MEMBER + "/invite",
        resend_invite,
        "Send the member's invite again, with a new link",
        {202: InvitesQueued},
        problems={409: "the member has claimed the card, is removed, or has no invite"},
    ),
    Endpoint(
        "PUT",
        _MEMBER + "/template",
        put_template,
        "Apply one of the team's templates to the member",
        {200: MemberOut},
        body=TemplateAssign,
        problems={422: "the team has no such template, or one of its links is one no card may have"},
    ),
)
