"""Templates (R13), subteams and the sending of pending invites (R11)."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.models.templates import (
    InvitesQueued,
    SubteamOut,
    SubteamsOut,
    TemplateIn,
    TemplateLinkOut,
    TemplateOut,
    TemplatesOut,
)
from services.scheduler.api.problems import Problem
from shared import db
from shared.card_templates import edit_template
from shared.messages import PendingInvitesRequested
from shared.pending_invites import count_pending


async def create_template(call: Call) -> web.Response:
    body: TemplateIn = call.body
    async with call.pool.acquire() as conn, conn.transaction():
        template = await conn.fetchrow(
            "INSERT INTO templates (team_id, name) VALUES ($1, $2) RETURNING id, name, created_at",
            call.team,
            body.name,
        )
        links = await conn.fetch(
            "INSERT INTO template_links (template_id, position, type, label, value)"
            " SELECT $1, p, t, l, v"
            " FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS x(p, t, l, v)"
            " RETURNING id, type, label, value, position",
            template["id"],
            list(range(len(body.links))),
            [k.type for k in body.links],
            [k.label for k in body.links],
            [k.value for k in body.links],
        )
    ordered = sorted(links, key=lambda r: r["position"])
    return json_response(
        TemplateOut(**dict(template), links=[TemplateLinkOut(**dict(r)) for r in ordered]), 201
    )


async def change_template(call: Call) -> web.Response:
    """A template's new name and links; the members it is applied to follow (R13)."""
    body: TemplateIn = call.body
    template_id = call.path_id("template_id")
    async with call.pool.acquire() as conn, conn.transaction():
        template = await conn.fetchrow(
            "UPDATE templates SET name = $3 WHERE id = $1 AND team_id = $2 RETURNING id, name, created_at",
            template_id,
            call.team,
            body.name,
        )
        if template is None:
            raise Problem(404, "no such template")
        await edit_template(conn, template_id, [(k.type, k.label, k.value) for k in body.links])
        links = await conn.fetch(
            "SELECT id, type, label, value FROM template_links WHERE template_id = $1 ORDER BY position, id",
            template_id,
        )
        await call.audit("template.edit", {"template_id": str(template_id), "name": body.name}, conn)
    return json_response(TemplateOut(**dict(template), links=[TemplateLinkOut(**dict(r)) for r in links]))


async def list_templates(call: Call) -> web.Response:
    templates = await call.pool.fetch(
        "SELECT id, name, created_at FROM templates WHERE team_id = $1 ORDER BY created_at, id", call.team
    )
    links: dict[UUID, list[TemplateLinkOut]] = defaultdict(list)
    for r in await call.pool.fetch(
        "SELECT l.template_id, l.id, l.type, l.label, l.value FROM template_links l"
        " JOIN templates t ON t.id = l.template_id WHERE t.team_id = $1 ORDER BY l.position, l.id",
        call.team,
    ):
        links[r["template_id"]].append(TemplateLinkOut(**dict(r)))
    return json_response(
        TemplatesOut(templates=[TemplateOut(**dict(t), links=links[t["id"]]) for t in templates])
    )


async def list_subteams(call: Call) -> web.Response:
    # The places counted in one grouped join over the team's members: a count for each subteam looked up every
    # member it holds by its key (7 s for 300,000 members in 60 groups, where this takes under 1).
    rows = await call.pool.fetch(
        "SELECT s.id, s.name, s.directory_group_id, count(m.id) AS member_count FROM subteams s"
        " LEFT JOIN subteam_members sm ON sm.subteam_id = s.id"
        " LEFT JOIN members m ON m.id = sm.member_id AND m.team_id = $1 AND m.status <> 'removed'"
        " WHERE s.team_id = $1 GROUP BY s.id ORDER BY s.name, s.id",
        call.team,
    )
    return json_response(SubteamsOut(subteams=[SubteamOut(**dict(r)) for r in rows]))


async def send_invites(call: Call) -> web.Response:
    """The notifier queues and sends the invites; the answer says how many are pending now."""
    async with call.pool.acquire() as conn, conn.transaction():
        queued = await count_pending(conn, call.team)
        if queued:
            await db.enqueue(conn, PendingInvitesRequested(team_id=str(call.team)))
    return json_response(InvitesQueued(queued=queued), 202)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/templates",
        create_template,
        "Make a template with its links",
        {201: TemplateOut},
        body=TemplateIn,
    ),
    Endpoint(
        "PUT",
        "/api/v1/teams/{team_id}/templates/{template_id}",
        change_template,
        "Change a template's name and links; the members it is applied to follow",
        {200: TemplateOut},
        body=TemplateIn,
        problems={404: "the team has no such template"},
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/templates",
        list_templates,
        "The team's templates",
        {200: TemplatesOut},
    ),
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/subteams",
        list_subteams,
        "The team's subteams with their member counts (removed members left out)",
        {200: SubteamsOut},
    ),
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/invites/send",
        send_invites,
        "Send every pending invite",
        {202: InvitesQueued},
    ),
)
